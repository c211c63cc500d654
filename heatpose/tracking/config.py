"""Settings of the pose tracker (the single home of their defaults).

From the paper (Xiao et al., "Simple Baselines for Human Pose Estimation and Tracking", 2018):
detector boxes with score >= 0.5, boxes of flow-propagated joints enlarged by 15%, box NMS to
unify them, greedy matching by flow-based OKS over the tracks of the last L frames.
heatpose's choices where the paper gives no number: the box NMS IoU (0.5), the OKS a match
needs (0.3, as MMPose's tracking demo), L = 5 frames, the joints that shape a propagated box
(score >= 0.3), and the score a propagated box carries (the person's box score x 0.9 per
frame without a detection, so that a lost person stops being propagated once it falls below
the detector threshold).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Dict

FLOW_METHODS = ("dis", "farneback", "none")


@dataclass
class TrackerConfig:
    """det_thr: detector box score threshold; box_enlarge: growth of a propagated box (0.15 =
    15% wider and taller); box_nms_thr: IoU above which the lower-scored box is dropped;
    match_thr: the OKS a pose needs to continue a track; max_age: frames a track survives
    unseen (L); prop_kpt_thr: joint score a propagated joint needs to shape the box;
    prop_decay: factor on a propagated box's score; flow: 'dis', 'farneback' (OpenCV dense
    optical flow) or 'none' (joints stay where they were); flow_max_side: the flow is
    computed on frames scaled down to this longer side (px)."""
    det_thr: float = 0.5
    box_enlarge: float = 0.15
    box_nms_thr: float = 0.5
    match_thr: float = 0.3
    max_age: int = 5
    prop_kpt_thr: float = 0.3
    prop_decay: float = 0.9
    flow: str = "dis"
    flow_max_side: int = 512

    def __post_init__(self) -> None:
        from heatpose.errors import InputError

        if self.flow not in FLOW_METHODS:
            raise InputError(f"flow={self.flow!r}: choose one of {', '.join(FLOW_METHODS)}")
        for name in ("det_thr", "box_nms_thr", "match_thr", "prop_kpt_thr", "prop_decay"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"{name}={v}: must be in [0, 1]")
        if self.box_enlarge < 0:
            raise InputError(f"box_enlarge={self.box_enlarge}: must be >= 0")
        if int(self.max_age) < 1 or int(self.flow_max_side) < 16:
            raise InputError(f"max_age={self.max_age} (>= 1), flow_max_side="
                             f"{self.flow_max_side} (>= 16)")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrackerConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})
