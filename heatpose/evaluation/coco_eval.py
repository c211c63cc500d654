"""COCO keypoint evaluation (OKS AP/AR), numerically identical to xtcocotools 1.14.3's ``COCOeval``
as MMPose 1.3.2 runs it (``iou_type`` ``'keypoints'`` or ``'keypoints_crowd'``, ``use_area``,
dataset sigmas as float32), without depending on xtcocotools.

Semantics kept from xtcocotools: ground truths that are crowd or have no labelled keypoint
(CrowdPose: ``num_keypoints == 0``) are ignored; results whose keypoint scores are all <= 0 are
dropped; the 20 best-scored results per image count; greedy matching per OKS threshold
(0.50:0.05:0.95) prefers the highest OKS, the last one on ties; 101-point interpolated precision;
a result's area (for the medium/large ranges) is its ``bbox`` w·h if the *first* result carries
a box, else the extent of its keypoints. CrowdPose adds AP(E)/AP(M)/AP(H) from the images'
``crowdIndex`` (<0.2 / <0.8 / rest), rounded to 4 decimals (mean over all thresholds, recall
points and categories, -1 entries included, as the original does).

Everything is vectorised over the whole set: the inputs are checked and flattened at once
(:mod:`heatpose.evaluation.coco_inputs`), OKS is computed for all (result, ground truth) pairs of
all images in one pass, matching runs for all images with the same ground-truth count, all
thresholds and all area ranges together (:mod:`heatpose.evaluation.coco_match`), and
precision/recall come from sorted cumulative sums.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_inputs import (DtArrays, GtArrays, GtLike, load_coco_gt,
                                             load_json, numbers)
from heatpose.evaluation.coco_match import IOU_THRS, REC_THRS, accumulate, match_blocks

__all__ = ["evaluate_coco", "short_names", "compute_oks_pairs", "load_json", "load_coco_gt",
           "GtLike", "SHORT_NAMES", "COCO_STAT_NAMES", "CROWD_STAT_NAMES"]

MAX_DETS = 20
AREA_RANGES = ((0 ** 2, 1e5 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2))   # all, medium, large

# The names evaluate_coco reports (the ones of `heatpose eval --json`, `heatpose test`, training
# logs and the model-zoo tables), in MMPose's order.
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
CROWD_STAT_NAMES = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP(E)", "AP(M)", "AP(H)")
# MMPose's CocoMetric names (``coco/AP .5`` ...) -> ours
SHORT_NAMES = {"AP": "AP", "AP .5": "AP50", "AP .75": "AP75", "AP (M)": "APm", "AP (L)": "APl",
               "AR": "AR", "AR .5": "AR50", "AR .75": "AR75", "AR (M)": "ARm", "AR (L)": "ARl",
               "AP(E)": "AP(E)", "AP(M)": "AP(M)", "AP(H)": "AP(H)"}


def compute_oks_pairs(dt_kpts: np.ndarray, gt_kpts: np.ndarray, gt_bbox: np.ndarray,
                      gt_area: np.ndarray, sigmas: np.ndarray,
                      pairs: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """OKS for P (result, ground truth) pairs, xtcocotools' formula.

    Args:
        dt_kpts: (P, K, 3) result keypoints (x, y, score), pixels.
        gt_kpts: (P, K, 3) ground-truth keypoints (x, y, v), pixels.
        gt_bbox: (P, 4) ground-truth boxes (x, y, w, h), pixels.
        gt_area: (P,) the area OKS divides by (``area``, or ``0.53·w·h`` without use_area).
        sigmas: (K,) sigmas, used as float32 (MMPose's metainfo dtype).
        pairs: (result rows, ground-truth rows), each (P,), when the arrays above hold all
            results / ground truths instead of one row per pair (saves copying them).

    Returns:
        (P,) float64 OKS. Ground truths without a labelled keypoint use the distance to
        their box doubled in size (all K keypoints count).
    """
    variances = ((np.asarray(sigmas, dtype=np.float32) * 2) ** 2).astype(np.float64)
    di, gi = pairs if pairs is not None else (slice(None), slice(None))
    gt_bbox, gt_area = gt_bbox[gi], gt_area[gi]
    vis = gt_kpts[gi, :, 2] > 0
    k1 = vis.sum(axis=1)
    dx = dt_kpts[di, :, 0] - gt_kpts[gi, :, 0]
    dy = dt_kpts[di, :, 1] - gt_kpts[gi, :, 1]
    none = k1 == 0
    if none.any():
        rows = np.flatnonzero(none)
        d_rows = rows if pairs is None else pairs[0][rows]
        bb = gt_bbox[rows]
        x0, x1 = bb[:, 0] - bb[:, 2], bb[:, 0] + bb[:, 2] * 2
        y0, y1 = bb[:, 1] - bb[:, 3], bb[:, 1] + bb[:, 3] * 2
        xd, yd = dt_kpts[d_rows, :, 0], dt_kpts[d_rows, :, 1]
        dx[none] = np.maximum(0, x0[:, None] - xd) + np.maximum(0, xd - x1[:, None])
        dy[none] = np.maximum(0, y0[:, None] - yd) + np.maximum(0, yd - y1[:, None])
        vis = vis.copy()
        vis[none] = True
    # e = (dx ** 2 + dy ** 2) / variances / (gt_area + eps) / 2, in place, same operations
    e = np.square(dx, out=dx)
    e += np.square(dy, out=dy)
    e /= variances
    e /= (gt_area + np.spacing(1))[:, None]
    e /= 2
    out = np.empty(len(e))
    # xtcocotools sums exp(-e) over the m selected keypoints of one pair as a contiguous 1-D
    # array; summing the rows of an (n, m) array gives the same bits, so group pairs by m.
    counts = vis.sum(axis=1)
    for m in np.unique(counts):
        rows = np.flatnonzero(counts == m)
        sel = e[rows][vis[rows]].reshape(len(rows), int(m))
        out[rows] = np.exp(-sel).sum(axis=1) / int(m)
    return out


def _select_results(dt: DtArrays, n_img: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Results evaluated, in xtcocotools' order: per (category, image) the 20 best-scored of those
    with a positive keypoint score (ties: result order). Returns result rows, their
    (category, image) code and their position within it."""
    ok = (dt.cat >= 0) & (np.count_nonzero(dt.kpts[:, :, 2] > 0, axis=1) > 0)
    idx = np.flatnonzero(ok)
    rows = idx[np.lexsort((idx, -dt.score[idx], dt.rank[idx], dt.cat[idx]))]
    code = dt.cat[rows] * n_img + dt.rank[rows]
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else idx[:0]
    pos = np.arange(len(code)) - np.repeat(first, np.diff(np.r_[first, len(code)]))
    keep = pos < MAX_DETS
    return rows[keep], code[keep], pos[keep]


def _match(gt: GtArrays, dt: DtArrays, sigmas: np.ndarray
           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy matching of every image at every threshold and area range at once.

    Returns the evaluated result rows (N,) (see :func:`_select_results`), ``matched`` and
    ``to_ignored`` (A, T, N) bool."""
    n_img = max(len(gt.img_ids), 1)
    rows, code, pos = _select_results(dt, n_img)
    A, T, n = len(AREA_RANGES), len(IOU_THRS), len(rows)
    matched = np.zeros((A, T, n), dtype=bool)
    to_ig = np.zeros((A, T, n), dtype=bool)
    gcode = gt.cat * n_img + gt.rank                     # ascending: rows sorted that way
    g0 = np.searchsorted(gcode, code, "left")
    ng = np.searchsorted(gcode, code, "right") - g0      # ground truths of each result's image
    # all (result, ground truth) pairs of an image, result-major
    pd = np.repeat(np.arange(n), ng)
    pj = np.arange(len(pd)) - np.repeat(np.cumsum(ng) - ng, ng)
    pg = g0[pd] + pj
    flat = compute_oks_pairs(dt.kpts, gt.kpts, gt.bbox, gt.area, sigmas, (rows[pd], pg))
    # images = groups of consecutive results; bucket them by their ground-truth count G
    grp_first = np.flatnonzero(pos == 0)
    gid = np.cumsum(pos == 0) - 1
    grp_nd = np.diff(np.r_[grp_first, n])
    grp_ng, grp_g0 = ng[grp_first], g0[grp_first]
    lo = np.array([r[0] for r in AREA_RANGES])[:, None]
    hi = np.array([r[1] for r in AREA_RANGES])[:, None]
    gt_ig = gt.ignore[None, :] | (gt.range_area[None, :] < lo) | (gt.range_area[None, :] > hi)
    pair_ng = grp_ng[gid[pd]]
    for G in np.unique(grp_ng[grp_ng > 0]).tolist():
        groups = np.flatnonzero(grp_ng == G)
        B, nd = len(groups), grp_nd[groups]
        D = int(nd.max())
        bpos = np.zeros(len(grp_first), dtype=np.intp)
        bpos[groups] = np.arange(B)
        ps = np.flatnonzero(pair_ng == G)
        ious = np.full((B, D, G), -np.inf)
        ious[bpos[gid[pd[ps]]], pos[pd[ps]], pj[ps]] = flat[ps]
        gidx = grp_g0[groups][:, None] + np.arange(G)                        # (B, G)
        g_ig = gt_ig[:, gidx]                                                # (A, B, G)
        # columns: non-ignored ground truths first (stable); sort only the rows that need it
        order = np.broadcast_to(np.arange(G), g_ig.shape).copy()
        unsorted = (g_ig[..., :-1] & ~g_ig[..., 1:]).any(-1)     # an ignored one before one not
        order[unsorted] = np.argsort(g_ig[unsorted], axis=-1, kind="stable")
        ious_a = np.take_along_axis(ious[None], order[:, :, None, :], 3)      # (A, B, D, G)
        crowd = np.take_along_axis(np.broadcast_to(gt.iscrowd[gidx], g_ig.shape), order, 2)
        mt, ti = match_blocks(ious_a.reshape(A * B, D, G), np.tile(nd, A),
                              np.take_along_axis(g_ig, order, 2).reshape(A * B, G),
                              crowd.reshape(A * B, G))
        bb, dd = np.nonzero(np.arange(D)[None, :] < nd[:, None])
        cols = grp_first[groups][bb] + dd
        matched[:, :, cols] = mt.reshape(A, B, T, D).transpose(0, 2, 1, 3)[:, :, bb, dd]
        to_ig[:, :, cols] = ti.reshape(A, B, T, D).transpose(0, 2, 1, 3)[:, :, bb, dd]
    return rows, matched, to_ig


def _accumulate(gt: GtArrays, dt: DtArrays, rows: np.ndarray, matched: np.ndarray,
                to_ig: np.ndarray, images: Optional[np.ndarray] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Precision (T, R, K, A, 1) and recall (T, K, A, 1) over the images whose rank ``images``
    (bool mask) selects (all by default), -1 where a setting has no ground truth."""
    T, R, K, A = len(IOU_THRS), len(REC_THRS), len(gt.cat_ids), len(AREA_RANGES)
    precision = -np.ones((T, R, K, A, 1))
    recall = -np.ones((T, K, A, 1))
    g_in = np.ones(len(gt.cat), bool) if images is None else images[gt.rank]
    d_in = np.ones(len(rows), bool) if images is None else images[dt.rank[rows]]
    d_cat, d_area, d_score = dt.cat[rows], dt.area[rows], dt.score[rows]
    for k in range(K):
        gk = np.flatnonzero((gt.cat == k) & g_in)
        dk = np.flatnonzero((d_cat == k) & d_in)
        for a, (lo, hi) in enumerate(AREA_RANGES):
            g_ig = gt.ignore[gk] | (gt.range_area[gk] < lo) | (gt.range_area[gk] > hi)
            npig = int(np.count_nonzero(~g_ig))
            if npig == 0:
                continue
            mt = matched[a][:, dk]
            out = (d_area[dk] < lo) | (d_area[dk] > hi)
            p, r = accumulate(d_score[dk], mt, to_ig[a][:, dk] | (~mt & out[None, :]), npig)
            precision[:, :, k, a, 0] = p
            recall[:, k, a, 0] = r
    return precision, recall


def _summ(precision: np.ndarray, recall: np.ndarray, ap: bool, thr: Optional[float] = None,
          area: int = 0) -> float:
    s = precision if ap else recall
    if thr is not None:
        s = s[np.where(thr == IOU_THRS)[0]]
    s = s[:, :, :, [area], [0]] if ap else s[:, :, [area], [0]]
    return float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0


def evaluate_coco(gt: GtLike, results: Sequence[dict], sigmas: Sequence[float],
                  use_area: bool = True, iou_type: str = "keypoints") -> Dict[str, float]:
    """COCO keypoint AP/AR of ``results`` against ``gt``, as MMPose 1.3.2's CocoMetric reports it.

    Args:
        gt: COCO annotation dict or path (``images``, ``annotations``, ``categories``; for
            CrowdPose also ``images[*].crowdIndex`` and ``annotations[*].num_keypoints``).
        results: COCO keypoint results: ``image_id``, ``category_id``, ``keypoints``
            ([x, y, score] × K, image pixels), ``score``, optional ``bbox`` (x, y, w, h).
        sigmas: K OKS sigmas (cast to float32 as MMPose's dataset metainfo stores them).
        use_area: divide OKS by the annotation ``area`` (else by 0.53·w·h of its box).
        iou_type: ``keypoints`` (10 stats), ``keypoints_crowd`` (CrowdPose, 9 stats) or
            ``keypoints_wholebody`` (per-part and whole-body stats,
            :mod:`heatpose.evaluation.wholebody`).

    Returns:
        Ordered dict of the stat names (:data:`COCO_STAT_NAMES`: ``AP``, ``AP50``, ...,
        ``ARl``; CrowdPose :data:`CROWD_STAT_NAMES`) to floats; -1 where a stat has no ground
        truth. :data:`SHORT_NAMES` maps MMPose's names (``AP .5``) to these.

    Raises:
        InputError: a malformed record, naming the file and the record (see
            :mod:`heatpose.evaluation.coco_inputs` for the rule).
    """
    if iou_type == "keypoints_wholebody":        # per part and whole body, as xtcocotools
        from heatpose.evaluation.wholebody import evaluate_wholebody

        return evaluate_wholebody(gt, results, sigmas, use_area)
    if iou_type not in ("keypoints", "keypoints_crowd"):
        raise ValueError("iou_type must be 'keypoints', 'keypoints_crowd' or "
                         f"'keypoints_wholebody', got {iou_type!r}")
    data, name = load_coco_gt(gt)
    sig = np.asarray(sigmas, dtype=np.float32).reshape(-1)
    if sig.size == 0:
        raise InputError("evaluate_coco: sigmas are empty (the dataset defines no OKS sigmas)")
    g = GtArrays(data, name, sig.size, iou_type, use_area)
    d = DtArrays(results, g, sig.size, "results")
    rows, matched, to_ig = _match(g, d, sig)
    prec, rec = _accumulate(g, d, rows, matched, to_ig)
    if iou_type == "keypoints":
        vals = [_summ(prec, rec, True), _summ(prec, rec, True, .5), _summ(prec, rec, True, .75),
                _summ(prec, rec, True, area=1), _summ(prec, rec, True, area=2),
                _summ(prec, rec, False), _summ(prec, rec, False, .5),
                _summ(prec, rec, False, .75), _summ(prec, rec, False, area=1),
                _summ(prec, rec, False, area=2)]
        return dict(zip(COCO_STAT_NAMES, vals))
    vals = [_summ(prec, rec, True), _summ(prec, rec, True, .5), _summ(prec, rec, True, .75),
            _summ(prec, rec, False), _summ(prec, rec, False, .5), _summ(prec, rec, False, .75)]
    crowd = numbers(
        [im.get("crowdIndex") if isinstance(im, dict) else None for im in g.images], 0, g.name,
        lambda i: f"image id {g.img_ids[i]!r} (needed for CrowdPose AP(E)/AP(M)/AP(H))",
        "crowdIndex")
    for part in (crowd < 0.2, (crowd >= 0.2) & (crowd < 0.8), crowd >= 0.8):
        p, _ = _accumulate(g, d, rows, matched, to_ig, part)
        vals.append(float(np.round(np.mean(p[:, :, :, 0, :]), 4)))
    return dict(zip(CROWD_STAT_NAMES, vals))


def short_names(stats: Dict[str, float]) -> Dict[str, float]:
    """Rename MMPose's stat names (``AP .5``, ``AP (M)``) to ours (``AP50``, ``APm``); names
    that are already ours stay."""
    return {SHORT_NAMES.get(k, k): v for k, v in stats.items()}
