"""PCK family of single-instance metrics, numerically as MMPose 1.3.2 computes them:
PCK (box-normalised), AUC, EPE, JHMDB PCK/tPCK with joint groups, MPII PCKh with joint groups
and Mean@0.1, and MPII-TRB skeleton/contour/mean accuracy (MMPose 0.x, which 1.3.2 dropped).

Shapes: ``pred``/``gt`` (N, K, 2) image pixels (x, y); ``mask`` (N, K) bool (labelled joints);
normalisers (N, 2). Distances are normalised per axis, then the Euclidean norm is taken.
Inputs are used with MMPose's dtypes (float32 keypoints and boxes) so results agree bitwise.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.finite import nonfinite_rows

MPII_GROUPS = {"Head": (9,), "Shoulder": (13, 12), "Elbow": (14, 11), "Wrist": (15, 10),
               "Hip": (3, 2), "Knee": (4, 1), "Ankle": (5, 0)}
MPII_EXCLUDED = (6, 7)                     # pelvis, thorax: not in the MPII PCKh mean
JHMDB_GROUPS = {"Head": (2,), "Sho": (3, 4), "Elb": (7, 8), "Wri": (11, 12), "Hip": (5, 6),
                "Knee": (9, 10), "Ank": (13, 14)}
TRB_SKELETON = 14                          # MPII-TRB: joints 0..13 skeleton, the rest contour


def check_finite(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                 norm: Optional[np.ndarray] = None) -> None:
    """InputError naming the first sample whose prediction, labelled ground truth or normaliser
    holds NaN or infinity (they would silently count as misses)."""
    n = len(pred)
    mask = np.asarray(mask, dtype=bool).reshape(n, -1)
    k = mask.shape[1]
    checks = [("prediction", nonfinite_rows(pred, n)),
              ("labelled ground truth",
               (nonfinite_rows(gt, n * k).reshape(n, k) & mask).any(axis=1))]
    if norm is not None:
        checks.append(("normaliser", nonfinite_rows(norm, n)))
    for what, bad in checks:
        if bad.any():
            raise InputError(f"sample #{int(np.argmax(bad))}: {what} holds NaN or infinity "
                             f"({int(bad.sum())} of {n} samples)")


def normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                         norm: np.ndarray) -> np.ndarray:
    """(N, K) float32 distances ``|(pred - gt) / norm|``; -1 where the joint is not labelled or
    the sample's normaliser has a zero (non-positive normalisers count as 1e6). NaN or infinity
    in a prediction, a labelled ground truth or a normaliser raises InputError."""
    check_finite(pred, gt, mask, norm)
    mask = np.array(mask, dtype=bool)
    norm = np.array(norm)
    mask[np.where((norm == 0).sum(1))[0], :] = False
    norm[np.where(norm <= 0)] = 1e6
    out = np.full(mask.shape, -1, dtype=np.float32)
    out[mask] = np.linalg.norm(((pred - gt) / norm[:, None, :])[mask], axis=-1)
    return out


def _acc(d: np.ndarray, thr: float) -> float:
    valid = d != -1
    n = valid.sum()
    return (d[valid] < thr).sum() / n if n > 0 else -1


def pck_accuracy(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, thr: float,
                 norm: np.ndarray) -> Tuple[np.ndarray, float, int]:
    """Per-joint PCK (K,) (-1 for joints never labelled), mean over valid joints, their count."""
    dist = normalized_distances(pred, gt, mask, norm)
    acc = np.array([_acc(d, thr) for d in dist.T])
    valid = acc[acc >= 0]
    return acc, (valid.mean() if len(valid) else 0.0), len(valid)


def auc(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: float = 30,
        num_thrs: int = 20) -> float:
    """Area under the PCK curve for thresholds i/num_thrs, distances divided by norm_factor px."""
    nor = np.tile(np.array([[norm_factor, norm_factor]]), (pred.shape[0], 1))
    accs = [pck_accuracy(pred, gt, mask, 1.0 * i / num_thrs, nor)[1] for i in range(num_thrs)]
    total = 0
    for a in accs:
        total += 1.0 / num_thrs * a
    return total


def epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean end-point error in pixels over labelled joints."""
    dist = normalized_distances(pred, gt, mask,
                                np.ones((pred.shape[0], pred.shape[2]), dtype=np.float32))
    valid = dist[dist != -1]
    return valid.sum() / max(1, len(valid))


def bbox_sizes(bboxes: np.ndarray) -> np.ndarray:
    """(N, 2) normaliser = the longer side of each xyxy box (float32 boxes as MMPose parses)."""
    b = np.asarray(bboxes, dtype=np.float32)
    bad = nonfinite_rows(b)
    if bad.any():
        raise InputError(f"sample #{int(np.argmax(bad))}: box holds NaN or infinity "
                         f"({int(bad.sum())} of {len(b)} samples)")
    s = np.max(b[:, 2:] - b[:, :2], axis=1)
    return np.stack([s, s], axis=1)


def torso_sizes(pred: np.ndarray, gt: np.ndarray, i: int = 4, j: int = 5) -> np.ndarray:
    """(N, 2) torso normaliser |gt_i - gt_j| (JHMDB: joints 4, 5); the prediction's if < 1 px."""
    out = np.zeros((len(gt), 2), dtype=np.float32)
    for n in range(len(gt)):
        t = np.linalg.norm(gt[n, i] - gt[n, j])
        if t < 1:
            t = np.linalg.norm(pred[n, i] - pred[n, j])
        out[n] = t
    return out


