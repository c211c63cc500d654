"""UDP heatmaps (Huang et al., "The Devil is in the Details"), as MMPose 1.3.2's ``UDPHeatmap``.

The heatmap grid spans the input with stride (input - 1) / (heatmap - 1) (pixel centres
aligned at both ends); crops use the UDP warp matrix and the flip test needs no shift.
``heatmap_type='gaussian'`` draws sub-pixel Gaussians and decodes with a DARK-style Newton
step; ``'combined'`` uses per keypoint a binary disc (class map) and x / y offset maps.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from heatpose.codecs.msra import (_size, check_heatmaps, check_keypoints, gaussian_window,
                                  paste_patches)
from heatpose.codecs.refine import gaussian_blur_channels, heatmap_argmax, refine_dark_udp
from heatpose.errors import InputError

HEATMAP_TYPES = ("gaussian", "combined")


class UDPHeatmap:
    """UDP heatmap codec (MMPose ``UDPHeatmap``).

    Args:
        input_size: model input (w, h) px.
        heatmap_size: heatmap (W, H) px.
        sigma: Gaussian sigma in heatmap px (``'gaussian'``).
        heatmap_type: ``'gaussian'`` (K channels) or ``'combined'`` (3K channels: class map,
            x offset, y offset per keypoint).
        radius_factor: disc radius of the class map as a fraction of max(W, H)
            (``'combined'``); offsets are in units of that radius.
        blur_kernel_size: blur kernel for decoding (``'gaussian'``: modulation kernel;
            ``'combined'``: class maps are blurred with kernel 2 * this + 1).
    """

    use_udp = True
    flip_shift = False

    def __init__(self, input_size: Tuple[int, int], heatmap_size: Tuple[int, int],
                 sigma: float = 2.0, heatmap_type: str = "gaussian",
                 radius_factor: float = 0.0546875, blur_kernel_size: int = 11) -> None:
        self.input_size = _size(input_size, "input_size")
        self.heatmap_size = _size(heatmap_size, "heatmap_size")
        if heatmap_type not in HEATMAP_TYPES:
            raise InputError(f"UDPHeatmap heatmap_type must be one of {HEATMAP_TYPES}, "
                             f"got {heatmap_type!r}")
        self.heatmap_type = heatmap_type
        self.sigma = float(sigma)
        self.radius_factor = float(radius_factor)
        if not (self.sigma > 0 and self.radius_factor > 0):
            raise InputError(f"sigma and radius_factor must be positive, got {sigma!r}, "
                             f"{radius_factor!r}")
        self.blur_kernel_size = int(blur_kernel_size)
        if self.blur_kernel_size < 1 or self.blur_kernel_size % 2 != 1:
            raise InputError(f"blur_kernel_size must be a positive odd integer, "
                             f"got {blur_kernel_size!r}")
        # heatmap px -> input px
        self.scale_factor = ((np.array(self.input_size) - 1) /
                             (np.array(self.heatmap_size) - 1)).astype(np.float32)

    @property
    def flip_mode(self) -> str:
        return "udp_combined" if self.heatmap_type == "combined" else "heatmap"

    @property
    def num_channels_per_keypoint(self) -> int:
        return 3 if self.heatmap_type == "combined" else 1

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"UDPHeatmap({args})"

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly constructor arguments (``codec_from_dict`` inverts this)."""
        return {"type": "UDPHeatmap", "input_size": list(self.input_size),
                "heatmap_size": list(self.heatmap_size), "sigma": self.sigma,
                "heatmap_type": self.heatmap_type, "radius_factor": self.radius_factor,
                "blur_kernel_size": self.blur_kernel_size}

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, keypoints_visible: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Training targets for one instance.

        Args:
            keypoints: (1, K, 2) input-space px (x, y).
            keypoints_visible: (1, K), ones when None; < 0.5 draws nothing.

        Returns:
            heatmaps (K * c, H, W) float32 (c = ``num_channels_per_keypoint``);
            keypoint_weights (1, K) float32 = visibility, 0 where a Gaussian's 3-sigma window
            misses the heatmap (``'gaussian'`` only; ``'combined'`` keeps the visibility).
        """
        kp, vis = check_keypoints(keypoints, keypoints_visible, "UDPHeatmap")
        centre = kp / self.scale_factor
        if self.heatmap_type == "gaussian":
            return self._encode_gaussian(centre, vis)
        return self._encode_combined(centre, vis)

    def _encode_gaussian(self, centre: np.ndarray, vis: np.ndarray):
        _, k, _ = centre.shape
        w, h = self.heatmap_size
        radius = self.sigma * 3
        g = int(np.ceil(2 * radius + 1))
        c0 = (2 * radius + 1) // 2
        mu, lt, rb, outside = gaussian_window(centre, radius, (w, h))
        weights = vis.copy()
        weights[(vis >= 0.5) & outside] = 0
        draw = ((vis >= 0.5) & ~outside)[0]
        # patch centre in patch samples, with the sub-pixel part (float64 as in MMPose)
        sub = (centre[0].astype(np.float64) - mu[0]) + c0                # (K, 2)
        off = np.arange(g, dtype=np.float32).astype(np.float64)
        ex = (off - sub[:, 0:1]) ** 2                                    # (K, g)
        ey = (off - sub[:, 1:2]) ** 2
        patches = np.exp(-(ey[:, :, None] + ex[:, None, :]) / (2 * self.sigma ** 2))
        maps = np.zeros((k, h, w), dtype=np.float32)
        return paste_patches(maps, patches, lt[0], rb[0], draw), weights

    def _encode_combined(self, centre: np.ndarray, vis: np.ndarray):
        n, k, _ = centre.shape
        w, h = self.heatmap_size
        radius = self.radius_factor * max(w, h)
        maps = np.zeros((k, 3, h, w), dtype=np.float32)
        drawn = vis >= 0.5
        # the last instance with a labelled keypoint overwrites earlier ones (as MMPose)
        last = n - 1 - np.argmax(drawn[::-1], axis=0)
        kk = np.nonzero(drawn.any(axis=0))[0]
        mu = centre[last[kk], kk].astype(np.float64)                 # (M, 2)
        xo = (mu[:, 0:1] - np.arange(w)) / radius                    # (M, W)
        yo = (mu[:, 1:2] - np.arange(h)) / radius                    # (M, H)
        maps[kk, 0] = (yo[:, :, None] ** 2 + xo[:, None, :] ** 2 <= 1).astype(np.float32)
        maps[kk, 1] = np.broadcast_to(xo[:, None, :], (kk.size, h, w))
        maps[kk, 2] = np.broadcast_to(yo[:, :, None], (kk.size, h, w))
        return maps.reshape(k * 3, h, w), vis.copy()

    # ------------------------------------------------------------------ decode
    def decode(self, heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps.

        Args:
            heatmaps: (K * c, H, W) or a batch (B, K * c, H, W) (numpy, or a torch tensor).

        Returns:
            keypoints (1 or B, K, 2) float64 input-space px (x, y) (float64 as MMPose
            returns them); scores (1 or B, K) float32 channel maxima (``'combined'``: of the
            blurred class maps). ``'gaussian'``: an all-zero channel decodes to NaN.
            ``'combined'``: a channel with max <= 0 reads its offsets at the flat index of
            (-1, -1), i.e. from the previous keypoint's maps (channel 0: from the last).
        """
        hm, _ = check_heatmaps(heatmaps, self.num_channels_per_keypoint, self.heatmap_size,
                               "UDPHeatmap")
        w, h = self.heatmap_size
        if self.heatmap_type == "gaussian":
            locs, scores = heatmap_argmax(hm)
            locs = refine_dark_udp(locs, hm, self.blur_kernel_size)
        else:
            locs, scores = self._decode_combined(hm)
        return locs / np.array([w - 1, h - 1]) * np.array(self.input_size), scores

    def _decode_combined(self, hm: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        b, c, h, w = hm.shape
        k = c // 3
        ks = 2 * self.blur_kernel_size + 1
        cls = gaussian_blur_channels(hm[:, 0::3].reshape(b * k, h, w), ks).reshape(b, k, h, w)
        locs, scores = heatmap_argmax(cls)
        radius = self.radius_factor * max(w, h)
        x_off = hm[:, 1::3].reshape(b, -1) * np.float32(radius)
        y_off = hm[:, 2::3].reshape(b, -1) * np.float32(radius)
        index = (locs[..., 0].astype(np.int64) + locs[..., 1].astype(np.int64) * w
                 + w * h * np.arange(k)) % (k * h * w)
        rows = np.arange(b)[:, None]
        offsets = np.stack((x_off[rows, index], y_off[rows, index]), axis=-1)
        return (locs + offsets).astype(np.float32), scores
