"""MMPose's ``filter_cfg=dict(bbox_score_thr=...)`` (the PoseTrack18 recipes' validation and
test data on detection boxes, 0.4): ``BaseCocoStyleDataset.filter_data`` drops instances whose
``bbox_score < thr``, both float32 there (numpy 2 compares a float32 array with a Python float
in float32), so a box scoring exactly the threshold stays. Ground-truth instances score 1.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np


def recipe_score_thr(dataset_cfg: Optional[Mapping[str, Any]]) -> Optional[float]:
    """The ``filter_cfg.bbox_score_thr`` of an MMPose dataset dict (a recipe's ``val_data`` /
    ``test_data``); None when it has none (MMPose then keeps every box)."""
    thr = ((dataset_cfg or {}).get("filter_cfg") or {}).get("bbox_score_thr")
    return None if thr is None else float(thr)


def score_threshold(thr: Optional[float]) -> float:
    """The threshold for :func:`heatpose.data.readers.read_detections` (which keeps
    ``score >= thr``, scores rounded to float32): ``thr`` rounded to float32, so the float64
    comparison there decides as MMPose's float32 one; None (no filter_cfg) keeps every box."""
    return -math.inf if thr is None else float(np.float32(thr))