def pck_auc_epe(pred, gt, mask, bboxes, thr: float = 0.2, norm_factor: float = 30,
                num_thrs: int = 20) -> Dict[str, float]:
    """MMPose ``PCKAccuracy(thr, 'bbox') + AUC(norm_factor, num_thrs) + EPE()`` (fashion sets)."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    mask = np.asarray(mask).astype(bool)
    return {"PCK": pck_accuracy(pred, gt, mask, thr, bbox_sizes(bboxes))[1],
            "AUC": auc(pred, gt, mask, norm_factor, num_thrs), "EPE": epe(pred, gt, mask)}


def _groups(acc: np.ndarray, suffix: str) -> Dict[str, float]:
    out = {}
    for name, idx in JHMDB_GROUPS.items():
        out[f"{name} {suffix}"] = acc[idx[0]] if len(idx) == 1 else 0.5 * acc[idx[0]] + 0.5 * acc[idx[1]]
    return out


def jhmdb_pck(pred, gt, mask, bboxes, thr: float = 0.2,
              norm_items=("bbox", "torso")) -> Dict[str, float]:
    """MMPose ``JhmdbPCKAccuracy``: per-group PCK (bbox) and tPCK (torso) plus their means.

    ``gt`` and ``bboxes`` as the JHMDB dataset parses them (MMPose subtracts 1 from both)."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    mask = np.asarray(mask).astype(bool)
    out: Dict[str, float] = {}
    if "bbox" in norm_items:
        acc, mean, _ = pck_accuracy(pred, gt, mask, thr, bbox_sizes(bboxes))
        out.update(_groups(acc, "PCK"))
        out["PCK"] = mean
    if "torso" in norm_items:
        acc, mean, _ = pck_accuracy(pred, gt, mask, thr, torso_sizes(pred, gt))
        out.update(_groups(acc, "tPCK"))
        out["tPCK"] = mean
    return out


def mpii_pckh(pred, gt, mask, head_sizes, thr: float = 0.5) -> Dict[str, float]:
    """MMPose ``MpiiPCKAccuracy``: PCKh in percent per joint group, ``PCK`` (Mean) and
    ``PCK@0.1`` (Mean@0.1), weighted by joint counts, pelvis and thorax excluded.

    Args:
        pred: (N, 16, 2) predictions, 0-based pixels (1 is added, MPII annotations are 1-based).
        gt: (N, 16, 2) annotations as in the MPII json; mask (N, 16).
        head_sizes: (N,) 0.6 × head-box diagonal in pixels.
    """
    pred = np.asarray(pred, np.float32) + 1.0
    gt = np.asarray(gt, np.float32)
    mask = np.asarray(mask).astype(bool)
    hs = np.asarray(head_sizes).reshape(-1)
    norm = np.stack([hs, hs], axis=1)
    pckh = 100. * pck_accuracy(pred, gt, mask, thr, norm)[0]
    rng = np.arange(0, 0.5 + 0.01, 0.01)
    pck_all = np.zeros((len(rng), 16), dtype=np.float32)
    for r, t in enumerate(rng):
        pck_all[r] = 100. * pck_accuracy(pred, gt, mask, t, norm)[0]
    keep = np.ones(16, dtype=bool)
    keep[list(MPII_EXCLUDED)] = False
    count = np.sum(mask, axis=0)
    total = np.where(keep, count, 0).sum().astype(np.float64)
    ratio = np.where(keep, count / total, 0.0)
    out = {}
    for name, idx in MPII_GROUPS.items():
        out[f"{name} PCK"] = pckh[idx[0]] if len(idx) == 1 else 0.5 * (pckh[idx[0]] + pckh[idx[1]])
    out["PCK"] = np.sum(np.where(keep, pckh * ratio, 0.0))
    out["PCK@0.1"] = np.sum(np.where(keep, pck_all[10] * ratio, 0.0))
    return out


def mpii_head_sizes(headboxes: np.ndarray) -> np.ndarray:
    """(N,) head sizes 0.6·|corner1 − corner0| from (N, 4) head boxes x1, y1, x2, y2."""
    hb = np.asarray(headboxes, dtype=np.float64).reshape(-1, 4)
    return np.linalg.norm(hb[:, 2:] - hb[:, :2], axis=1) * 0.6


def mpii_trb_accuracy(pred, gt, mask, headboxes) -> Dict[str, float]:
    """MPII-TRB accuracy (MMPose 0.x): a labelled joint is a hit if its distance is below
    0.3 × head-box diagonal. Returns ``Skeleton_acc`` (joints 0-13), ``Contour_acc`` (14+) and
    ``PCKh`` (all), as fractions.

    Args:
        pred, gt: (N, 40, 2) pixels; mask (N, 40); headboxes (N, 4) x1, y1, x2, y2.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    mask = np.asarray(mask).astype(bool)
    hb = np.asarray(headboxes, dtype=np.float64).reshape(-1, 4)
    check_finite(pred, gt, mask, hb)
    thr = np.linalg.norm(hb[:, :2] - hb[:, 2:], axis=1) * 0.3
    dist = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    hit = ((dist < thr[:, None]) & mask).astype(np.float32)
    exist = mask.astype(np.float32)
    hits, exists = np.zeros(hit.shape[1], np.float32), np.zeros(hit.shape[1], np.float32)
    for h, e in zip(hit, exist):        # MMPose accumulates per sample in float32
        hits += h
        exists += e
    s = TRB_SKELETON
    return {"Skeleton_acc": (np.sum(hits[:s]) / np.sum(exists[:s])).item(),
            "Contour_acc": (np.sum(hits[s:]) / np.sum(exists[s:])).item(),
            "PCKh": (np.sum(hits) / np.sum(exists)).item()}
