"""PoseTrack18 multi-person pose AP (the per-joint table Head, Shou, Elb, Wri, Hip, Knee, Ankl,
Total that MMPose 1.3.2's ``PoseTrack18Metric`` gets from the external ``poseval`` package),
re-implemented from poseval's published algorithm:

1. Per video file (PoseTrack18 JSON), per frame: ground-truth people and predicted poses are
   mapped to poseval's 15 joints by keypoint name (ears are dropped); a point stored as
   (0, 0, 0) is "not annotated" / "not predicted". Frames without any ground-truth person
   are skipped (their predictions too). Points inside an ignore region (strict interior of a
   polygon, even-odd rule) are removed from both sides; people left without points go.
2. Per frame, prediction p and person g: PCKh(p, g) = fraction of g's annotated joints that p
   has within 0.5 × head size (0.6 × head-box diagonal). Each prediction keeps only its best
   person (first on ties); each person takes the prediction with the highest remaining PCKh
   (first on ties, none if 0). Every predicted joint becomes a detection with its score,
   positive iff its prediction is matched and that joint is within the threshold.
3. Per joint: precision/recall over all frames (scores sorted descending), VOC AP (area under
   the monotone precision envelope) × 100; Total = mean over the 15 joints (NaN joints —
   joints never annotated — skipped); groups are means of their joints.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import load_json
from heatpose.evaluation.topdown import TopdownCocoEvaluator

POSEVAL_JOINTS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                  "left_ankle", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                  "left_elbow", "left_wrist", "head_bottom", "nose", "head_top")
GROUPS = {"Head": (14, 12, 13), "Shou": (8, 9), "Elb": (7, 10), "Wri": (6, 11), "Hip": (2, 3),
          "Knee": (1, 4), "Ankl": (0, 5)}
DIST_THR = 0.5
NJ = len(POSEVAL_JOINTS)


def load_posetrack_videos(gt: Union[str, Path, dict, Sequence[dict]]) -> List[Tuple[str, dict]]:
    """Ground truth as ``[(name, video_dict)]``: a folder of per-video PoseTrack18 JSON files
    (sorted by name), one such file, one dict, or a list of dicts or of (name, dict)."""
    if isinstance(gt, (str, Path)):
        p = Path(gt)
        files = sorted(glob.glob(os.path.join(str(p), "*.json"))) if p.is_dir() else [str(p)]
        if not files:
            raise InputError(f"{p}: no PoseTrack18 .json files found")
        return [(f, load_json(f, "PoseTrack18 annotation file")) for f in files]
    if isinstance(gt, dict):
        return [("annotations", gt)]
    return [v if isinstance(v, tuple) else (f"video #{i}", v) for i, v in enumerate(gt)]


def _conversion(video: dict, name: str) -> List[int]:
    cats = video.get("categories") or []
    if len(cats) != 1 or "keypoints" not in cats[0]:
        raise InputError(f"{name}: needs exactly one category with keypoint names")
    table = [POSEVAL_JOINTS.index(n) if n in POSEVAL_JOINTS else -1 for n in cats[0]["keypoints"]]
    missing = [n for j, n in enumerate(POSEVAL_JOINTS) if j not in table]
    if missing:
        raise InputError(f"{name}: keypoints {missing} missing from the category")
    return table


def _points(kpts: np.ndarray, table: List[int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(15, 2) xy, (15,) third value, (15,) present flags from (K, 3) COCO-order keypoints."""
    xy, third = np.zeros((NJ, 2)), np.zeros(NJ)
    has = np.zeros(NJ, dtype=bool)
    for k, j in enumerate(table):
        if j < 0:
            continue
        x, y, v = kpts[k]
        if x == 0 and y == 0 and v == 0:
            continue
        xy[j], third[j], has[j] = (x, y), v, True
    return xy, third, has


