"""PoseTrack18 files read the way the official ``poseval`` reads them (its PoseTrack18 -> 2017
conversion and data clean-up), as arrays ready for matching.

Rules (poseval ``convert.py`` / ``eval_helpers.load_data_dir``, ``cleanupData``,
``removeIgnoredPoints``):

- Ground truth: one JSON file per sequence; predictions: the file of the same name. Only the
  first video of a file counts (images grouped by the folder of ``file_name``). Frames are
  paired by position; the two files must list the same number of frames.
- Keypoints are mapped by name to poseval's 15 joints (ears are dropped). A point stored as
  ``(0, 0, 0)`` is absent. A predicted point's score comes from the person's ``scores`` list
  (-9999 when the list is missing or empty), never from the keypoint's third value.
- A frame is *labeled* when its ground truth lists at least one person; other frames are
  left out entirely (their predictions too).
- Ignore regions (``ignore_regions_x/y`` of the ground-truth image): points strictly inside a
  region are dropped from ground truth and predictions; in such a frame every person left
  without points is dropped. Elsewhere people without points stay (a predicted one still
  makes the frame "have predictions").
- Track ids: every person needs an integer ``track_id`` below 10000 (poseval's limit);
  predicted ids must be unique within a frame.
- Head size of a ground-truth person = 0.6 × diagonal of ``bbox_head`` ([x, y, w, h], px).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import load_json

# PoseTrack18 keypoint names in poseval's joint order (poseval prints index 12 as "neck").
POSEVAL_JOINTS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                  "left_ankle", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                  "left_elbow", "left_wrist", "head_bottom", "nose", "head_top")
JOINT_NAMES = POSEVAL_JOINTS[:12] + ("neck",) + POSEVAL_JOINTS[13:]
NJ = len(POSEVAL_JOINTS)
MAX_TRACK_ID = 10000
MIN_SCORE = -9999.0


@dataclass
class People:
    """Poses of one frame in poseval's joint order.

    xy: (N, 15, 2) float64 image px (x, y); has: (N, 15) bool point present; score: (N, 15)
    float64 point scores (predictions); head: (N,) head size px (ground truth; NaN unknown);
    track: (N,) int64 track ids.
    """
    xy: np.ndarray
    has: np.ndarray
    score: np.ndarray
    head: np.ndarray
    track: np.ndarray

    def __len__(self) -> int:
        return len(self.track)

    def subset(self, keep: np.ndarray) -> "People":
        return People(self.xy[keep], self.has[keep], self.score[keep], self.head[keep],
                      self.track[keep])


@dataclass
class Frame:
    """One labeled frame: its ground truth and predictions."""
    gt: People
    pr: People


@dataclass
class SequenceFrames:
    """The labeled frames of one sequence (file order)."""
    name: str
    frames: List[Frame]


def conversion_table(video: dict, name: str) -> List[int]:
    """Per keypoint of the file's category: its poseval joint index, or -1 (dropped)."""
    cats = video.get("categories") if isinstance(video, dict) else None
    if not isinstance(cats, list) or len(cats) != 1 or not isinstance(cats[0], dict) \
            or not isinstance(cats[0].get("keypoints"), list):
        raise InputError(f"{name}: needs 'categories' with exactly one category listing "
                         "'keypoints' names (PoseTrack18 format)")
    names = cats[0]["keypoints"]
    table = [POSEVAL_JOINTS.index(n) if n in POSEVAL_JOINTS else -1 for n in names]
    missing = [n for j, n in enumerate(POSEVAL_JOINTS) if j not in table]
    if missing:
        raise InputError(f"{name}: keypoints {missing} missing from the category")
    return table


def _video_id(image: dict) -> str:
    return os.path.basename(os.path.dirname(str(image.get("file_name", "")))).split("_")[0]


def video_frames(video: dict, name: str) -> List[Tuple[dict, List[dict]]]:
    """``[(image, [annotations])]`` of the file's first video, in ``images`` order."""
    if not isinstance(video, dict) or not isinstance(video.get("images"), list) \
            or not isinstance(video.get("annotations", []), list):
        raise InputError(f"{name}: not a PoseTrack18 file (needs 'images' and 'annotations' lists)")
    images = video["images"]
    if not images:
        return []
    anns: Dict[object, List[dict]] = {}
    for a in video.get("annotations", []):
        if not isinstance(a, dict):
            raise InputError(f"{name}: an annotation is not an object: {str(a)[:60]}")
        anns.setdefault(a.get("image_id"), []).append(a)
    first = _video_id(images[0])
    seen = set()
    out = []
    for img in images:
        if not isinstance(img, dict) or "id" not in img:
            raise InputError(f"{name}: an image entry has no 'id': {str(img)[:60]}")
        if img["id"] in seen:
            raise InputError(f"{name}: image id {img['id']} listed twice")
        seen.add(img["id"])
        if _video_id(img) == first:
            out.append((img, anns.get(img["id"], [])))
    return out


def _track_id(a: dict, name: str) -> int:
    t = a.get("track_id")
    if isinstance(t, list) and len(t) == 1:
        t = t[0]
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) and not (
            isinstance(t, float) and t.is_integer()):
        raise InputError(f"{name}: annotation id {a.get('id')} (image {a.get('image_id')}) "
                         f"needs an integer 'track_id', got {t!r}")
    if t >= MAX_TRACK_ID:
        raise InputError(f"{name}: annotation id {a.get('id')}: track_id {t} is not below "
                         f"{MAX_TRACK_ID} (poseval's limit)")
    return int(t)


