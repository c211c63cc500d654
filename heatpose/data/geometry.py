"""Box and crop geometry shared by inference and training (MMPose 1.x conventions).

All coordinates are pixels in (x, y) order. ``center`` and ``scale`` describe the crop
window in the image: ``scale`` is its (width, height) in pixels, not MMPose 0.x's /200 units.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np


def bbox_xyxy2cs(bboxes: np.ndarray, padding: float = 1.25) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy boxes -> centers (N, 2) and scales (N, 2) = box size x padding."""
    bboxes = np.asarray(bboxes, dtype=np.float32)
    center = (bboxes[..., 2:] + bboxes[..., :2]) * 0.5
    scale = (bboxes[..., 2:] - bboxes[..., :2]) * padding
    return center, scale


def bbox_xywh2xyxy(bboxes: np.ndarray) -> np.ndarray:
    """(N, 4) xywh -> xyxy (pixels)."""
    bboxes = np.array(bboxes, dtype=np.float32, copy=True)
    bboxes[..., 2:] += bboxes[..., :2]
    return bboxes


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow (w, h) scales (N, 2) to the aspect ratio w / h, as MMPose's TopdownAffine."""
    scale = np.asarray(scale, dtype=np.float32)
    w, h = scale[..., 0:1], scale[..., 1:2]
    return np.where(w > h * aspect_ratio,
                    np.concatenate([w, w / aspect_ratio], axis=-1),
                    np.concatenate([h * aspect_ratio, h], axis=-1)).astype(np.float32)


def _rotate_point(pt: np.ndarray, angle_rad: float) -> np.ndarray:
    sn, cs = np.sin(angle_rad), np.cos(angle_rad)
    return np.array([[cs, -sn], [sn, cs]]) @ pt


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.r_[-d[1], d[0]]


def get_warp_matrix(center: Sequence[float], scale: Sequence[float], rot: float,
                    output_size: Sequence[int], shift: Sequence[float] = (0.0, 0.0),
                    inv: bool = False) -> np.ndarray:
    """2x3 affine matrix mapping the crop window (center, scale (w, h), rotation in degrees)
    onto an ``output_size`` (w, h) image; ``inv`` gives the reverse mapping."""
    center = np.asarray(center)
    scale = np.asarray(scale)
    shift = np.asarray(shift)
    src_w = scale[0]
    dst_w, dst_h = output_size[0], output_size[1]
    rot_rad = np.deg2rad(rot)
    src_dir = _rotate_point(np.array([src_w * -0.5, 0.0]), rot_rad)
    dst_dir = np.array([dst_w * -0.5, 0.0])
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * shift
    src[1] = center + src_dir + scale * shift
    src[2] = _third_point(src[0], src[1])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def get_udp_warp_matrix(center: Sequence[float], scale: Sequence[float], rot: float,
                        output_size: Sequence[int]) -> np.ndarray:
    """UDP (unbiased data processing) 2x3 crop matrix: pixel centres map to pixel centres,
    scaling by (W_out - 1) / w and (H_out - 1) / h."""
    center = np.asarray(center)
    input_size = center * 2
    rot_rad = np.deg2rad(rot)
    m = np.zeros((2, 3), dtype=np.float32)
    sx = (output_size[0] - 1) / scale[0]
    sy = (output_size[1] - 1) / scale[1]
    c, s = math.cos(rot_rad), math.sin(rot_rad)
    m[0, 0] = c * sx
    m[0, 1] = -s * sx
    m[0, 2] = sx * (-0.5 * input_size[0] * c + 0.5 * input_size[1] * s + 0.5 * scale[0])
    m[1, 0] = s * sy
    m[1, 1] = c * sy
    m[1, 2] = sy * (-0.5 * input_size[0] * s - 0.5 * input_size[1] * c + 0.5 * scale[1])
    return m


def crop_matrix(center: Sequence[float], scale: Sequence[float], rot: float,
                input_size: Sequence[int], use_udp: bool) -> np.ndarray:
    """The crop matrix the codec's convention asks for (UDP or MMPose's plain one)."""
    if use_udp:
        return get_udp_warp_matrix(center, scale, rot, input_size)
    return get_warp_matrix(center, scale, rot, input_size)


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """Bilinear affine warp with a constant 0 border; output (h, w, C) for size (w, h)."""
    return cv2.warpAffine(image, matrix, (int(output_size[0]), int(output_size[1])),
                          flags=cv2.INTER_LINEAR)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points (..., 2)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def crop_to_image(keypoints: np.ndarray, input_size: Sequence[int], centers: np.ndarray,
                  scales: np.ndarray) -> np.ndarray:
    """Keypoints (N, K, 2) in input-crop pixels -> image pixels (MMPose's rule:
    ``kp / input_size * scale + center - 0.5 * scale``)."""
    size = np.asarray(input_size, dtype=np.float32)
    scales = np.asarray(scales)[:, None, :]
    return keypoints / size * scales + np.asarray(centers)[:, None, :] - 0.5 * scales
