"""Greedy OKS matching and precision/recall accumulation of the COCO evaluation, batched:
all images with the same number of ground truths are matched at once, for all thresholds.

xtcocotools' rule, per image and threshold t, results in descending score order: a result takes
the still-free ground truth (crowd ones are never used up) with the highest OKS >= t (the last
one on ties), looking at non-ignored ground truths first and at ignored ones only if no
non-ignored one qualifies.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def match_blocks(ious: np.ndarray, n_dt: np.ndarray, gt_ig: np.ndarray, crowd: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Match B images that have G ground truths each.

    Args:
        ious: (B, D, G) OKS; rows = results best-first (rows >= ``n_dt[b]`` are padding),
            columns = ground truths with the non-ignored ones first (stable order).
        n_dt: (B,) number of real results per image.
        gt_ig: (B, G) bool ignore flags in column order; crowd: (B, G) bool.

    Returns:
        ``matched`` (B, T, D) bool and ``to_ignored`` (B, T, D) bool (matched to an ignored
        ground truth).
    """
    B, D, G = ious.shape
    T = len(IOU_THRS)
    thr = np.minimum(IOU_THRS, 1 - 1e-10)[None, :, None]
    taken = np.zeros((B, T, G), dtype=bool)
    matched = np.zeros((B, T, D), dtype=bool)
    to_ig = np.zeros((B, T, D), dtype=bool)
    free_crowd = crowd[:, None, :]
    parts = (~gt_ig[:, None, :], gt_ig[:, None, :])
    for r in range(D):
        row = ious[:, r, None, :]                                           # (B, 1, G)
        ok = (~taken | free_crowd) & (row >= thr) & (r < n_dt)[:, None, None]
        m = np.full((B, T), -1)
        for part in parts:
            cand = ok & part & (m < 0)[..., None]
            has = cand.any(-1)
            if not has.any():
                continue
            vals = np.where(cand, row, -np.inf)
            best = vals.max(-1, keepdims=True)
            last = G - 1 - np.argmax(((vals == best) & cand)[..., ::-1], axis=-1)
            m = np.where(has, last, m)
        hit = m >= 0
        if not hit.any():
            continue
        bi, ti = np.nonzero(hit)
        gi = m[bi, ti]
        matched[bi, ti, r] = True
        to_ig[bi, ti, r] = gt_ig[bi, gi]
        taken[bi, ti, gi] = True
    return matched, to_ig


def accumulate(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, npig: int
               ) -> Tuple[np.ndarray, np.ndarray]:
    """101-point interpolated precision (T, R) and final recall (T,) of one category and area.

    Args:
        scores: (N,) result scores, concatenated image by image (sorted ids), best-first within.
        matched, ignored: (T, N) bool flags of those results.
        npig: number of non-ignored ground truths (> 0).
    """
    T, R = len(IOU_THRS), len(REC_THRS)
    inds = np.argsort(-scores, kind="mergesort")
    mt, ig = matched[:, inds], ignored[:, inds]
    tp = np.cumsum(mt & ~ig, axis=1).astype(np.float64)
    fp = np.cumsum(~mt & ~ig, axis=1).astype(np.float64)
    nd = tp.shape[1]
    precision = np.zeros((T, R))
    recall = np.zeros(T)
    for t in range(T):
        rc = tp[t] / npig
        pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
        if nd:
            recall[t] = rc[-1]
            pr = np.maximum.accumulate(pr[::-1])[::-1]
        ri = np.searchsorted(rc, REC_THRS, side="left")
        ok = ri < nd
        precision[t, ok] = pr[ri[ok]]
    return precision, recall
