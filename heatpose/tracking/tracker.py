"""The flow-based pose tracker of "Simple Baselines for Human Pose Estimation and Tracking".

Per frame: :meth:`PoseTracker.proposals` moves every live track's last pose by the optical flow
from the previous frame and returns the enlarged boxes of the poses seen in that frame (to be
unified with the detector's boxes by box NMS and estimated again); :meth:`PoseTracker.update`
gives each pose of the frame a track id by greedy matching on OKS between the pose and the
tracks' propagated poses (best pair first, both removed, repeat while OKS >= match_thr); poses
left open new tracks; a track unseen for ``max_age`` frames is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from heatpose.evaluation.nms import oks_iou
from heatpose.inference.detector import nms
from heatpose.tracking.config import TrackerConfig
from heatpose.tracking.flow import FlowPropagator


@dataclass
class Track:
    """One person over time: last pose (K, 2) image px (moved by flow every frame since),
    its scores (K,), its box score and area (px²), the frame it was last seen in."""
    track_id: int
    keypoints: np.ndarray
    scores: np.ndarray
    box_score: float
    area: float
    last_seen: int


def pose_box(keypoints: np.ndarray, scores: np.ndarray, min_score: float,
             enlarge: float) -> Optional[np.ndarray]:
    """xyxy box (4,) around the joints scoring >= min_score, grown by ``enlarge`` (0.15 = 15%
    wider and taller) about its centre; None when fewer than two joints qualify or the box is
    flat (such a pose is not propagated)."""
    pts = keypoints[scores >= min_score]
    if len(pts) < 2:
        return None
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = (x2 - x1) * (1 + enlarge), (y2 - y1) * (1 + enlarge)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


class PoseTracker:
    """Track ids for the poses of consecutive frames.

    Args:
        sigmas: (K,) OKS sigmas of the keypoint schema.
        config: :class:`TrackerConfig` (thresholds, flow method, L).
    """

    def __init__(self, sigmas: Sequence[float], config: Optional[TrackerConfig] = None) -> None:
        self.config = config or TrackerConfig()
        self.sigmas = np.asarray(sigmas, np.float32)
        self.flow = FlowPropagator(self.config.flow, self.config.flow_max_side)
        self.tracks: List[Track] = []
        self.frame = -1
        self.next_id = 0
        self._prev: Optional[np.ndarray] = None

    def proposals(self, image: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """Start a new frame: move the tracks by the flow from the previous image to ``image``
        (None: no flow) and return the propagated boxes (M, 4) xyxy px (clipped to the image)
        and their scores (M,) of the tracks seen in the previous frame."""
        self.frame += 1
        flow = None
        if image is not None and self._prev is not None and self.tracks:
            flow = self.flow.flow(self._prev, image)
        self._prev = image if self.config.flow != "none" else None
        boxes, scores = [], []
        for t in self.tracks:
            t.keypoints = self.flow.move(t.keypoints, flow)
            if t.last_seen != self.frame - 1:
                continue
            b = pose_box(t.keypoints, t.scores, self.config.prop_kpt_thr, self.config.box_enlarge)
            if b is None:
                continue
            if image is not None:
                h, w = image.shape[:2]
                b = np.clip(b, 0, [w, h, w, h]).astype(np.float32)
                if b[2] - b[0] < 1 or b[3] - b[1] < 1:
                    continue
            s = t.box_score * self.config.prop_decay
            if s >= self.config.det_thr:
                boxes.append(b)
                scores.append(s)
        return (np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32))

    def skip(self, frames: int) -> None:
        """``frames`` frames went unseen (unreadable): they count as frames without any pose,
        towards each track's ``max_age`` (L), as ``frames`` empty frames would. The next frame's
        flow then runs from the last image seen, and no boxes are propagated into it (no track
        was seen in the frame just before it)."""
        if frames <= 0:
            return
        self.frame += int(frames)
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen < self.config.max_age]

    def unify(self, det_boxes: np.ndarray, det_scores: np.ndarray, prop_boxes: np.ndarray,
              prop_scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Box NMS over detector boxes (score >= det_thr) and propagated boxes: the indices of
        the detector boxes kept (ascending) and of the propagated boxes kept."""
        det_ok = np.flatnonzero(np.asarray(det_scores) >= self.config.det_thr)
        boxes = np.concatenate([np.asarray(det_boxes, np.float32).reshape(-1, 4)[det_ok],
                                prop_boxes])
        scores = np.concatenate([np.asarray(det_scores, np.float32)[det_ok], prop_scores])
        keep = nms(boxes, scores, self.config.box_nms_thr)
        nd = len(det_ok)
        return np.sort(det_ok[keep[keep < nd]]), np.sort(keep[keep >= nd] - nd)

    def update(self, keypoints: np.ndarray, scores: np.ndarray, boxes: np.ndarray,
               box_scores: np.ndarray) -> np.ndarray:
        """Track ids (N,) int64 for this frame's poses: keypoints (N, K, 2) px, scores (N, K),
        boxes (N, 4) xyxy, box scores (N,). Call :meth:`proposals` first for each frame."""
        if self.frame < 0:
            self.proposals(None)
        k = len(self.sigmas)                  # (an empty frame: no -1 to infer in reshape)
        kp = np.asarray(keypoints, np.float32).reshape(len(boxes), k, 2)
        sc = np.asarray(scores, np.float32).reshape(len(kp), k)
        areas = box_area(boxes)
        ids = np.full(len(kp), -1, np.int64)
        if len(kp) and self.tracks:
            poses = np.concatenate([kp, sc[..., None]], 2)
            sim = np.stack([oks_iou(np.concatenate([t.keypoints, t.scores[:, None]], 1), poses,
                                    np.float32(t.area), areas, self.sigmas)
                            for t in self.tracks], 1)                       # (N, T)
            while sim.size and sim.max() >= self.config.match_thr:
                i, j = np.unravel_index(int(np.argmax(sim)), sim.shape)
                ids[i] = self.tracks[j].track_id
                self._refresh(self.tracks[j], kp[i], sc[i], box_scores[i], areas[i])
                sim[i, :] = -1
                sim[:, j] = -1
        for i in np.flatnonzero(ids < 0):
            ids[i] = self.next_id
            self.tracks.append(Track(self.next_id, kp[i].copy(), sc[i].copy(),
                                     float(box_scores[i]), float(areas[i]), self.frame))
            self.next_id += 1
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen < self.config.max_age]
        return ids

    def _refresh(self, t: Track, kp: np.ndarray, sc: np.ndarray, box_score: float,
                 area: float) -> None:
        t.keypoints, t.scores = kp.copy(), sc.copy()
        t.box_score, t.area, t.last_seen = float(box_score), float(area), self.frame
