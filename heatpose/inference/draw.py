"""Drawing poses and heatmaps on images (OpenCV; returns new images, never edits the input).

Images are (H, W, 3) uint8 in BGR order as OpenCV reads them (pass ``rgb=True`` for RGB).
Schema colours are (R, G, B), as MMPose stores them; they are reversed for BGR images.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from heatpose.data.geometry import bbox_xyxy2cs, fix_aspect_ratio
from heatpose.errors import InputError
from heatpose.inference.pipeline import DRAW_KPT_THR
from heatpose.schema.base import KeypointSchema

__all__ = ["draw_poses", "overlay_heatmaps", "default_sizes"]

Color = Tuple[int, int, int]
# fallback colours (RGB) for schemas that define none
_PALETTE: Tuple[Color, ...] = ((255, 128, 0), (51, 153, 255), (0, 255, 0), (255, 51, 255),
                               (255, 255, 0), (0, 255, 255), (255, 0, 0), (128, 0, 255))


def _as_image(image: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) copy of ``image`` (grayscale is expanded to 3 channels)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}")
    return np.ascontiguousarray(image).copy()


def _color(rgb: Sequence[int], image_is_rgb: bool) -> Color:
    r, g, b = (int(c) for c in rgb)
    return (r, g, b) if image_is_rgb else (b, g, r)


def default_sizes(image_shape: Sequence[int]) -> Tuple[int, int]:
    """Keypoint radius and line thickness in pixels for an image of shape (h, w, ...):
    4 and 2 for a 640-pixel image, scaled with the longer side, at least 1."""
    side = max(image_shape[0], image_shape[1])
    return max(1, int(round(side / 160))), max(1, int(round(side / 320)))


def draw_poses(image: np.ndarray, keypoints: np.ndarray, scores: Optional[np.ndarray],
               schema: KeypointSchema, kpt_thr: float = DRAW_KPT_THR,
               boxes: Optional[np.ndarray] = None,
               radius: Optional[int] = None, thickness: Optional[int] = None,
               box_color: Color = (0, 255, 0), rgb: bool = False,
               box_scores: Optional[Sequence[float]] = None) -> np.ndarray:
    """Draw skeletons on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8, BGR (or RGB with ``rgb=True``).
        keypoints: (N, K, 2) (or (K, 2)) pixel coordinates (x, y) in the image.
        scores: (N, K) keypoint scores, or None to draw every keypoint.
        schema: gives the skeleton links and the (R, G, B) colours; K must match.
        kpt_thr: keypoints with score <= kpt_thr are not drawn, nor links touching them.
        boxes: optional (N, 4) xyxy boxes, drawn as rectangles in ``box_color`` (R, G, B).
        radius, thickness: keypoint radius and line width in pixels (default: by image size).
        box_scores: optional (N,) scores written above the boxes (two decimals).

    Returns:
        A new (H, W, 3) uint8 image.
    """
    canvas = _as_image(image)
    kpts = np.asarray(keypoints, dtype=np.float64)
    if kpts.ndim == 2:
        kpts = kpts[None]
    k = schema.num_keypoints
    if kpts.ndim != 3 or kpts.shape[1:] != (k, 2):
        raise InputError(f"keypoints of shape {np.shape(keypoints)} do not fit the "
                         f"{schema.name!r} schema: expected (N, {k}, 2)")
    n = len(kpts)
    scr = np.ones((n, k)) if scores is None else np.asarray(scores, dtype=np.float64)
    if scr.size != n * k:
        raise InputError(f"scores of shape {np.shape(scores)} do not match keypoints "
                         f"{kpts.shape[:2]}")
    scr = scr.reshape(n, k)
    d_radius, d_thick = default_sizes(canvas.shape)
    radius = d_radius if radius is None else int(radius)
    thickness = d_thick if thickness is None else int(thickness)

    if radius < 1 or thickness < 1:
        raise InputError(f"radius {radius} and thickness {thickness} must be at least 1 pixel")
    if boxes is not None:
        _draw_boxes(canvas, boxes, box_scores, _color(box_color, rgb), thickness)

    kpt_colors = [_color(schema.keypoint_colors[i] if i < len(schema.keypoint_colors)
                         else _PALETTE[i % len(_PALETTE)], rgb) for i in range(k)]
    link_colors = [_color(schema.skeleton_colors[j] if j < len(schema.skeleton_colors)
                          else _PALETTE[j % len(_PALETTE)], rgb)
                   for j in range(len(schema.skeleton))]
    visible = (scr > kpt_thr) & np.all(np.isfinite(kpts), axis=2)
    pix = np.zeros(kpts.shape, dtype=np.int64)
    pix[visible] = np.round(kpts[visible]).astype(np.int64)
    for person in range(n):
        for j, (a, b) in enumerate(schema.skeleton):
            if visible[person, a] and visible[person, b]:
                cv2.line(canvas, tuple(int(v) for v in pix[person, a]),
                         tuple(int(v) for v in pix[person, b]), link_colors[j], thickness,
                         cv2.LINE_AA)
        for i in np.flatnonzero(visible[person]):
            cv2.circle(canvas, tuple(int(v) for v in pix[person, i]), radius, kpt_colors[i],
                       -1, cv2.LINE_AA)
    return canvas


def _draw_boxes(canvas: np.ndarray, boxes: np.ndarray, scores: Optional[Sequence[float]],
                color: Color, thickness: int) -> None:
    """Rectangles (N, 4) xyxy, with the score above each when ``scores`` is given."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if scores is not None and len(np.ravel(scores)) != len(boxes):
        raise InputError(f"{len(np.ravel(scores))} box scores for {len(boxes)} boxes")
    font = max(0.4, max(canvas.shape[:2]) / 1600)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if not np.all(np.isfinite([x1, y1, x2, y2])):
            continue
        top_left = (int(round(x1)), int(round(y1)))
        cv2.rectangle(canvas, top_left, (int(round(x2)), int(round(y2))), color, thickness,
                      cv2.LINE_AA)
        if scores is not None:
            text = f"{float(np.ravel(scores)[i]):.2f}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
            y = max(top_left[1], th + base)
            cv2.rectangle(canvas, (top_left[0], y - th - base), (top_left[0] + tw, y), color,
                          -1)
            cv2.putText(canvas, text, (top_left[0], y - base), cv2.FONT_HERSHEY_SIMPLEX, font,
                        (0, 0, 0), 1, cv2.LINE_AA)


