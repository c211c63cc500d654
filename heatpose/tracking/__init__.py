"""Pose tracking in video (Xiao et al. 2018, "Simple Baselines for Human Pose Estimation and
Tracking"): detector boxes unified with flow-propagated boxes, pose estimation, greedy
flow-based OKS matching to the tracks of the last L frames.

- :class:`TrackerConfig`: thresholds and flow method (defaults in one place).
- :class:`PoseTracker`: the tracker alone (proposals, box unification, id assignment).
- :class:`TrackingSession`: tracker + a Pipeline (batched across frames).
- :mod:`heatpose.tracking.output`: PoseTrack18 files and drawings (results: heatpose infer's).

Only the settings are imported with the package (command-line help stays fast); the rest
loads on first use.
"""
from typing import Any

from heatpose.tracking.config import FLOW_METHODS, TrackerConfig

__all__ = ["FLOW_METHODS", "TrackerConfig", "PoseTracker", "TrackingSession"]


def __getattr__(name: str) -> Any:
    if name == "PoseTracker":
        from heatpose.tracking.tracker import PoseTracker
        return PoseTracker
    if name == "TrackingSession":
        from heatpose.tracking.session import TrackingSession
        return TrackingSession
    raise AttributeError(f"module 'heatpose.tracking' has no attribute {name!r}")
