"""Annotation readers: one function per file format, all returning :class:`InstanceRecord` lists.

``read_dataset(name, ann_file, ...)`` picks the reader for a dataset name, checks keypoint counts
against ``heatpose.schema.get_schema(name)`` and applies MMPose's top-down instance filter.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

from heatpose.errors import InputError

from .coco import DEEPFASHION2_CATEGORIES, read_coco_style, read_detections, read_posetrack18
from .mpii import read_mpii, read_mpii_trb
from .record import InstanceRecord, filter_topdown, is_valid_instance, load_json

__all__ = ["InstanceRecord", "DEEPFASHION2_CATEGORIES", "DATASET_FORMATS", "filter_topdown",
           "is_valid_instance", "load_json", "read_coco_style", "read_dataset",
           "read_detections", "read_mpii", "read_mpii_trb", "read_posetrack18"]

# dataset name -> (annotation format, keypoint count used when no schema module is present)
DATASET_FORMATS = {
    "coco": ("coco", 17), "ochuman": ("coco", 17), "aic": ("coco", 14), "mhp": ("coco", 16),
    "crowdpose": ("coco", 14), "halpe": ("coco", 136), "deepfashion_upper": ("coco", 6),
    "deepfashion_lower": ("coco", 4), "deepfashion_full": ("coco", 8),
    "deepfashion2": ("coco", 294), "posetrack18": ("posetrack18", 17), "jhmdb": ("jhmdb", 15),
    "coco_wholebody": ("wholebody", 133), "mpii": ("mpii", 16), "mpii_trb": ("mpii_trb", 40),
    # COCO-format datasets of the recipes (MMPose's HumanArt/Exlpose/UBody2d datasets are
    # BaseCocoStyleDataset / CocoWholeBodyDataset subclasses)
    "humanart": ("coco", 17), "exlpose": ("coco", 14), "ubody": ("wholebody", 133),
}


def _num_keypoints(name: str) -> int:
    try:
        from heatpose.schema import get_schema
    except ImportError:
        return DATASET_FORMATS[name][1]
    try:
        return get_schema(name).num_keypoints
    except (KeyError, LookupError, ValueError):
        return DATASET_FORMATS[name][1]


def read_dataset(name: str, ann_file: str, img_prefix: str = "", bbox_file: Optional[str] = None,
                 score_thr: float = 0.0, headbox_file: Optional[str] = None,
                 category_ids: Optional[Iterable[int]] = None,
                 filter_invalid: bool = True) -> List[InstanceRecord]:
    """Top-down instance records of a dataset, as MMPose's ``<Name>Dataset`` lists them.

    Args:
        name: dataset name (keys of ``DATASET_FORMATS``: coco, mpii, crowdpose, ...).
        ann_file: annotation file (PoseTrack18: merged file or folder of per-video files).
        img_prefix: joined before image file names (``img_path`` is relative to a data root).
        bbox_file: COCO-format detection results: box-only test records (person category,
            ``score >= score_thr``) with images from ``ann_file``; no filtering is applied.
        headbox_file: MPII's ``mpii_gt_val.mat`` for ``extras['head_size']``.
        category_ids: category selection (DeepFashion2 per-category models).
        filter_invalid: apply MMPose's top-down filter (crowd, no keypoints, empty boxes).
    """
    if name not in DATASET_FORMATS:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASET_FORMATS))}")
    fmt = DATASET_FORMATS[name][0]
    k = _num_keypoints(name)
    if bbox_file:
        if fmt in ("mpii", "mpii_trb"):
            raise InputError(f"{bbox_file}: detection files are supported for COCO-style "
                             f"datasets, not {name}")
        return read_detections(bbox_file, ann_file, k, img_prefix, score_thr)
    if headbox_file and fmt != "mpii":
        raise InputError(f"{headbox_file}: head-box files only apply to MPII")
    if fmt == "mpii":
        records = read_mpii(ann_file, img_prefix, k, headbox_file)
    elif fmt == "mpii_trb":
        records = read_mpii_trb(ann_file, img_prefix, k)
    elif fmt == "posetrack18":
        records = read_posetrack18(ann_file, img_prefix, k)
    else:
        records = read_coco_style(ann_file, img_prefix, k, matlab_offset=(fmt == "jhmdb"),
                                  wholebody=(fmt == "wholebody"), category_ids=category_ids)
    return filter_topdown(records) if filter_invalid else records


