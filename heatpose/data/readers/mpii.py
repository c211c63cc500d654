"""MPII (HRNet's list JSON) and MPII-TRB annotation files.

Both formats give a crop centre and a scale in 200-pixel units instead of a box; like MMPose's
``MpiiDataset``/``MpiiTrbDataset`` the reader keeps that centre and scale (in pixels) on the
record and derives the box from them.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

import numpy as np

from heatpose.errors import InputError

from .record import (InstanceRecord, as_array, as_id, as_int, as_number, as_text, check_count,
                     load_json, require)

PIXEL_STD = 200.0      # MPII scales are in units of 200 pixels
HEAD_SIZE_BIAS = 0.6   # PCKh normalises by 0.6 x the head-box diagonal


def _cs_to_xyxy(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    xy = center - 0.5 * scale
    return np.concatenate([xy, xy + scale]).astype(np.float32)


def _scale(value, path: str, what: str) -> np.ndarray:
    """(w, h) float32 pixels from a scale in 200-pixel units; it must be a positive number."""
    scale = as_number(value, path, what, "scale")
    if scale <= 0:
        raise InputError(f"{path}: {what}: field 'scale' is {scale:g}, not positive")
    return np.full(2, scale, np.float32) * PIXEL_STD


def _center(value, path: str, what: str) -> np.ndarray:
    """(2,) float32 centre (x, y) in pixels from ``[x, y]``."""
    center = as_array(value, 2, path, what, "center")
    if center.shape[0] != 1:
        raise InputError(f"{path}: {what}: field 'center' must be [x, y]")
    return center[0]


def _area(bbox: np.ndarray) -> float:
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    return float(np.clip(w * h * np.float32(0.53), 1.0, None).astype(np.float32))


def _load_headboxes(headbox_file: str) -> np.ndarray:
    """(N, 2, 2) head boxes (two corners) from MPII's ``mpii_gt_val.mat``."""
    path = os.fspath(headbox_file)
    if not path.endswith(".mat"):
        raise InputError(f"{path}: head boxes must be MPII's .mat file (mpii_gt_val.mat)")
    try:
        from scipy.io import loadmat
    except ImportError:
        raise InputError(f"{path}: reading head boxes needs scipy (pip install scipy)") from None
    try:
        mat = loadmat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: head-box file not found") from None
    except Exception as err:  # scipy raises several types for corrupt files
        raise InputError(f"{path}: not a readable .mat file ({err})") from None
    if "headboxes_src" not in mat:
        raise InputError(f"{path}: no 'headboxes_src' variable")
    return np.transpose(mat["headboxes_src"], [2, 0, 1])


def read_mpii(ann_file: str, img_prefix: str = "", num_keypoints: Optional[int] = 16,
              headbox_file: Optional[str] = None) -> List[InstanceRecord]:
    """MPII list JSON: ``[{image, center, scale, joints, joints_vis}, ...]``.

    The centre moves 15 px x scale down (unless it is -1) and 1 px up-left (1-based MATLAB
    coordinates); scale (w, h) = scale x 200 px; ``ann_id`` is the list index. With
    ``headbox_file`` each record gets ``extras['head_size']`` = 0.6 x head-box diagonal (px).
    """
    path = os.fspath(ann_file)
    anns = load_json(path)
    if not isinstance(anns, list):
        raise InputError(f"{path}: expected MPII's list of annotations, got a "
                         f"{type(anns).__name__}")
    headboxes = _load_headboxes(headbox_file) if headbox_file else None
    if headboxes is not None and len(headboxes) < len(anns):
        raise InputError(f"{headbox_file}: {len(headboxes)} head boxes for {len(anns)} "
                         f"annotations in {path}")
    records: List[InstanceRecord] = []
    for idx, ann in enumerate(anns):
        what = f"annotation #{idx}"
        image = as_text(require(ann, "image", path, what), path, what, "image")
        center = _center(require(ann, "center", path, what), path, what)
        scale = _scale(require(ann, "scale", path, what), path, what)
        if center[0] != -1:
            center[1] = center[1] + 15.0 / PIXEL_STD * scale[1]
        center = center - 1
        keypoints = as_array(require(ann, "joints", path, what), 2, path, what, "joints")
        visible = as_array(require(ann, "joints_vis", path, what), 1, path, what,
                           "joints_vis")[:, 0]
        check_count(len(keypoints), num_keypoints, path, what)
        if len(visible) != len(keypoints):
            raise InputError(f"{path}: {what}: {len(visible)} 'joints_vis' for "
                             f"{len(keypoints)} 'joints'")
        try:
            img_id = int(str(image).split(".")[0])
        except ValueError:
            raise InputError(f"{path}: {what}: image name {image!r} is not numeric") from None
        bbox = _cs_to_xyxy(center, scale)
        extras: dict = {}
        if headboxes is not None:
            hb = headboxes[idx]
            extras["head_size"] = float(np.linalg.norm(hb[1] - hb[0]) * HEAD_SIZE_BIAS)
        records.append(InstanceRecord(
            img_path=os.path.join(img_prefix, image), img_id=img_id, ann_id=idx, bbox=bbox,
            keypoints=keypoints, keypoints_visible=visible, area=_area(bbox),
            category_id=as_int(ann.get("category_id", 1), path, what, "category_id"),
            bbox_center=center, bbox_scale=scale, extras=extras))
    return records


