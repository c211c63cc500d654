"""COCO-style keypoint annotation files (COCO, AIC, CrowdPose, OCHuman, MHP, Halpe, Sub-JHMDB,
DeepFashion, DeepFashion2, PoseTrack18, COCO-WholeBody) and COCO-format detection results.

Semantics follow MMPose 1.x's ``BaseCocoStyleDataset``: images in file order, each image's
annotations in file order; boxes xywh -> xyxy clipped to ``[0, W-1] x [0, H-1]``; visibility
``min(1, v)``; annotations without ``bbox`` or ``keypoints`` are skipped (as MMPose does).
Bad records: see :mod:`heatpose.data.readers.record` (what is fatal, what is skipped).
"""
from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np

from heatpose.errors import InputError

from .record import (InstanceRecord, SkipLog, as_array, as_id, as_int, as_number, as_text,
                     box_has_no_size, check_count, load_json, require)

# DeepFashion2's 13 category ids; MMPose trains one model per category on a file that holds
# only that category, :func:`read_coco_style` with ``category_ids`` does the same selection.
DEEPFASHION2_CATEGORIES: Dict[str, int] = {
    "short_sleeved_shirt": 1, "long_sleeved_shirt": 2, "short_sleeved_outwear": 3,
    "long_sleeved_outwear": 4, "vest": 5, "sling": 6, "shorts": 7, "trousers": 8, "skirt": 9,
    "short_sleeved_dress": 10, "long_sleeved_dress": 11, "vest_dress": 12, "sling_dress": 13,
}

_WHOLEBODY_PARTS = ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")
_IMAGE_EXTRAS = {"crowdIndex": "crowd_index", "frame_id": "frame_id", "vid_id": "vid_id",
                 "nframes": "nframes", "is_labeled": "is_labeled", "mask_file": "mask_file"}
_ANN_EXTRAS = ("track_id", "bbox_head")


def _index_coco(data: Any, path: str) -> Tuple["OrderedDict[Any, dict]", Dict[Any, List[dict]]]:
    """Images by id (file order) and annotations grouped by image id (file order)."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a COCO-style JSON object with 'images' and "
                         f"'annotations', got a {type(data).__name__}")
    images_raw = require(data, "images", path, "file")
    anns_raw = data.get("annotations", [])
    if not isinstance(images_raw, list) or not isinstance(anns_raw, list):
        raise InputError(f"{path}: 'images' and 'annotations' must be lists")
    images: "OrderedDict[Any, dict]" = OrderedDict()
    for i, img in enumerate(images_raw):
        img_id = as_id(require(img, "id", path, f"image #{i}"), path, f"image #{i}", "id")
        as_text(require(img, "file_name", path, f"image id {img_id}"), path, f"image id {img_id}",
                "file_name")
        for key in ("width", "height"):
            if as_number(require(img, key, path, f"image id {img_id}"), path,
                         f"image id {img_id}", key) <= 0:
                raise InputError(f"{path}: image id {img_id}: field '{key}' is not positive")
        images[img_id] = img
    by_image: Dict[Any, List[dict]] = defaultdict(list)
    for i, ann in enumerate(anns_raw):
        ann_id = as_id(require(ann, "id", path, f"annotation #{i}"), path, f"annotation #{i}",
                       "id")
        img_id = as_id(require(ann, "image_id", path, f"annotation id {ann_id}"), path,
                       f"annotation id {ann_id}", "image_id")
        ann["id"], ann["image_id"] = ann_id, img_id
        ann["category_id"] = as_int(ann.get("category_id", 1), path, f"annotation id {ann_id}",
                                    "category_id")
        if img_id not in images:
            raise InputError(f"{path}: annotation id {ann_id}: image_id {img_id} is not in "
                             "'images'")
        by_image[img_id].append(ann)
    return images, by_image


def _clip_box(ann: dict, img: dict, offset: float, path: str,
              what: str) -> Tuple[np.ndarray, float]:
    """Box xyxy (float32) clipped to the image, and MMPose's fallback area for it."""
    box = ann["bbox"]
    if not isinstance(box, (list, tuple)) or len(box) < 4:
        raise InputError(f"{path}: {what}: field 'bbox' must be [x, y, w, h]")
    x, y, w, h = (as_number(v, path, what, "bbox") for v in box[:4])
    img_w, img_h = float(img["width"]), float(img["height"])
    x -= offset
    y -= offset
    x1, y1 = np.clip(x, 0, img_w - 1), np.clip(y, 0, img_h - 1)
    x2, y2 = np.clip(x + w, 0, img_w - 1), np.clip(y + h, 0, img_h - 1)
    area = float(np.float32(max((x2 - x1) * (y2 - y1) * 0.53, 1.0)))
    return np.array([x1, y1, x2, y2], dtype=np.float32), area