def _heatmap_to_image_matrix(hm_size: Tuple[int, int], center: np.ndarray,
                             scale: np.ndarray) -> np.ndarray:
    """2x3 matrix taking heatmap pixels (x, y) to image pixels:
    ``p / hm_size * scale + center - scale / 2`` (the non-UDP decode rule)."""
    sx, sy = scale[0] / hm_size[0], scale[1] / hm_size[1]
    return np.array([[sx, 0.0, center[0] - 0.5 * scale[0]],
                     [0.0, sy, center[1] - 0.5 * scale[1]]], dtype=np.float64)


def overlay_heatmaps(image: np.ndarray, heatmaps: np.ndarray, box: Optional[Sequence[float]] = None,
                     center: Optional[Sequence[float]] = None,
                     scale: Optional[Sequence[float]] = None, padding: float = 1.25,
                     alpha: float = 0.6, normalize: bool = True,
                     colormap: int = cv2.COLORMAP_JET, rgb: bool = False) -> np.ndarray:
    """Blend the maximum over channels of ``heatmaps`` onto a copy of ``image``.

    Args:
        image: (H, W, 3) uint8, BGR (or RGB with ``rgb=True``).
        heatmaps: (K, h, w) or (h, w) float heatmaps of one person.
        box: the person's (4,) xyxy box; the heatmap then covers the box grown by
            ``padding`` and to the heatmap's aspect ratio, as in top-down cropping.
        center, scale: the crop window directly: centre (x, y) and size (w, h) in pixels.
            Without box or center/scale the heatmap is stretched over the whole image.
        alpha: opacity where the heatmap is at its maximum; zero heat leaves pixels unchanged.
        normalize: divide by the maximum so the peak gets the full colour.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    canvas = _as_image(image)
    hms = np.asarray(heatmaps, dtype=np.float32)
    if hms.ndim == 2:
        hms = hms[None]
    if hms.ndim != 3 or min(hms.shape) == 0:
        raise InputError(f"expected heatmaps of shape (K, h, w), got {np.shape(heatmaps)}")
    heat = np.clip(hms.max(axis=0), 0.0, None)
    if normalize and heat.max() > 0:
        heat = heat / heat.max()
    heat = np.clip(heat, 0.0, 1.0)
    h_img, w_img = canvas.shape[:2]
    hm_size = (hms.shape[2], hms.shape[1])
    if box is not None:
        c, s = bbox_xyxy2cs(np.asarray(box, dtype=np.float32).reshape(1, 4), padding)
        s = fix_aspect_ratio(s, hm_size[0] / hm_size[1])
        ctr, scl = c[0], s[0]
    elif center is not None and scale is not None:
        ctr, scl = np.asarray(center, np.float64), np.asarray(scale, np.float64)
    elif center is None and scale is None:
        ctr, scl = np.array([w_img / 2, h_img / 2]), np.array([w_img, h_img], np.float64)
    else:
        raise InputError("overlay_heatmaps needs both center and scale (or a box)")
    matrix = _heatmap_to_image_matrix(hm_size, np.asarray(ctr, np.float64),
                                      np.asarray(scl, np.float64))
    heat_img = cv2.warpAffine(heat, matrix, (w_img, h_img), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    colored = cv2.applyColorMap(np.round(heat_img * 255).astype(np.uint8), colormap)
    if rgb:
        colored = colored[..., ::-1]
    weight = (alpha * np.clip(heat_img, 0.0, 1.0))[..., None]
    blended = canvas.astype(np.float32) * (1.0 - weight) + colored.astype(np.float32) * weight
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
