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

The OKS matrix is vectorised over all pairs; matching is batched over images and thresholds
(:mod:`heatpose.evaluation.coco_match`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_match import IOU_THRS, REC_THRS, accumulate, match_blocks

MAX_DETS = 20
AREA_RANGES = ((0 ** 2, 1e5 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2))   # all, medium, large

COCO_STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
                   "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
CROWD_STAT_NAMES = ("AP", "AP .5", "AP .75", "AR", "AR .5", "AR .75", "AP(E)", "AP(M)", "AP(H)")
# MMPose's metric names -> the short names of the model-zoo tables / ``heatpose eval --json``
SHORT_NAMES = {"AP": "AP", "AP .5": "AP50", "AP .75": "AP75", "AP (M)": "APm", "AP (L)": "APl",
               "AR": "AR", "AR .5": "AR50", "AR .75": "AR75", "AR (M)": "ARm", "AR (L)": "ARl",
               "AP(E)": "AP(E)", "AP(M)": "AP(M)", "AP(H)": "AP(H)"}

GtLike = Union[dict, str, Path]


def load_json(path: Union[str, Path], what: str) -> Any:
    """Read a JSON file; a missing or malformed file raises :class:`InputError` naming it."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{what} {path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {path}: not valid JSON ({exc})") from None


def load_coco_gt(gt: GtLike) -> Tuple[dict, str]:
    """Return ``(dataset_dict, source_name)`` for a COCO dict or a path to a COCO JSON file."""
    if isinstance(gt, (str, Path)):
        data = load_json(gt, "annotation file")
        name = str(gt)
    else:
        data, name = gt, "annotations"
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise InputError(f"{name}: not a COCO annotation file (needs 'images' and 'annotations')")
    return data, name


class _Gt:
    """Ground truth flattened into arrays (order: images sorted by id, file order within)."""

    def __init__(self, data: dict, name: str, num_kpts: int, iou_type: str, use_area: bool):
        self.img_ids = np.unique(np.array([_field(im, "id", name, "image") for im in data["images"]]))
        cats = data.get("categories") or []
        self.cat_ids = sorted({_field(c, "id", name, "category") for c in cats})
        cat_set = set(self.cat_ids)
        per_img: Dict[Any, list] = {}
        for ann in data["annotations"]:
            per_img.setdefault(_field(ann, "image_id", name, "annotation"), []).append(ann)
        rows = []
        for img in self.img_ids.tolist():
            for ann in per_img.get(img, []):
                if ann.get("category_id") in cat_set:
                    rows.append(ann)
        n = len(rows)
        self.kpts = np.zeros((n, num_kpts, 3))
        self.bbox = np.zeros((n, 4))
        self.area = np.zeros(n)
        self.range_area = np.zeros(n)
        self.iscrowd = np.zeros(n, dtype=bool)
        self.ignore = np.zeros(n, dtype=bool)
        self.ids = []
        self.key = []
        for i, ann in enumerate(rows):
            aid = ann.get("id", f"#{i}")
            kp = _array(ann, "keypoints", num_kpts * 3, name, f"annotation id {aid}")
            self.kpts[i] = kp.reshape(num_kpts, 3)
            self.bbox[i] = _array(ann, "bbox", 4, name, f"annotation id {aid}")
            crowd = bool(ann.get("iscrowd", 0))
            self.iscrowd[i] = crowd
            if iou_type == "keypoints_crowd":
                k = _field(ann, "num_keypoints", name, f"annotation id {aid}")
            else:
                k = np.count_nonzero(kp[2::3] > 0)
            self.ignore[i] = crowd or k == 0
            box_area = self.bbox[i, 3] * self.bbox[i, 2] * 0.53
            if use_area:
                if "area" not in ann:
                    raise InputError(f"{name}: annotation id {aid} has no 'area' "
                                     "(evaluate with use_area=False)")
                self.area[i] = float(ann["area"])
                self.range_area[i] = self.area[i]
            else:
                self.area[i] = self.bbox[i, 2] * self.bbox[i, 3] * 0.53
                self.range_area[i] = box_area
            self.ids.append(aid)
            self.key.append((ann["image_id"], ann["category_id"]))
        self.image_info = {im["id"]: im for im in data["images"]}


def _field(rec: dict, key: str, name: str, what: str):
    if not isinstance(rec, dict) or key not in rec:
        raise InputError(f"{name}: {what} {rec.get('id', '?') if isinstance(rec, dict) else rec!r} "
                         f"has no '{key}'")
    return rec[key]


def _array(rec: dict, key: str, length: int, name: str, what: str) -> np.ndarray:
    if key not in rec:
        raise InputError(f"{name}: {what} has no '{key}'")
    try:
        arr = np.asarray(rec[key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {what}: '{key}' is not a list of numbers") from None
    if arr.size != length:
        raise InputError(f"{name}: {what}: '{key}' has {arr.size} values, expected {length}")
    return arr


class _Dt:
    """Results flattened into arrays, in result order (ids 1..N as xtcocotools assigns them)."""

    def __init__(self, results: Sequence[dict], num_kpts: int, img_set: set, name: str):
        if not isinstance(results, (list, tuple)):
            raise InputError(f"{name}: results must be a list of objects")
        n = len(results)
        self.kpts = np.zeros((n, num_kpts, 3))
        self.score = np.zeros(n)
        self.area = np.zeros(n)
        self.key = []
        first = results[0] if n and isinstance(results[0], dict) else {}
        use_box = first.get("bbox") is not None and len(first["bbox"]) > 0   # xtcocotools' rule
        for i, r in enumerate(results):
            what = f"result #{i}"
            if not isinstance(r, dict):
                raise InputError(f"{name}: {what} is not an object")
            img = _field(r, "image_id", name, "result")
            if img not in img_set:
                raise InputError(f"{name}: {what} has image_id {img!r}, which is not an image of "
                                 "the annotation file")
            kp = _array(r, "keypoints", num_kpts * 3, name, what)
            self.kpts[i] = kp.reshape(num_kpts, 3)
            try:
                self.score[i] = float(_field(r, "score", name, what))
            except (TypeError, ValueError):
                raise InputError(f"{name}: {what}: 'score' is not a number") from None
            if use_box:
                box = _array(r, "bbox", 4, name, what)
                self.area[i] = box[2] * box[3]
            else:
                x, y = kp[0::3], kp[1::3]
                self.area[i] = (np.max(x) - np.min(x)) * (np.max(y) - np.min(y))
            self.key.append((img, r.get("category_id", 1)))


def _group(keys: List[tuple]) -> Dict[tuple, np.ndarray]:
    out: Dict[tuple, list] = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return {k: np.array(v, dtype=np.intp) for k, v in out.items()}


def compute_oks_pairs(dt_kpts: np.ndarray, gt_kpts: np.ndarray, gt_bbox: np.ndarray,
                      gt_area: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS for P (result, ground truth) pairs, xtcocotools' formula.

    Args:
        dt_kpts: (P, K, 3) result keypoints (x, y, score), pixels.
        gt_kpts: (P, K, 3) ground-truth keypoints (x, y, v), pixels.
        gt_bbox: (P, 4) ground-truth boxes (x, y, w, h), pixels.
        gt_area: (P,) the area OKS divides by (``area``, or ``0.53·w·h`` without use_area).
        sigmas: (K,) sigmas, used as float32 (MMPose's metainfo dtype).

    Returns:
        (P,) float64 OKS. Ground truths without a labelled keypoint use the distance to
        their box doubled in size (all K keypoints count).
    """
    variances = ((np.asarray(sigmas, dtype=np.float32) * 2) ** 2).astype(np.float64)
    vis = gt_kpts[:, :, 2] > 0
    k1 = vis.sum(axis=1)
    dx = dt_kpts[:, :, 0] - gt_kpts[:, :, 0]
    dy = dt_kpts[:, :, 1] - gt_kpts[:, :, 1]
    none = k1 == 0
    if none.any():
        bb = gt_bbox[none]
        x0, x1 = bb[:, 0] - bb[:, 2], bb[:, 0] + bb[:, 2] * 2
        y0, y1 = bb[:, 1] - bb[:, 3], bb[:, 1] + bb[:, 3] * 2
        xd, yd = dt_kpts[none, :, 0], dt_kpts[none, :, 1]
        dx[none] = np.maximum(0, x0[:, None] - xd) + np.maximum(0, xd - x1[:, None])
        dy[none] = np.maximum(0, y0[:, None] - yd) + np.maximum(0, yd - y1[:, None])
        vis = vis.copy()
        vis[none] = True
    e = (dx ** 2 + dy ** 2) / variances / (gt_area[:, None] + np.spacing(1)) / 2
    out = np.empty(len(e))
    # Sum exactly as numpy sums the selected keypoints of one pair: group pairs by mask.
    packed = np.packbits(vis, axis=1)
    _, inverse = np.unique(packed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g in range(inverse.max() + 1 if len(inverse) else 0):
        rows = np.flatnonzero(inverse == g)
        mask = vis[rows[0]]
        sel = np.ascontiguousarray(e[rows][:, mask])
        out[rows] = np.exp(-sel).sum(axis=1) / sel.shape[1]
    return out


def _evaluate(gt: _Gt, dt: _Dt, img_ids: np.ndarray, sigmas: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray]:
    """Per-image evaluation + accumulation for ``img_ids``; returns precision (T,R,K,A,1) and
    recall (T,K,A,1), with -1 where a setting has no ground truth."""
    T, R, K, A = len(IOU_THRS), len(REC_THRS), len(gt.cat_ids), len(AREA_RANGES)
    precision = -np.ones((T, R, K, A, 1))
    recall = -np.ones((T, K, A, 1))
    rank = {img: i for i, img in enumerate(np.asarray(img_ids).tolist())}
    gt_groups = {k: v for k, v in _group(gt.key).items() if k[0] in rank}
    # results with a positive keypoint score, best 20 per (image, category), stable order
    dt_sel: Dict[tuple, np.ndarray] = {}
    for key, idx in _group(dt.key).items():
        if key[0] in rank:
            idx = idx[np.count_nonzero(dt.kpts[idx, :, 2] > 0, axis=1) > 0]
            dt_sel[key] = idx[np.argsort(-dt.score[idx], kind="mergesort")][:MAX_DETS]
    for k, cat in enumerate(gt.cat_ids):
        keys = sorted((key for key in set(gt_groups) | set(dt_sel) if key[1] == cat),
                      key=lambda key: rank[key[0]])
        empty = np.zeros(0, dtype=np.intp)
        d_order = np.concatenate([dt_sel.get(key, empty) for key in keys] + [empty])
        g_all = np.concatenate([gt_groups.get(key, empty) for key in keys] + [empty])
        # blocks = images with results and ground truths, bucketed by ground-truth count
        buckets: Dict[int, list] = {}
        start = 0
        for key in keys:
            didx, gidx = dt_sel.get(key, empty), gt_groups.get(key, empty)
            if len(didx) and len(gidx):
                buckets.setdefault(len(gidx), []).append((start, didx, gidx))
            start += len(didx)
        oks = {}
        for g_count, blocks in buckets.items():
            pd = np.concatenate([np.repeat(d, g_count) for _, d, _ in blocks])
            pg = np.concatenate([np.tile(g, len(d)) for _, d, g in blocks])
            flat = compute_oks_pairs(dt.kpts[pd], gt.kpts[pg], gt.bbox[pg], gt.area[pg], sigmas)
            d_max = max(len(d) for _, d, _ in blocks)
            ious = np.full((len(blocks), d_max, g_count), -np.inf)
            pos = 0
            for b, (_, d, _) in enumerate(blocks):
                ious[b, :len(d)] = flat[pos:pos + len(d) * g_count].reshape(len(d), g_count)
                pos += len(d) * g_count
            oks[g_count] = ious
        for a, (lo, hi) in enumerate(AREA_RANGES):
            g_ig_all = gt.ignore[g_all] | (gt.range_area[g_all] < lo) | (gt.range_area[g_all] > hi)
            npig = int(np.count_nonzero(~g_ig_all))
            if npig == 0:
                continue
            n = len(d_order)
            matched = np.zeros((T, n), dtype=bool)
            to_ig = np.zeros((T, n), dtype=bool)
            for g_count, blocks in buckets.items():
                gidx = np.stack([g for _, _, g in blocks])
                g_ig = (gt.ignore[gidx] | (gt.range_area[gidx] < lo) | (gt.range_area[gidx] > hi))
                order = np.argsort(g_ig, axis=1, kind="stable")
                n_dt = np.array([len(d) for _, d, _ in blocks])
                mt, ti = match_blocks(np.take_along_axis(oks[g_count], order[:, None, :], 2),
                                      n_dt, np.take_along_axis(g_ig, order, 1),
                                      np.take_along_axis(gt.iscrowd[gidx], order, 1))
                cols = np.concatenate([s + np.arange(len(d)) for s, d, _ in blocks])
                sel = np.arange(mt.shape[2])[None, :] < n_dt[:, None]          # (B, D)
                matched[:, cols] = mt.transpose(1, 0, 2)[:, sel]
                to_ig[:, cols] = ti.transpose(1, 0, 2)[:, sel]
            d_area = dt.area[d_order]
            ignored = to_ig | (~matched & ((d_area < lo) | (d_area > hi))[None, :])
            p, r = accumulate(dt.score[d_order], matched, ignored, npig)
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
        iou_type: ``'keypoints'`` (10 stats) or ``'keypoints_crowd'`` (CrowdPose, 9 stats).

    Returns:
        Ordered dict of MMPose's stat names (``AP``, ``AP .5``, ..., see :data:`SHORT_NAMES`)
        to floats; -1 where a stat has no ground truth.
    """
    if iou_type not in ("keypoints", "keypoints_crowd"):
        raise ValueError(f"iou_type must be 'keypoints' or 'keypoints_crowd', got {iou_type!r}")
    data, name = load_coco_gt(gt)
    sig = np.asarray(sigmas, dtype=np.float32).reshape(-1)
    if sig.size == 0:
        raise InputError("evaluate_coco: sigmas are empty (the dataset defines no OKS sigmas)")
    g = _Gt(data, name, sig.size, iou_type, use_area)
    d = _Dt(results, sig.size, set(g.img_ids.tolist()), "results")
    prec, rec = _evaluate(g, d, g.img_ids, sig)
    if iou_type == "keypoints":
        vals = [_summ(prec, rec, True), _summ(prec, rec, True, .5), _summ(prec, rec, True, .75),
                _summ(prec, rec, True, area=1), _summ(prec, rec, True, area=2),
                _summ(prec, rec, False), _summ(prec, rec, False, .5),
                _summ(prec, rec, False, .75), _summ(prec, rec, False, area=1),
                _summ(prec, rec, False, area=2)]
        return dict(zip(COCO_STAT_NAMES, vals))
    vals = [_summ(prec, rec, True), _summ(prec, rec, True, .5), _summ(prec, rec, True, .75),
            _summ(prec, rec, False), _summ(prec, rec, False, .5), _summ(prec, rec, False, .75)]
    vals += crowd_type_ap(g, d, sig)
    return dict(zip(CROWD_STAT_NAMES, vals))


def crowd_type_ap(gt: _Gt, dt: _Dt, sigmas: np.ndarray, first: float = 0.2,
                  second: float = 0.8) -> List[float]:
    """AP on the easy / medium / hard images (``crowdIndex`` < first / < second / rest)."""
    groups: List[list] = [[], [], []]
    for im in gt.image_info.values():
        if "crowdIndex" not in im:
            raise InputError(f"annotations: image id {im.get('id')} has no 'crowdIndex' "
                             "(needed for CrowdPose AP(E)/AP(M)/AP(H))")
        ci = im["crowdIndex"]
        groups[0 if ci < first else 1 if ci < second else 2].append(im["id"])
    out = []
    for ids in groups:
        prec, _ = _evaluate(gt, dt, np.unique(np.array(ids)), sigmas)
        out.append(float(np.round(np.mean(prec[:, :, :, 0, :]), 4)))
    return out


def short_names(stats: Dict[str, float]) -> Dict[str, float]:
    """Rename MMPose's stat names to the model-zoo short names (AP50, APm, ...)."""
    return {SHORT_NAMES.get(k, k): v for k, v in stats.items()}
