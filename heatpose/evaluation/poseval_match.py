"""Per-frame matching and AP exactly as poseval's ``assignGTmulti`` / ``evaluateAP`` do them.

Per frame (ground truth and predictions both present): distance of predicted joint to
ground-truth joint = |gt - pred| / head size (px / px), inf where either is absent; a pair is
a *match* when the distance is <= 0.5. PCKh(p, g) = matches / annotated joints of g. Each
prediction keeps only its best person (first on ties), each person the best remaining
prediction (first on ties, none if 0). Every predicted joint is a detection with its score,
positive iff its pose is assigned and that joint matches. For tracking, per joint: the track
ids of the people that have the joint and the matchable distances (NaN = may not pair).
A frame without predictions or without ground truth gives, per joint, one unmatched
ground-truth id 0 and one unmatched hypothesis id 0 (one miss and one false positive).

AP per joint: detections of all frames sorted by score (descending), recall and precision at
every rank, VOC AP = area under the monotone precision envelope; 0 without detections, NaN
when the joint is never annotated. Totals are means over the joints that are not NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from heatpose.evaluation.poseval_data import NJ, Frame

DIST_THR = 0.5
# poseval's joint groups (the names in its JSON output -> joints) and, in the same order, the
# short names of its printed tables and of MMPose's PoseTrack18Metric ('Head AP' ... 'Ankl AP')
GROUPS = {"Head": (14, 12, 13), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11),
          "Hip": (2, 3), "Knee": (1, 4), "Ankle": (0, 5)}
SHORT_GROUPS = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl")
MotInput = Tuple[np.ndarray, np.ndarray, np.ndarray]   # oids (G,), hids (P,), dist (G, P)


@dataclass
class FrameMatch:
    """scores/labels: per joint the frame's detections; n_gt: (15,) annotated joints;
    mot: per joint (object ids, hypothesis ids, distances)."""
    scores: List[np.ndarray]
    labels: List[np.ndarray]
    n_gt: np.ndarray
    mot: List[MotInput]


_EMPTY = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.full((1, 1), np.nan))


def match_frame(frame: Frame, thr: float = DIST_THR) -> FrameMatch:
    """AP detections and tracking inputs of one frame (see the module docstring)."""
    gt, pr = frame.gt, frame.pr
    n_gt = gt.has.sum(0).astype(np.float64)
    scores = [pr.score[pr.has[:, j], j] for j in range(NJ)]
    if len(gt) == 0 or len(pr) == 0:
        labels = [np.zeros(len(s), dtype=bool) for s in scores]
        return FrameMatch(scores, labels, n_gt, [_EMPTY] * NJ)
    diff = gt.xy[None] - pr.xy[:, None]                               # (P, G, 15, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1]) \
            / gt.head[None, :, None]
    dist = np.where(pr.has[:, None] & gt.has[None], dist, np.inf)
    match = dist <= thr                                               # (P, G, 15)
    n_annot = gt.has.sum(1)
    pck = match.sum(2).astype(np.float64)
    pck = np.where(n_annot[None] > 0, pck / np.maximum(n_annot[None], 1), pck)
    best = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck)
    rows = np.arange(len(pr))
    keep[rows, best] = pck[rows, best]
    pr_to_gt = np.argmax(keep, axis=0)
    pr_to_gt[keep.max(axis=0) == 0] = -1
    positive = np.zeros((len(pr), NJ), dtype=bool)
    for g, p in enumerate(pr_to_gt):
        if p >= 0:
            positive[p] = match[p, g]
    labels = [positive[pr.has[:, j], j] for j in range(NJ)]
    mot = []
    for j in range(NJ):
        gi, pi = np.flatnonzero(gt.has[:, j]), np.flatnonzero(pr.has[:, j])
        d = dist[pi][:, gi, j].T                                      # (G_j, P_j)
        d = np.where(d <= thr, d, np.nan)
        mot.append((gt.track[gi], pr.track[pi], d))
    return FrameMatch(scores, labels, n_gt, mot)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone precision envelope (VOC style), recall in [0, 1]."""
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(~np.equal(mrec[1:], mrec[:-1])) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class APResult:
    """Percent arrays of 16 = 15 joints + total; counts per joint."""
    ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_gt: np.ndarray
    n_pred: np.ndarray
    n_tp: np.ndarray


def nan_mean(v: np.ndarray) -> float:
    ok = ~np.isnan(v)
    return float(v[ok].mean()) if ok.any() else float("nan")


def average_precision(matches: List[FrameMatch]) -> APResult:
    """poseval's ``computeMetrics`` of evaluateAP over the frames' detections (pooled)."""
    ap, pre, rec = np.zeros(NJ + 1), np.zeros(NJ + 1), np.zeros(NJ + 1)
    n_gt = np.sum([m.n_gt for m in matches], axis=0) if matches else np.zeros(NJ)
    n_pred, n_tp = np.zeros(NJ, np.int64), np.zeros(NJ, np.int64)
    for j in range(NJ):
        s = np.concatenate([np.zeros(0)] + [m.scores[j] for m in matches]).astype(np.float64)
        lab = np.concatenate([np.zeros(0, bool)] + [m.labels[j] for m in matches])
        n_pred[j], n_tp[j] = len(s), int(lab.sum())
        if len(s) == 0:
            continue
        npos = np.cumsum(lab[s.argsort()[::-1]] == 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = 1.0 * npos / n_gt[j]
        precision = 1.0 * npos / np.arange(1, len(s) + 1)
        ap[j] = voc_ap(recall, precision) * 100
        pre[j], rec[j] = precision[-1] * 100, recall[-1] * 100
    for v in (ap, pre, rec):
        v[NJ] = nan_mean(v[:NJ])
    return APResult(ap, pre, rec, n_gt, n_pred, n_tp)


def group_means(values: np.ndarray) -> List[float]:
    """poseval's ``getCum``: mean per joint group (NaN propagates), in GROUPS order."""
    return [float(np.mean(values[list(idx)])) for idx in GROUPS.values()]