def read_mpii_trb(ann_file: str, img_prefix: str = "",
                  num_keypoints: Optional[int] = 40) -> List[InstanceRecord]:
    """MPII-TRB JSON (COCO-like ``images``/``annotations`` with ``center``, ``scale``,
    ``keypoints``, ``num_joints``), sorted by annotation id as MMPose does. The centre is used
    as given (no MPII offsets); ``extras['headbox']`` holds the head box when present."""
    path = os.fspath(ann_file)
    data: Any = load_json(path)
    images = require(data, "images", path, "file")
    anns = require(data, "annotations", path, "file")
    if not isinstance(images, list) or not isinstance(anns, list):
        raise InputError(f"{path}: 'images' and 'annotations' must be lists")
    names = {as_id(require(img, "id", path, f"image #{i}"), path, f"image #{i}", "id"):
             as_text(require(img, "file_name", path, f"image #{i}"), path, f"image #{i}",
                     "file_name")
             for i, img in enumerate(images)}
    records: List[InstanceRecord] = []
    for i, ann in enumerate(anns):
        ann_id = as_id(require(ann, "id", path, f"annotation #{i}"), path, f"annotation #{i}",
                       "id")
        what = f"annotation id {ann_id}"
        img_id = as_id(require(ann, "image_id", path, what), path, what, "image_id")
        if img_id not in names:
            raise InputError(f"{path}: {what}: image_id {img_id} is not in 'images'")
        center = _center(require(ann, "center", path, what), path, what)
        scale = _scale(require(ann, "scale", path, what), path, what)
        kpts3 = as_array(require(ann, "keypoints", path, what), 3, path, what, "keypoints")
        check_count(len(kpts3), num_keypoints, path, what)
        bbox = _cs_to_xyxy(center, scale)
        extras: dict = {}
        if "headbox" in ann:
            extras["headbox"] = as_array(ann["headbox"], 4, path, what, "headbox")[0]
        records.append(InstanceRecord(
            img_path=os.path.join(img_prefix, names[img_id]), img_id=img_id, ann_id=ann_id,
            bbox=bbox, keypoints=kpts3[:, :2].copy(),
            keypoints_visible=np.minimum(1, kpts3[:, 2]).astype(np.float32),
            num_keypoints=as_int(require(ann, "num_joints", path, what), path, what, "num_joints"),
            area=_area(bbox), iscrowd=int(bool(ann.get("iscrowd", 0))),
            category_id=as_int(ann.get("category_id", 1), path, what, "category_id"),
            bbox_center=center, bbox_scale=scale, extras=extras))
    records.sort(key=lambda r: r.ann_id)
    return records