def people(anns: Sequence[dict], table: List[int], name: str, ground_truth: bool) -> People:
    """Ground-truth or predicted persons of one frame as :class:`People`."""
    n, k = len(anns), len(table)
    xy, has = np.zeros((n, NJ, 2)), np.zeros((n, NJ), dtype=bool)
    score, head = np.full((n, NJ), np.nan), np.full(n, np.nan)
    track = np.zeros(n, dtype=np.int64)
    for i, a in enumerate(anns):
        where = f"{name}: annotation id {a.get('id')} (image {a.get('image_id')})"
        try:
            kp = np.asarray(a.get("keypoints"), dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{where}: 'keypoints' is not a list of numbers") from None
        if kp.size != 3 * k:
            raise InputError(f"{where}: {kp.size} keypoint values, expected {3 * k}")
        kp = kp.reshape(k, 3)
        scores = a.get("scores")
        if scores and len(scores) != k:
            raise InputError(f"{where}: {len(scores)} 'scores', expected {k}")
        for src, j in enumerate(table):
            if j < 0 or (kp[src, 0] == 0 and kp[src, 1] == 0 and kp[src, 2] == 0):
                continue
            xy[i, j], has[i, j] = kp[src, :2], True
            score[i, j] = float(scores[src]) if scores else MIN_SCORE
        track[i] = _track_id(a, name)
        if ground_truth:
            hb = a.get("bbox_head")
            if hb is not None:
                try:
                    x1, y1, w, h = (float(v) for v in hb)
                except (TypeError, ValueError):
                    raise InputError(f"{where}: 'bbox_head' must be [x, y, w, h]") from None
                head[i] = 0.6 * np.linalg.norm(np.subtract([x1 + w, y1 + h], [x1, y1]))
            elif has[i].any():
                raise InputError(f"{where}: has keypoints but no 'bbox_head' (poseval's "
                                 "distances are in head-box units)")
    if not ground_truth and len(set(track.tolist())) != n:
        raise InputError(f"{name}: image {anns[0].get('image_id')}: predicted track ids are "
                         "not unique within the frame")
    return People(xy, has, score, head, track)


def inside_any(xy: np.ndarray, polys: List[np.ndarray]) -> np.ndarray:
    """(P,) bool: points (P, 2) strictly inside any polygon (M, 2) (even-odd rule; the
    boundary is outside, as shapely's ``contains``). Polygons of < 3 points contain nothing."""
    out = np.zeros(len(xy), dtype=bool)
    x, y = xy[:, 0:1], xy[:, 1:2]
    for poly in polys:
        if len(poly) < 3:
            continue
        x1, y1 = poly[None, :, 0], poly[None, :, 1]
        x2, y2 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / (y2 - y1) + x1)
            on_seg = (np.abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) <= 1e-9) & \
                (np.minimum(x1, x2) <= x) & (x <= np.maximum(x1, x2)) & \
                (np.minimum(y1, y2) <= y) & (y <= np.maximum(y1, y2))
        out |= (cross.sum(1) % 2 == 1) & ~on_seg.any(1)
    return out


def _regions(image: dict, name: str) -> Optional[List[np.ndarray]]:
    """Ignore polygons of a ground-truth image, or None when it has none (poseval's test)."""
    rx, ry = image.get("ignore_regions_x"), image.get("ignore_regions_y")
    if rx is None or ry is None:
        return None
    try:
        polys = [np.stack([np.asarray(px, float).reshape(-1), np.asarray(py, float).reshape(-1)], 1)
                 for px, py in zip(rx, ry)]
    except (TypeError, ValueError):
        raise InputError(f"{name}: image {image.get('id')}: malformed ignore regions") from None
    return polys or None


def drop_ignored(p: People, polys: List[np.ndarray]) -> People:
    """Remove points inside the polygons, then every person left without points."""
    if len(p) == 0:
        return p
    flat = inside_any(p.xy.reshape(-1, 2), polys).reshape(len(p), NJ)
    p.has = p.has & ~flat
    return p.subset(p.has.any(1))


def sequence_frames(gt: dict, pred: dict, gt_name: str, pred_name: str) -> List[Frame]:
    """The labeled frames of one ground-truth / prediction file pair (see the module rules)."""
    table_gt, table_pr = conversion_table(gt, gt_name), conversion_table(pred, pred_name)
    gframes, pframes = video_frames(gt, gt_name), video_frames(pred, pred_name)
    if len(gframes) != len(pframes):
        raise InputError(f"{pred_name}: {len(pframes)} frames, but the ground truth "
                         f"{gt_name} has {len(gframes)} (frames are paired by position)")
    frames = []
    for (gimg, ganns), (_, panns) in zip(gframes, pframes):
        g = people(ganns, table_gt, gt_name, True)
        p = people(panns, table_pr, pred_name, False)
        if len(g) == 0:
            continue                                   # unlabeled frame
        polys = _regions(gimg, gt_name)
        if polys is not None:
            g, p = drop_ignored(g, polys), drop_ignored(p, polys)
        frames.append(Frame(g, p))
    return frames


def folder_pairs(gt_dir: Union[str, Path], pred_dir: Union[str, Path]) -> List[SequenceFrames]:
    """Every ``*.json`` of ``gt_dir`` (sorted) paired with the same name in ``pred_dir``."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise InputError(f"{d}: {what} folder not found (PoseTrack18 per-sequence JSON files)")
    files = sorted(gt_dir.glob("*.json"))
    if not files:
        raise InputError(f"{gt_dir}: no PoseTrack18 .json files found")
    out = []
    for f in files:
        pf = pred_dir / f.name
        if not pf.is_file():
            raise InputError(f"{pf}: prediction file missing (one per ground-truth file {f.name})")
        frames = sequence_frames(load_json(f, "PoseTrack18 ground truth"),
                                 load_json(pf, "PoseTrack18 predictions"), str(f), str(pf))
        out.append(SequenceFrames(f.name.split(".")[0], frames))
    return out
