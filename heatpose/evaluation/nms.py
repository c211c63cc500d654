"""OKS-based non-maximum suppression of pose instances (hard and soft), as MMPose 1.3.2's
``CocoMetric`` applies it per image before the COCO evaluation.

The arithmetic follows MMPose's dtype flow so that near-threshold decisions agree bit for bit:
keypoints, areas and sigmas are float32, the similarity is computed in float64 and stored as
float32, and it is compared with the threshold in float32.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.finite import nonfinite_rows


def oks_iou(ref: np.ndarray, others: np.ndarray, ref_area: float, other_areas: np.ndarray,
            sigmas: np.ndarray, vis_thr: Optional[float] = None) -> np.ndarray:
    """OKS between one pose and several others (the NMS flavour: mean of the two areas).

    Args:
        ref: (K, 3) float32 keypoints of the reference pose, (x, y, score) in image pixels.
        others: (N, K, 3) float32 keypoints of the other poses.
        ref_area: area of the reference pose in pixels² (float32 scalar).
        other_areas: (N,) float32 areas in pixels².
        sigmas: (K,) float32 OKS sigmas.
        vis_thr: if given, only keypoints whose score is above it in both poses count.

    Returns:
        (N,) float32 similarities in [0, 1] (0 where no keypoint counts).
    """
    n = len(others)
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    variances = (sigmas * 2) ** 2                                     # float32
    dx = others[:, :, 0] - ref[None, :, 0]
    dy = others[:, :, 1] - ref[None, :, 1]
    # MMPose: float32 mean of the two areas, plus a float64 epsilon -> float64 denominator
    denom = (ref_area + other_areas) / 2 + np.spacing(1)              # (N,) float64
    e = (dx ** 2 + dy ** 2) / variances / denom[:, None] / 2          # (N, K) float64
    if vis_thr is None:
        out[:] = np.exp(-e).sum(axis=1) / e.shape[1]
        return out
    valid = (ref[None, :, 2] > vis_thr) & (others[:, :, 2] > vis_thr)
    for i in range(n):           # a variable number of keypoints per pair: keep numpy's sum order
        ei = e[i][valid[i]]
        out[i] = np.sum(np.exp(-ei)) / len(ei) if len(ei) else 0.0
    return out


def _as_inputs(keypoints, scores, areas, sigmas):
    kpts = np.asarray(keypoints, dtype=np.float32)
    if kpts.ndim != 3 or kpts.shape[2] != 3:
        raise ValueError(f"keypoints must have shape (N, K, 3), got {kpts.shape}")
    out = (kpts, np.asarray(scores), np.asarray(areas, dtype=np.float32),
           np.asarray(sigmas, dtype=np.float32))
    if len(out[1]) != len(kpts) or len(out[2]) != len(kpts):
        raise ValueError(f"{len(kpts)} poses but {len(out[1])} scores and {len(out[2])} areas")
    for name, arr in zip(("keypoints", "scores", "areas", "sigmas"), out):
        bad = nonfinite_rows(arr)
        if bad.any():
            where = "keypoint" if name == "sigmas" else "pose"
            raise InputError(f"OKS-NMS: {name} of {where} #{int(np.argmax(bad))} hold NaN or "
                             "infinity")
    return out


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float,
            sigmas: np.ndarray, vis_thr: Optional[float] = None) -> np.ndarray:
    """Greedy OKS NMS: keep the best pose, drop every other pose with OKS > ``thr`` to it, repeat.

    Args:
        keypoints: (N, K, 3) poses (x, y, score) in image pixels.
        scores: (N,) instance scores (float32 in MMPose; ties follow numpy's argsort).
        areas: (N,) instance areas in pixels².
        thr: OKS threshold; poses with OKS <= thr to every kept pose survive.
        sigmas: (K,) OKS sigmas.
        vis_thr: see :func:`oks_iou`.

    Returns:
        (M,) int indices of the kept poses, best score first.
    """
    kpts, scores, areas, sigmas = _as_inputs(keypoints, scores, areas, sigmas)
    if len(kpts) == 0:
        return np.zeros(0, dtype=np.intp)
    order = scores.argsort()[::-1]
    keep = []
    thr = float(thr)
    while len(order) > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ovr = oks_iou(kpts[i], kpts[rest], areas[i], areas[rest], sigmas, vis_thr)
        order = rest[ovr <= thr]
    return np.array(keep, dtype=np.intp)


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float,
                 sigmas: np.ndarray, max_dets: int = 20,
                 vis_thr: Optional[float] = None) -> np.ndarray:
    """Soft OKS NMS (Gaussian rescoring ``s * exp(-oks² / thr)``), at most ``max_dets`` kept.

    Same arguments as :func:`oks_nms`. Returns the kept indices in the order they were picked.
    The rescored values only decide the order; callers keep the original instance scores
    (as MMPose does).
    """
    kpts, scores, areas, sigmas = _as_inputs(keypoints, scores, areas, sigmas)
    if len(kpts) == 0:
        return np.zeros(0, dtype=np.intp)
    order = scores.argsort()[::-1]
    cur = scores[order]
    keep = []
    thr = float(thr)
    while len(order) > 0 and len(keep) < max_dets:
        i = order[0]
        ovr = oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas, vis_thr)
        order = order[1:]
        cur = cur[1:] * np.exp(-ovr ** 2 / thr)
        resort = cur.argsort()[::-1]
        order, cur = order[resort], cur[resort]
        keep.append(i)
    return np.array(keep, dtype=np.intp)