def _parse_ann(ann: dict, img: dict, img_path: str, path: str, num_keypoints: Optional[int],
               matlab_offset: bool, wholebody: bool, skips: SkipLog) -> Optional[InstanceRecord]:
    what = f"annotation id {ann['id']}"
    if "bbox" not in ann or "keypoints" not in ann:
        skips.add("no 'bbox' or 'keypoints' (MMPose skips these)", what)
        return None
    offset = 1.0 if matlab_offset else 0.0
    bbox, fallback_area = _clip_box(ann, img, offset, path, what)
    if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
        skips.add("box empty once clipped to the image (negative or zero size, or outside the "
                  "image; MMPose's top-down filter drops these)", what)
    if wholebody:
        flat: List[Any] = []
        for part in _WHOLEBODY_PARTS:
            value = require(ann, part, path, what)
            flat += list(value) if isinstance(value, list) else [value]
        kpts3 = as_array(flat, 3, path, what, "keypoints")
    else:
        kpts3 = as_array(ann["keypoints"], 3, path, what, "keypoints")
    check_count(len(kpts3), num_keypoints, path, what)
    keypoints = kpts3[:, :2] - np.float32(offset) if matlab_offset else kpts3[:, :2].copy()
    # COCO-WholeBody stores confidences in (0, 1]: any positive value means labelled
    flags = (kpts3[:, 2] > 0) if wholebody else kpts3[:, 2]
    visible = np.minimum(1, flags).astype(np.float32)
    if "num_keypoints" in ann and not matlab_offset:
        num = as_int(ann["num_keypoints"], path, what, "num_keypoints")
    else:
        num = int(np.count_nonzero(keypoints.max(axis=1)))
    if "area" in ann and not matlab_offset:
        area = float(np.float32(as_number(ann["area"], path, what, "area")))
    else:
        area = fallback_area
    extras: Dict[str, Any] = {}
    for src, dst in _IMAGE_EXTRAS.items():
        if src in img:
            extras[dst] = img[src]
    for key in _ANN_EXTRAS:
        if key in ann:
            extras[key] = ann[key]
    return InstanceRecord(
        img_path=img_path, img_id=ann["image_id"], ann_id=ann["id"], bbox=bbox,
        keypoints=keypoints, keypoints_visible=visible, num_keypoints=num, area=area,
        iscrowd=int(bool(ann.get("iscrowd", 0))),
        category_id=ann["category_id"],                   # checked by _index_coco
        img_shape=(int(img["height"]), int(img["width"])), extras=extras)


def read_coco_style(ann_file: str, img_prefix: str = "", num_keypoints: Optional[int] = None,
                    matlab_offset: bool = False, wholebody: bool = False,
                    category_ids: Optional[Iterable[int]] = None) -> List[InstanceRecord]:
    """All instances of a COCO-style keypoint file (unfiltered; see ``filter_topdown``).

    Args:
        ann_file: the JSON file.
        img_prefix: joined before each image's ``file_name`` to give ``img_path``.
        num_keypoints: K the schema expects; an annotation with another count -> InputError.
        matlab_offset: Sub-JHMDB: boxes and keypoints are 1-based, subtract 1 (MMPose's
            ``JhmdbDataset``, which also recomputes ``num_keypoints`` and ``area``).
        wholebody: COCO-WholeBody: body + foot + face + left hand + right hand (133).
        category_ids: keep only these categories (DeepFashion2 per-category selection).
    """
    path = os.fspath(ann_file)
    images, by_image = _index_coco(load_json(path), path)
    keep = None if category_ids is None else {int(c) for c in category_ids}
    records: List[InstanceRecord] = []
    skips = SkipLog(path)
    for img_id, img in images.items():
        img_path = os.path.join(img_prefix, img["file_name"])
        for ann in by_image.get(img_id, ()):
            if keep is not None and ann["category_id"] not in keep:
                continue
            rec = _parse_ann(ann, img, img_path, path, num_keypoints, matlab_offset, wholebody,
                             skips)
            if rec is not None:
                records.append(rec)
    skips.report()
    return records


