"""Top-down sample transforms (MMPose 1.x train/test pipeline) as plain numpy/OpenCV functions.

One function per pipeline step, applied in this order:

    box_to_center_scale -> random_flip -> random_half_body -> random_bbox_transform
    -> topdown_affine -> generate_target

Every random step is split in two: ``draw_*`` takes a ``numpy.random.Generator`` and returns
plain numbers, and a deterministic ``apply_*``/geometry function uses them. Tests feed the same
numbers to MMPose and to heatpose. Coordinates are pixels in (x, y) order; ``scale`` is the
crop window's (width, height) in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from heatpose.data.geometry import bbox_xyxy2cs, crop_matrix, fix_aspect_ratio, warp_image

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
BBOX_PADDING = 1.25          # MMPose ``GetBBoxCenterScale`` default: crop = box x 1.25
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


@dataclass
class TopdownSample:
    """One instance on its way from an image to network input and targets.

    Attributes:
        image: (H, W, 3) uint8 BGR image (the whole image until ``topdown_affine``, then
            the (h, w) crop of ``input_size``).
        bbox: (4,) float32 box xyxy in image pixels.
        keypoints: (K, 2) float32 keypoints in image pixels.
        keypoints_visible: (K,) float32 visibility in {0, 1}.
        center, scale: (2,) float32 crop centre and (w, h) in image pixels.
        rotation: crop rotation in degrees (MMPose's warp-matrix convention); a float32 scalar
            after ``apply_bbox_transform``, as in MMPose, so that crops match it bit for bit.
        flipped: whether ``flip_horizontal`` was applied.
        input_keypoints: (K, 2) float32 keypoints in crop pixels (after ``topdown_affine``).
        warp_matrix: (2, 3) image -> crop matrix.
        heatmaps, keypoint_weights: codec targets (K, h, w) and (K,) (after ``generate_target``).
    """

    image: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    keypoints_visible: np.ndarray
    center: Optional[np.ndarray] = None
    scale: Optional[np.ndarray] = None
    rotation: float = 0.0
    flipped: bool = False
    input_size: Optional[Tuple[int, int]] = None
    input_keypoints: Optional[np.ndarray] = None
    warp_matrix: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None
    keypoint_weights: Optional[np.ndarray] = None
    meta: Dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- box -> crop window
def box_to_center_scale(sample: TopdownSample, padding: float = BBOX_PADDING,
                        center: Optional[np.ndarray] = None,
                        scale: Optional[np.ndarray] = None) -> TopdownSample:
    """Crop window from the box: centre = box centre, scale = box (w, h) x ``padding``.

    Where the annotation gives its own centre/scale (MPII) pass them: MMPose then pads that
    scale instead of the box's (GetBBoxCenterScale)."""
    if center is not None and scale is not None:
        sample.center = np.asarray(center, np.float32).copy()
        sample.scale = np.asarray(scale, np.float32) * np.float32(padding)
    else:
        c, s = bbox_xyxy2cs(sample.bbox[None], padding=padding)
        sample.center, sample.scale = c[0], s[0]
    return sample


# --------------------------------------------------------------------------- flip
def flip_horizontal(sample: TopdownSample, flip_indices: Sequence[int]) -> TopdownSample:
    """Mirror the image left-right; x -> W - 1 - x for keypoints, box and centre, and swap
    left/right keypoint channels (``new[i] = old[flip_indices[i]]``), as MMPose's RandomFlip."""
    w = sample.image.shape[1]
    idx = np.asarray(flip_indices, dtype=np.int64)
    sample.image = cv2.flip(sample.image, 1)        # = image[:, ::-1], ~40x faster than numpy
    sample.bbox = sample.bbox.copy()
    sample.bbox[0::2] = w - sample.bbox[2::-2] - 1
    if sample.center is not None:
        sample.center = sample.center.copy()
        sample.center[0] = w - sample.center[0] - 1
    kpts = sample.keypoints[idx].copy()
    kpts[:, 0] = w - 1 - kpts[:, 0]
    sample.keypoints = kpts
    sample.keypoints_visible = sample.keypoints_visible[idx].copy()
    sample.flipped = not sample.flipped
    return sample


@dataclass(frozen=True)
class FlipConfig:
    """MMPose 1.x ``RandomFlip`` default (horizontal)."""
    prob: float = 0.5


def draw_flip(rng: np.random.Generator, prob: float = FlipConfig.prob) -> bool:
    """Whether to flip: one uniform draw below ``prob``."""
    return bool(rng.random() < prob)


def random_flip(sample: TopdownSample, flip_indices: Sequence[int], rng: np.random.Generator,
                prob: float = FlipConfig.prob) -> TopdownSample:
    """``flip_horizontal`` with probability ``prob``."""
    return flip_horizontal(sample, flip_indices) if draw_flip(rng, prob) else sample


# --------------------------------------------------------------------------- half body
@dataclass(frozen=True)
class HalfBodyConfig:
    """MMPose 1.3.2 ``RandomHalfBody`` defaults (its code, not its docstring: 9 / 2 / 3)."""
    min_total_keypoints: int = 9
    min_upper_keypoints: int = 2
    min_lower_keypoints: int = 3
    padding: float = 1.5
    prob: float = 0.3
    upper_prioritized_prob: float = 0.7


def draw_half_body(rng: np.random.Generator) -> Tuple[float, float]:
    """Two uniforms: (apply draw, compared with ``prob``; upper-body draw, compared with
    ``upper_prioritized_prob``)."""
    return float(rng.random()), float(rng.random())


def select_half_body(visible: np.ndarray, upper_ids: Sequence[int], lower_ids: Sequence[int],
                     draws: Tuple[float, float],
                     cfg: HalfBodyConfig = HalfBodyConfig()) -> Optional[List[int]]:
    """Keypoint ids whose box becomes the crop, or None to keep the whole body."""
    if visible.sum() < cfg.min_total_keypoints or draws[0] > cfg.prob:
        return None
    upper = [i for i in upper_ids if visible[i] > 0]
    lower = [i for i in lower_ids if visible[i] > 0]
    upper_ok = len(upper) >= cfg.min_upper_keypoints
    lower_ok = len(lower) >= cfg.min_lower_keypoints
    if not upper_ok and not lower_ok:
        return None
    if not lower_ok:
        return upper
    if not upper_ok:
        return lower
    return upper if draws[1] < cfg.upper_prioritized_prob else lower


def half_body_center_scale(keypoints: np.ndarray, ids: Sequence[int],
                           padding: float = 1.5) -> Tuple[np.ndarray, np.ndarray]:
    """Centre = mean of the chosen keypoints; scale = their extent (w, h) x ``padding``."""
    pts = keypoints[list(ids)]
    center = pts.mean(axis=0)
    scale = (pts.max(axis=0) - pts.min(axis=0)) * np.asarray(padding, dtype=center.dtype)
    return center.astype(np.float32), scale.astype(np.float32)


def apply_half_body(sample: TopdownSample, upper_ids: Sequence[int], lower_ids: Sequence[int],
                    draws: Tuple[float, float],
                    cfg: HalfBodyConfig = HalfBodyConfig()) -> TopdownSample:
    """Replace the crop window by the half-body box when ``select_half_body`` picks one."""
    ids = select_half_body(sample.keypoints_visible, upper_ids, lower_ids, draws, cfg)
    if ids is not None:
        sample.center, sample.scale = half_body_center_scale(sample.keypoints, ids, cfg.padding)
    return sample


def random_half_body(sample: TopdownSample, upper_ids: Sequence[int], lower_ids: Sequence[int],
                     rng: np.random.Generator,
                     cfg: HalfBodyConfig = HalfBodyConfig()) -> TopdownSample:
    """MMPose's RandomHalfBody with draws from ``rng``."""
    return apply_half_body(sample, upper_ids, lower_ids, draw_half_body(rng), cfg)


# --------------------------------------------------------------------------- shift/scale/rotate
@dataclass(frozen=True)
class BBoxTransformConfig:
    """MMPose 1.x ``RandomBBoxTransform`` defaults."""
    shift_factor: float = 0.16
    shift_prob: float = 0.3
    scale_factor: Tuple[float, float] = (0.5, 1.5)
    scale_prob: float = 1.0
    rotate_factor: float = 80.0
    rotate_prob: float = 0.6


@dataclass(frozen=True)
class BBoxDraws:
    """Random numbers of one box transform: ``normal`` = 4 standard normals truncated to
    [-1, 1] (shift x, shift y, scale, rotation), and three uniforms deciding whether shift,
    scale and rotation apply."""
    normal: Tuple[float, float, float, float]
    u_shift: float
    u_scale: float
    u_rotate: float


def truncated_normal(rng: np.random.Generator, size: int, bound: float = 1.0) -> np.ndarray:
    """Standard normal samples conditioned on |x| <= bound (rejection sampling)."""
    out = np.empty(0, dtype=np.float64)
    while out.size < size:
        x = rng.standard_normal(2 * (size - out.size) + 4)
        out = np.concatenate([out, x[np.abs(x) <= bound]])
    return out[:size]


def draw_bbox_transform(rng: np.random.Generator) -> BBoxDraws:
    """Draws for ``apply_bbox_transform`` (truncated normal like MMPose's scipy truncnorm)."""
    n = truncated_normal(rng, 4).astype(np.float32)
    u = rng.random(3)
    return BBoxDraws(tuple(float(v) for v in n), float(u[0]), float(u[1]), float(u[2]))


def bbox_transform_params(draws: BBoxDraws, cfg: BBoxTransformConfig = BBoxTransformConfig()
                          ) -> Tuple[np.ndarray, np.float32, np.float32]:
    """(offset (2,) as a fraction of scale, scale factor, rotation in degrees), float32."""
    n = np.asarray(draws.normal, dtype=np.float32)
    offset = n[:2] * np.float32(cfg.shift_factor) if draws.u_shift < cfg.shift_prob \
        else np.zeros(2, np.float32)
    lo, hi = cfg.scale_factor
    factor = n[2] * np.float32((hi - lo) * 0.5) + np.float32((hi + lo) * 0.5) \
        if draws.u_scale < cfg.scale_prob else np.float32(1.0)
    rot = n[3] * np.float32(cfg.rotate_factor) if draws.u_rotate < cfg.rotate_prob \
        else np.float32(0.0)
    return offset.astype(np.float32), np.float32(factor), np.float32(rot)


def apply_bbox_transform(sample: TopdownSample, draws: BBoxDraws,
                         cfg: BBoxTransformConfig = BBoxTransformConfig()) -> TopdownSample:
    """Shift the centre by offset x scale, multiply the scale, set the rotation."""
    offset, factor, rot = bbox_transform_params(draws, cfg)
    sample.center = (sample.center + offset * sample.scale).astype(np.float32)
    sample.scale = (sample.scale * factor).astype(np.float32)
    sample.rotation = rot
    return sample


def random_bbox_transform(sample: TopdownSample, rng: np.random.Generator,
                          cfg: BBoxTransformConfig = BBoxTransformConfig()) -> TopdownSample:
    """MMPose's RandomBBoxTransform with draws from ``rng``."""
    return apply_bbox_transform(sample, draw_bbox_transform(rng), cfg)


# --------------------------------------------------------------------------- crop + targets
def topdown_affine(sample: TopdownSample, input_size: Tuple[int, int],
                   use_udp: bool) -> TopdownSample:
    """Grow the window to the input aspect ratio, crop ``input_size`` (w, h) pixels with the
    plain or UDP matrix and map keypoints into the crop.

    Keypoints that land outside the crop keep their visibility, as in MMPose; the codec gives
    them zero weight."""
    w, h = int(input_size[0]), int(input_size[1])
    sample.scale = fix_aspect_ratio(sample.scale[None], w / h)[0]
    mat = crop_matrix(sample.center, sample.scale, sample.rotation, (w, h), use_udp)
    sample.image = warp_image(sample.image, mat, (w, h))
    pts = np.ascontiguousarray(sample.keypoints, dtype=np.float32).reshape(-1, 1, 2)
    sample.input_keypoints = cv2.transform(pts, mat).reshape(-1, 2)
    sample.warp_matrix = mat
    sample.input_size = (w, h)
    return sample


def generate_target(sample: TopdownSample, codec: Any,
                    joint_weights: Optional[Sequence[float]] = None) -> TopdownSample:
    """Codec targets from the crop keypoints: heatmaps (K, h, w) and weights (K,); weights are
    multiplied by the dataset's joint weights when given (use_dataset_keypoint_weights)."""
    heatmaps, weights = codec.encode(sample.input_keypoints[None],
                                     sample.keypoints_visible[None])
    weights = np.asarray(weights, dtype=np.float32)[0]
    if joint_weights is not None and len(joint_weights):
        weights = weights * np.asarray(joint_weights, dtype=np.float32)
    sample.heatmaps = np.asarray(heatmaps, dtype=np.float32)
    sample.keypoint_weights = weights
    return sample


def normalize_batch(images: "torch.Tensor", bgr_to_rgb: bool = True) -> "torch.Tensor":
    """uint8 (N, 3, H, W) BGR batch -> float32 RGB normalised by ImageNet mean/std (on the
    tensor's device), as MMPose's PoseDataPreprocessor."""
    import torch
    x = images.float()
    if bgr_to_rgb:
        x = x.flip(1)
    mean = torch.tensor(IMAGENET_MEAN_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def hwc_to_chw(image: np.ndarray) -> np.ndarray:
    """(H, W, C) -> contiguous (C, H, W) (uint8 with up to 4 channels: cv2.split into the
    planes, faster than numpy's strided copy)."""
    if image.dtype == np.uint8 and image.ndim == 3 and 1 < image.shape[2] <= 4:
        out = np.empty((image.shape[2],) + image.shape[:2], np.uint8)
        planes = cv2.split(np.ascontiguousarray(image), list(out))
        if planes[0].ctypes.data == out.ctypes.data:      # written in place, as asked
            return out
    return np.ascontiguousarray(image.transpose(2, 0, 1))
