"""MSRA Gaussian heatmaps (SimpleBaseline / HRNet) and DARK (``unbiased=True``).

Numerically the same as MMPose 1.3.2's ``MSRAHeatmap``: targets are unnormalised Gaussians
(peak 1) on a heatmap grid of stride input/heatmap; decoding is argmax + quarter-pixel step
(plain) or blur + log + Newton step (DARK), scaled back by the same stride.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Tuple

import numpy as np

from heatpose.codecs.refine import heatmap_argmax, refine_dark, refine_quarter
from heatpose.errors import InputError


def _size(value: Any, name: str) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be (width, height), got {value!r}") from None
    if w < 2 or h < 2:
        raise InputError(f"{name} must be at least 2x2 pixels, got {value!r}")
    return w, h


def check_keypoints(keypoints: np.ndarray, keypoints_visible: Optional[np.ndarray],
                    codec_name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Validate encode inputs: keypoints (1, K, 2), visibility (1, K) (ones when None)."""
    kp = np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[2] != 2 or not np.issubdtype(kp.dtype, np.number):
        raise InputError(f"{codec_name}.encode: keypoints must be a numeric (N, K, 2) array, "
                         f"got shape {kp.shape}")
    if kp.shape[0] != 1:
        raise InputError(f"{codec_name}.encode takes one instance (keypoints of shape "
                         f"(1, K, 2)), got {kp.shape[0]} instances")
    if not np.issubdtype(kp.dtype, np.floating):
        kp = kp.astype(np.float32)
    if keypoints_visible is None:
        vis = np.ones(kp.shape[:2], dtype=np.float32)
    else:
        vis = np.asarray(keypoints_visible, dtype=np.float32)
        if vis.shape != kp.shape[:2]:
            raise InputError(f"{codec_name}.encode: keypoints_visible must have shape "
                             f"{kp.shape[:2]}, got {vis.shape}")
    return kp, vis


def check_heatmaps(heatmaps: Any, channels_per_kpt: int, heatmap_size: Tuple[int, int],
                   codec_name: str) -> Tuple[np.ndarray, bool]:
    """Return heatmaps as a float32 (B, C, H, W) array and whether the input was unbatched."""
    if hasattr(heatmaps, "detach"):                      # a torch tensor
        heatmaps = heatmaps.detach().float().cpu().numpy()
    hm = np.asarray(heatmaps, dtype=np.float32)
    single = hm.ndim == 3
    if single:
        hm = hm[None]
    if hm.ndim != 4:
        raise InputError(f"{codec_name}.decode: heatmaps must be (C, H, W) or (B, C, H, W), "
                         f"got shape {hm.shape}")
    if hm.shape[1] % channels_per_kpt or hm.shape[1] == 0:
        raise InputError(f"{codec_name}.decode: {hm.shape[1]} channels is not a positive "
                         f"multiple of {channels_per_kpt}")
    if (hm.shape[3], hm.shape[2]) != tuple(heatmap_size):
        raise InputError(f"{codec_name}.decode: heatmaps are {hm.shape[3]}x{hm.shape[2]} "
                         f"(w x h) but the codec's heatmap_size is {heatmap_size[0]}x"
                         f"{heatmap_size[1]}")
    return hm, single


def gaussian_window(centre: np.ndarray, radius: float, size: Tuple[int, int]):
    """Integer window of MMPose's cropped-Gaussian targets.

    Args:
        centre: (N, K, 2) keypoints in heatmap px.
        radius: 3 * sigma.
        size: heatmap (W, H).

    Returns:
        mu (N, K, 2) int64 rounded centres, left_top (N, K, 2) int64, right_bottom (N, K, 2)
        int64 (exclusive), and outside (N, K) bool: the window misses the heatmap.
    """
    mu = (centre + 0.5).astype(np.int64)
    lt = (mu - radius).astype(np.int64)
    rb = (mu + radius + 1).astype(np.int64)
    w, h = size
    outside = (lt[..., 0] >= w) | (lt[..., 1] >= h) | (rb[..., 0] < 0) | (rb[..., 1] < 0)
    return mu, lt, rb, outside


def paste_patches(maps: np.ndarray, patches: np.ndarray, lt: np.ndarray, rb: np.ndarray,
                  draw: np.ndarray) -> np.ndarray:
    """Write each keypoint's Gaussian patch into its heatmap, cropped to the heatmap.

    Args:
        maps: (K, H, W) zeros, written in place.
        patches: (g, g) one patch for all keypoints, or (K, g, g) one per keypoint.
        lt, rb: (K, 2) int64 window corners (``gaussian_window``); pixel ``(x, y)`` takes
            ``patch[y - lt_y, x - lt_x]`` for ``max(0, lt) <= (x, y) < min(rb, lt + g, (W, H))``.
        draw: (K,) bool, the keypoints that get a patch.

    Returns:
        ``maps``.
    """
    _, h, w = maps.shape
    gh, gw = patches.shape[-2:]
    one = patches.ndim == 2
    for k, (x0, y0), (x1, y1) in zip(np.flatnonzero(draw).tolist(), lt[draw].tolist(),
                                     rb[draw].tolist()):
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x1, x0 + gw, w), min(y1, y0 + gh, h)
        if xa < xb and ya < yb:
            patch = patches if one else patches[k]
            maps[k, ya:yb, xa:xb] = patch[ya - y0:yb - y0, xa - x0:xb - x0]
    return maps