def read_posetrack18(ann_path: str, img_prefix: str = "",
                     num_keypoints: Optional[int] = 17) -> List[InstanceRecord]:
    """PoseTrack18 merged file, or a folder of per-video files (read in name order).

    Records carry ``frame_id``, ``vid_id``, ``nframes``, ``is_labeled``, ``track_id`` and
    ``bbox_head`` in ``extras``."""
    path = os.fspath(ann_path)
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(".json"))
        if not files:
            raise InputError(f"{path}: folder holds no PoseTrack18 .json files")
        records: List[InstanceRecord] = []
        for name in files:
            records += read_coco_style(os.path.join(path, name), img_prefix, num_keypoints)
        return records
    return read_coco_style(path, img_prefix, num_keypoints)


def read_detections(det_file: str, ann_file: str, num_keypoints: int, img_prefix: str = "",
                    score_thr: float = 0.0) -> List[InstanceRecord]:
    """Person boxes from a COCO detection-results file, as box-only test records.

    Keeps ``category_id == 1`` entries (ids numbered over those) with ``score >= score_thr``;
    boxes are xywh -> xyxy (not clipped); keypoints are zeros and visibility ones, as MMPose's
    ``_load_detection_results``. Image names and sizes come from ``ann_file``."""
    det_path, path = os.fspath(det_file), os.fspath(ann_file)
    images, _ = _index_coco(load_json(path), path)
    dets = load_json(det_path)
    if not isinstance(dets, list):
        raise InputError(f"{det_path}: expected a list of detections, got a "
                         f"{type(dets).__name__}")
    records: List[InstanceRecord] = []
    next_id = 0
    skips = SkipLog(det_path)
    for i, det in enumerate(dets):
        what = f"detection #{i}"
        if require(det, "category_id", det_path, what) != 1:
            continue
        img_id = require(det, "image_id", det_path, what)
        try:
            known = img_id in images
        except TypeError:                                   # an unhashable id (list, object)
            known = False
        if not known:
            raise InputError(f"{det_path}: {what}: image_id {img_id!r} is not an image of {path}")
        box = as_array(require(det, "bbox", det_path, what), 4, det_path, what, "bbox")
        if box.shape[0] != 1:
            raise InputError(f"{det_path}: {what}: field 'bbox' must be [x, y, w, h]")
        box = box[0]
        if box[2] < 0 or box[3] < 0:
            raise InputError(f"{det_path}: {what}: 'bbox' [x, y, w, h] has a negative size "
                             f"{box[2]:g} x {box[3]:g}")
        box[2:] += box[:2]
        score = float(np.float32(as_number(require(det, "score", det_path, what), det_path,
                                           what, "score")))
        ann_id, next_id = next_id, next_id + 1
        if score < score_thr:
            continue
        if box_has_no_size(box):
            skips.add("box of zero width and height", what)
            continue
        img = images[img_id]
        records.append(InstanceRecord(
            img_path=os.path.join(img_prefix, img["file_name"]), img_id=img_id, ann_id=ann_id,
            bbox=box, keypoints=np.zeros((num_keypoints, 2), np.float32),
            keypoints_visible=np.ones(num_keypoints, np.float32), bbox_score=score,
            img_shape=(int(img["height"]), int(img["width"]))))
    skips.report()
    return records
