"""The instance record every annotation reader returns, MMPose's top-down filtering rule, and the
checks every reader applies.

What the readers do with a bad record (all messages start ``<file>: <record>:``, the record being
``annotation #<index>`` / ``annotation id <id>`` / ``detection #<index>`` / ``image id <id>``):

- fatal (:class:`~heatpose.errors.InputError`): a file that is not the expected JSON; a missing
  required field; a value that is not a number where one is expected; NaN or infinity in a box,
  keypoint, visibility, area, centre, scale or score; a keypoint count other than the dataset's;
  an ``image_id`` naming no image of the file; an image size that is not positive; an MPII scale
  that is not positive; a detection box of negative width or height.
- skipped, with one warning line per file and reason (:class:`SkippedRecordsWarning`: count and
  first record): COCO-style annotations without ``bbox`` or ``keypoints`` (MMPose skips them
  silently); annotation boxes that are empty once clipped to the image (negative or zero size,
  or outside the image), which MMPose's top-down filter (:func:`filter_topdown`) drops;
  detection boxes of zero width and height (no crop can be taken; a box with one zero side
  still gets a crop from the aspect-ratio fix, as in MMPose).
- kept as MMPose keeps them: crowd regions and annotations with no labelled keypoint are
  records (the top-down filter drops them; no warning, they are normal in COCO).
"""
from __future__ import annotations

import json
import math
import os
import warnings
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


def box_has_no_size(box: Sequence[float]) -> bool:
    """An xyxy box with neither width nor height. A box with one zero side still gets a crop
    (the aspect-ratio fix gives it the other side), as in MMPose."""
    return box[2] <= box[0] and box[3] <= box[1]


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


def load_json(path: str, what: str = "annotation file") -> Any:
    """Read a JSON file; a missing, unreadable or malformed file raises InputError naming it
    (``what`` says which file it is: ``annotation file``, ``result file``, ...)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return parse_json(f.read())
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {what} is not valid JSON ({err})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the {what} ({err.strerror or err})") from None


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
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: {what}: field '{field_name}' holds NaN or infinity")
    return arr.reshape(-1, shape_last)


def as_number(value: Any, path: str, what: str, field_name: str) -> float:
    """A finite float from a JSON number; InputError naming the record otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{path}: {what}: field '{field_name}' is not a number") from None
    if not math.isfinite(out):
        raise InputError(f"{path}: {what}: field '{field_name}' is NaN or infinity")
    return out


def as_id(value: Any, path: str, what: str, field_name: str) -> Any:
    """An id as JSON files give them: an integer (an integral float becomes one) or a string."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{path}: {what}: field '{field_name}' must be an integer or a string, "
                         f"got {json.dumps(value, default=str)[:40]}")
    return value


def as_int(value: Any, path: str, what: str, field_name: str) -> int:
    """An integer field (category id, counts): a finite number, truncated as ``int()`` does."""
    return int(as_number(value, path, what, field_name))


def as_text(value: Any, path: str, what: str, field_name: str) -> str:
    """A string field (file names)."""
    if not isinstance(value, str):
        raise InputError(f"{path}: {what}: field '{field_name}' must be a string, "
                         f"got {json.dumps(value, default=str)[:40]}")
    return value


class SkippedRecordsWarning(UserWarning):
    """Records a reader skipped (see the module docstring for the rule)."""


class SkipLog:
    """Count skipped records per reason; :meth:`report` warns once per reason and file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.reasons: Dict[str, List[Any]] = {}

    def add(self, reason: str, what: str) -> None:
        entry = self.reasons.setdefault(reason, [0, what])
        entry[0] += 1

    def report(self) -> Dict[str, int]:
        """Warn (one line per reason) and return ``{reason: count}``."""
        for reason, (count, first) in self.reasons.items():
            warnings.warn(f"{self.path}: {count} record{'s' if count > 1 else ''} skipped: "
                          f"{reason} (first: {first})", SkippedRecordsWarning, stacklevel=3)
        return {reason: entry[0] for reason, entry in self.reasons.items()}


def check_count(n: int, expected: Optional[int], path: str, what: str) -> None:
    """InputError when an annotation's keypoint count is not the schema's."""
    if expected is not None and n != expected:
        raise InputError(f"{path}: {what}: has {n} keypoints, the dataset schema has {expected}")

