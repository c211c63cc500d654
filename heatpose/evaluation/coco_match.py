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
        ious: (B, D, G) OKS; rows = results best-first (rows >= ``n_dt[b]`` are padding and
            must hold -inf), columns = ground truths with the non-ignored ones first.
        n_dt: (B,) number of real results per image.
        gt_ig: (B, G) bool ignore flags in column order; crowd: (B, G) bool.

    Returns:
        ``matched`` (B, T, D) bool and ``to_ignored`` (B, T, D) bool (matched to an ignored
        ground truth).
    """
    B, D, G = ious.shape
    T = len(IOU_THRS)
    thr = np.minimum(IOU_THRS, 1 - 1e-10)
    if G == 1:          # one ground truth: the best-scored result above the threshold takes it
        ok = ious[:, :, 0].T[:, :, None] >= thr[None, None, :]                 # (D, B, T)
        before = np.zeros_like(ok)                                          # an earlier hit
        for r in range(1, D):
            np.logical_or(before[r - 1], ok[r - 1], out=before[r])
        matched = (ok & (~before | crowd[None, :, :])).transpose(1, 2, 0)     # (B, T, D)
        return matched, matched & gt_ig[:, None, :]
    matched = np.zeros((B, T, D), dtype=bool)
    to_ig = np.zeros((B, T, D), dtype=bool)
    # images with more results first: step r only looks at the images that have an r-th result.
    # Layout (G, T, B): the reductions over ground truths run across contiguous planes.
    order = np.argsort(-np.asarray(n_dt), kind="stable")
    ious = np.ascontiguousarray(ious[order].transpose(2, 1, 0))             # (G, D, B)
    gt_ig, crowd = gt_ig[order].T, crowd[order].T                            # (G, B)
    active = np.searchsorted(-np.asarray(n_dt)[order], -np.arange(D), side="left")
    avail = np.ones((G, T, B), dtype=bool)            # free, or crowd (never used up)
    nonig = ~gt_ig[:, None, :]
    thr3 = thr[None, :, None]
    for r in range(D):
        nb = int(active[r])
        if nb == 0:
            break
        row = ious[:, r, None, :nb]                                          # (G, 1, nb)
        cand = (row >= thr3) & avail[:, :, :nb]                              # (G, T, nb)
        # a non-ignored ground truth wins over every ignored one
        cand_n = cand & nonig[:, :, :nb]
        cand = np.where(cand_n.any(0), cand_n, cand)
        vals = np.where(cand, row, -np.inf)
        top = vals.max(0)
        best = np.zeros(top.shape, dtype=np.intp)                            # last one on ties
        for g in range(G):
            best[(vals[g] == top) & cand[g]] = g
        ti, bi = np.nonzero(cand.any(0))
        gi = best[ti, bi]
        matched[order[bi], ti, r] = True
        to_ig[order[bi], ti, r] = gt_ig[gi, bi]
        avail[gi, ti, bi] = crowd[gi, bi]
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