@lru_cache(maxsize=8)
def gaussian_patch(sigma: float) -> np.ndarray:
    """MMPose's (g, g) float32 Gaussian patch of the plain MSRA target: peak 1 at sample
    ``c0 = (6 sigma + 1) // 2``, ``g = ceil(6 sigma + 1)`` samples (read-only, cached)."""
    radius = sigma * 3
    g = int(np.ceil(2 * radius + 1))
    c0 = np.float32((2 * radius + 1) // 2)
    e = (np.arange(g, dtype=np.float32) - c0) ** 2
    patch = np.exp(-(e[:, None] + e[None, :]) / np.float32(2 * sigma ** 2))
    patch.flags.writeable = False
    return patch


class MSRAHeatmap:
    """Gaussian heatmap codec (MMPose ``MSRAHeatmap``); ``unbiased=True`` is DARK.

    Args:
        input_size: model input (w, h) px.
        heatmap_size: heatmap (W, H) px.
        sigma: Gaussian sigma in heatmap px.
        unbiased: DARK: sub-pixel Gaussian centres when encoding, distribution-aware decoding.
        blur_kernel_size: DARK modulation kernel (11 for sigma 2, 17 for sigma 3).
    """

    use_udp = False
    flip_shift = True
    flip_mode = "heatmap"
    num_channels_per_keypoint = 1

    def __init__(self, input_size: Tuple[int, int], heatmap_size: Tuple[int, int],
                 sigma: float, unbiased: bool = False, blur_kernel_size: int = 11) -> None:
        self.input_size = _size(input_size, "input_size")
        self.heatmap_size = _size(heatmap_size, "heatmap_size")
        self.sigma = float(sigma)
        if not self.sigma > 0:
            raise InputError(f"sigma must be positive, got {sigma!r}")
        self.unbiased = bool(unbiased)
        self.blur_kernel_size = int(blur_kernel_size)
        if self.blur_kernel_size < 1 or self.blur_kernel_size % 2 != 1:
            raise InputError(f"blur_kernel_size must be a positive odd integer, "
                             f"got {blur_kernel_size!r}")
        # heatmap px -> input px
        self.scale_factor = (np.array(self.input_size) /
                             np.array(self.heatmap_size)).astype(np.float32)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"MSRAHeatmap({args})"

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly constructor arguments (``codec_from_dict`` inverts this)."""
        return {"type": "MSRAHeatmap", "input_size": list(self.input_size),
                "heatmap_size": list(self.heatmap_size), "sigma": self.sigma,
                "unbiased": self.unbiased, "blur_kernel_size": self.blur_kernel_size}

    def encode(self, keypoints: np.ndarray, keypoints_visible: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Training targets for one instance.

        Args:
            keypoints: (1, K, 2) input-space px (x, y).
            keypoints_visible: (1, K) visibility/weight, ones when None. Keypoints with
                visibility < 0.5 get no Gaussian but keep their weight.

        Returns:
            heatmaps (K, H, W) float32 in [0, 1]; keypoint_weights (1, K) float32: the
            visibility, set to 0 where the Gaussian's 3-sigma window misses the heatmap.
        """
        kp, vis = check_keypoints(keypoints, keypoints_visible, "MSRAHeatmap")
        centre = kp / self.scale_factor
        if self.unbiased:
            return self._encode_unbiased(centre, vis)
        return self._encode_plain(centre, vis)

    def _encode_plain(self, centre: np.ndarray, vis: np.ndarray):
        _, k, _ = centre.shape
        w, h = self.heatmap_size
        _, lt, rb, outside = gaussian_window(centre, self.sigma * 3, (w, h))
        weights = vis.copy()
        weights[(vis >= 0.5) & outside] = 0
        draw = ((vis >= 0.5) & ~outside)[0]
        maps = np.zeros((k, h, w), dtype=np.float32)
        return paste_patches(maps, gaussian_patch(self.sigma), lt[0], rb[0], draw), weights

    def _encode_unbiased(self, centre: np.ndarray, vis: np.ndarray):
        n, k, _ = centre.shape
        w, h = self.heatmap_size
        radius = self.sigma * 3
        lt = centre - radius
        rb = centre + radius + 1
        outside = (lt[..., 0] >= w) | (lt[..., 1] >= h) | (rb[..., 0] < 0) | (rb[..., 1] < 0)
        weights = vis.copy()
        weights[(vis >= 0.5) & outside] = 0
        draw = (vis >= 0.5) & ~outside
        x = np.arange(w, dtype=np.float32)
        y = np.arange(h, dtype=np.float32)
        ex = (x - centre[..., 0:1]) ** 2                 # (N, K, W)
        ey = (y - centre[..., 1:2]) ** 2                 # (N, K, H)
        gauss = np.exp(-(ey[..., :, None] + ex[..., None, :]) /
                       np.asarray(2 * self.sigma ** 2, dtype=centre.dtype))
        maps = np.where(draw[..., None, None], gauss, 0)
        return maps.max(axis=0).astype(np.float32), weights

    def decode(self, heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps.

        Args:
            heatmaps: (K, H, W) or a batch (B, K, H, W) (numpy, or a torch tensor).

        Returns:
            keypoints (1 or B, K, 2) float32 input-space px (x, y); a channel whose maximum
            is <= 0 gives (-1, -1) * stride. scores (1 or B, K) float32: channel maxima.
        """
        hm, _ = check_heatmaps(heatmaps, 1, self.heatmap_size, "MSRAHeatmap")
        locs, scores = heatmap_argmax(hm)
        if self.unbiased:
            locs = refine_dark(locs, hm, self.blur_kernel_size)
        else:
            locs = refine_quarter(locs, hm)
        return locs * self.scale_factor, scores
