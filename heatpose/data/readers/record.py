"""The instance record every annotation reader returns, and MMPose's top-down filtering rule."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from heatpose.errors import InputError


@dataclass
class InstanceRecord:
    """One person (or garment) instance, as a top-down sample starts from.

    Attributes:
        img_path: image path relative to the image root (the reader's ``img_prefix`` joined
            with the file name the annotation gives).
        img_id: image id of the annotation file.
        ann_id: annotation id (MPII: running index; detections: running index of person boxes).
        bbox: (4,) float32 box x1, y1, x2, y2 in pixels.
        keypoints: (K, 2) float32 keypoints (x, y) in pixels.
        keypoints_visible: (K,) float32 in {0, 1}: ``min(1, v)`` of the annotation's flag.
        num_keypoints: annotated keypoint count (None where the format has none: MPII,
            detection boxes).
        area: segment area in pixels^2 (None for detection boxes).
        iscrowd: 1 for crowd regions (never kept by the top-down filter).
        category_id: category of the instance (1 = person).
        bbox_score: detector score (1.0 for ground-truth boxes).
        bbox_center / bbox_scale: (2,) float32 crop centre and (w, h) in pixels, set only where
            the format gives them (MPII, MPII-TRB); the crop then pads this scale instead of the
            box, as MMPose does.
        img_shape: (height, width) of the image where the file states it.
        extras: dataset-specific fields: ``head_size`` (MPII with a headbox file), ``headbox``
            (MPII-TRB), ``crowd_index`` (CrowdPose), ``frame_id``/``vid_id``/``nframes``/
            ``is_labeled``/``track_id`` (PoseTrack18, JHMDB).
    """

    img_path: str
    img_id: int
    ann_id: int
    bbox: np.ndarray
    keypoints: np.ndarray
    keypoints_visible: np.ndarray
    num_keypoints: Optional[int] = None
    area: Optional[float] = None
    iscrowd: int = 0
    category_id: int = 1
    bbox_score: float = 1.0
    bbox_center: Optional[np.ndarray] = None
    bbox_scale: Optional[np.ndarray] = None
    img_shape: Optional[Tuple[int, int]] = None
    extras: Dict[str, Any] = field(default_factory=dict)


def is_valid_instance(rec: InstanceRecord) -> bool:
    """MMPose's top-down rule: drop crowd regions, instances with ``num_keypoints == 0``,
    boxes of zero or negative width/height and all-non-positive keypoints."""
    if rec.iscrowd:
        return False
    if rec.num_keypoints is not None and rec.num_keypoints == 0:
        return False
    w, h = rec.bbox[2:4] - rec.bbox[:2]
    if w <= 0 or h <= 0:
        return False
    if rec.keypoints.size and np.max(rec.keypoints) <= 0:
        return False
    return True


def filter_topdown(records: Sequence[InstanceRecord]) -> List[InstanceRecord]:
    """Keep the records :func:`is_valid_instance` accepts (MMPose filters in train and test)."""
    return [r for r in records if is_valid_instance(r)]


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes with orjson when it is installed (3x faster on large annotation files),
    else, or where orjson refuses the text (NaN/Infinity literals, integers beyond 64 bits), with
    the standard parser, whose errors are the ones reported."""
    try:
        import orjson
    except ImportError:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def load_json(path: str) -> Any:
    """Read a JSON file; a missing or malformed file raises InputError naming it."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return parse_json(f.read())
    except FileNotFoundError:
        raise InputError(f"{path}: annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None


def require(obj: Any, key: str, path: str, what: str) -> Any:
    """``obj[key]`` or InputError ``"<path>: <what>: missing field '<key>'"``."""
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {what}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise InputError(f"{path}: {what}: missing field '{key}'")
    return obj[key]


def as_array(value: Any, shape_last: int, path: str, what: str, field_name: str) -> np.ndarray:
    """float32 array (N, shape_last) from a flat JSON list; InputError when it is not one."""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {what}: field '{field_name}' is not a list of numbers") from None
    if arr.ndim > 2 or arr.size % shape_last:
        raise InputError(f"{path}: {what}: field '{field_name}' has {arr.size} values, "
                         f"not a multiple of {shape_last}")
    return arr.reshape(-1, shape_last)


def check_count(n: int, expected: Optional[int], path: str, what: str) -> None:
    """InputError when an annotation's keypoint count is not the schema's."""
    if expected is not None and n != expected:
        raise InputError(f"{path}: {what}: has {n} keypoints, the dataset schema has {expected}")