def _inside(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(P,) bool: points strictly inside polygon (M, 2) (even-odd rule, boundary excluded)."""
    x, y = xy[:, 0:1], xy[:, 1:2]
    x1, y1 = poly[None, :, 0], poly[None, :, 1]
    x2, y2 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / (y2 - y1) + x1)
        inside = cross.sum(1) % 2 == 1
        on_seg = (np.abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) <= 1e-9) & \
            (np.minimum(x1, x2) <= x) & (x <= np.maximum(x1, x2)) & \
            (np.minimum(y1, y2) <= y) & (y <= np.maximum(y1, y2))
    return inside & ~on_seg.any(1)


def _frames(videos, predictions: Mapping) -> List[dict]:
    frames = []
    for name, video in videos:
        table = _conversion(video, name)
        anns: Dict[object, list] = {}
        for a in video.get("annotations", []):
            anns.setdefault(a.get("image_id"), []).append(a)
        for img in video.get("images", []):
            people = anns.get(img.get("id"), [])
            if not people:
                continue                                  # poseval drops frames without people
            gts = []
            for a in people:
                kp = np.asarray(a.get("keypoints", []), dtype=np.float64)
                if kp.size != 3 * len(table):
                    raise InputError(f"{name}: annotation id {a.get('id')} has {kp.size} keypoint "
                                     f"values, expected {3 * len(table)}")
                xy, _, has = _points(kp.reshape(-1, 3), table)
                head = a.get("bbox_head")
                if head is None:
                    if has.any():
                        raise InputError(f"{name}: annotation id {a.get('id')} has keypoints but "
                                         "no 'bbox_head' (PoseTrack PCKh needs the head box)")
                    head = [0, 0, 0, 0]
                hs = 0.6 * np.linalg.norm(np.subtract([head[0] + head[2], head[1] + head[3]],
                                                      [head[0], head[1]]))
                gts.append({"xy": xy, "has": has, "head": hs})
            preds = []
            for i, p in enumerate(predictions.get(img["id"], [])):
                kp = np.asarray(p["keypoints"] if isinstance(p, dict) else p, dtype=np.float64)
                if kp.size != 3 * len(table):
                    raise InputError(f"predictions for image {img['id']}: pose #{i} has "
                                     f"{kp.size} values, expected {3 * len(table)}")
                xy, score, has = _points(kp.reshape(-1, 3), table)
                preds.append({"xy": xy, "has": has, "score": score})
            rx, ry = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
            polys = [np.stack([np.asarray(px, float), np.asarray(py, float)], 1)
                     for px, py in zip(rx, ry) if len(px) >= 3]
            if polys:
                gts = _drop_ignored(gts, polys)
                preds = _drop_ignored(preds, polys)
            frames.append({"gt": gts, "pr": preds})
    return frames


def _drop_ignored(people: List[dict], polys: List[np.ndarray]) -> List[dict]:
    out = []
    for person in people:
        ign = np.zeros(NJ, dtype=bool)
        for poly in polys:
            ign |= _inside(person["xy"], poly)
        person["has"] = person["has"] & ~ign
        if person["has"].any():
            out.append(person)
    return out


def _assign(frame: dict, scores: List[list], labels: List[list], n_gt: np.ndarray) -> None:
    gts, prs = frame["gt"], frame["pr"]
    for g in gts:
        n_gt += g["has"]
    if not prs:
        return
    if not gts:
        for p in prs:
            for j in np.flatnonzero(p["has"]):
                scores[j].append(p["score"][j])
                labels[j].append(False)
        return
    pxy = np.stack([p["xy"] for p in prs])                      # (P, 15, 2)
    phas = np.stack([p["has"] for p in prs])
    gxy = np.stack([g["xy"] for g in gts])                      # (G, 15, 2)
    ghas = np.stack([g["has"] for g in gts])
    head = np.array([g["head"] for g in gts])
    diff = gxy[None] - pxy[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / head[None, :, None]
    dist = np.where(phas[:, None] & ghas[None], dist, np.inf)
    match = dist <= DIST_THR                                    # (P, G, 15)
    n_annot = ghas.sum(1)
    pck = match.sum(2).astype(np.float64)
    pck = np.where(n_annot[None] > 0, pck / np.maximum(n_annot[None], 1), pck)
    best = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck)
    rows = np.arange(len(prs))
    keep[rows, best] = pck[rows, best]
    pr_of_gt = np.argmax(keep, axis=0)
    pr_of_gt[keep.max(axis=0) == 0] = -1
    for r, p in enumerate(prs):
        hit = np.flatnonzero(pr_of_gt == r)
        m = match[r, hit[0]] if len(hit) else np.zeros(NJ, dtype=bool)
        for j in np.flatnonzero(p["has"]):
            scores[j].append(p["score"][j])
            labels[j].append(bool(m[j]))


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone precision envelope (VOC style), recall in [0, 1]."""
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return np.sum((mrec[i] - mrec[i - 1]) * mpre[i])


def evaluate_posetrack18(gt, predictions: Mapping[object, Sequence]) -> Dict[str, float]:
    """PoseTrack18 per-joint-group AP in percent (MMPose names ``Head AP`` ... ``AP``).

    Args:
        gt: PoseTrack18 ground truth (see :func:`load_posetrack_videos`).
        predictions: image id -> poses; a pose is (K, 3) [x, y, score] (image pixels, the
            dataset's keypoint order) or a dict with ``keypoints``.

    Returns:
        ``{'Head AP', 'Shou AP', 'Elb AP', 'Wri AP', 'Hip AP', 'Knee AP', 'Ankl AP', 'AP'}``.
    """
    frames = _frames(load_posetrack_videos(gt), predictions)
    scores: List[list] = [[] for _ in range(NJ)]
    labels: List[list] = [[] for _ in range(NJ)]
    n_gt = np.zeros(NJ)
    for fr in frames:
        _assign(fr, scores, labels, n_gt)
    ap = np.zeros(NJ + 1)
    for j in range(NJ):
        s = np.asarray(scores[j], dtype=np.float64)
        if len(s) == 0:
            continue
        lab = np.asarray(labels[j], dtype=np.int8)[s.argsort()[::-1]]
        npos = np.cumsum(lab == 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rec = 1.0 * npos / n_gt[j]
            prec = 1.0 * npos / np.arange(1, len(s) + 1)
            ap[j] = voc_ap(rec, prec) * 100
    valid = ~np.isnan(ap[:NJ])
    ap[NJ] = ap[:NJ][valid].mean() if valid.any() else np.nan
    out = {f"{name} AP": float(ap[list(idx)].mean()) for name, idx in GROUPS.items()}
    out["AP"] = float(ap[NJ])
    return out


def posetrack_gt_folder(ann_file: Union[str, Path]) -> Path:
    """MMPose's rule: ``.../posetrack18_val.json`` -> the per-video folder ``.../val/``."""
    ann_file = str(ann_file)
    return Path(os.path.dirname(ann_file)) / os.path.splitext(ann_file.split("_")[-1])[0]


class PoseTrack18Evaluator(TopdownCocoEvaluator):
    """Top-down PoseTrack18 evaluation: rescoring + OKS-NMS as CocoMetric, then poseval AP.

    Args:
        gt: the per-video ground truth (folder, file, dict or list of dicts).
        sigmas: PoseTrack18 OKS sigmas (for NMS).
    """

    def __init__(self, gt, sigmas: Sequence[float], **kwargs) -> None:
        super().__init__(None, sigmas, **kwargs)
        self.videos = load_posetrack_videos(gt)

    def evaluate(self) -> Dict[str, float]:
        kept = self.kept_instances()
        preds = {img: [inst["keypoints"] for inst in insts] for img, insts in kept.items()}
        return evaluate_posetrack18(self.videos, preds)
