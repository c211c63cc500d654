"""MMPose 1.3.2's ``PhotometricDistortion`` on a uint8 BGR crop (the ``photometric`` recipes).

In MMPose's order: brightness (coin), contrast, then in HSV saturation and/or hue (one of
four modes: none, saturation, hue, both), contrast again, and a random channel permutation
(coin). MMPose 1.3.2's code tests ``contrast_mode == 1`` at both contrast places (its docstring
says mode 0 = first, 1 = last): so contrast is applied twice (before and after HSV, same factor)
when the mode and contrast coins are both 1, and never otherwise. heatpose does the same, since
that is what MMPose's photometric recipe trained with. Every draw is made on every call,
whether its step applies or not, as MMPose does; :func:`draw_photometric` makes them from a
``numpy.random.Generator`` and :func:`apply_photometric` is deterministic given them (tests feed
MMPose's own draws to it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class PhotometricConfig:
    """MMPose 1.3.2 ``PhotometricDistortion`` defaults: brightness offset in
    [-brightness_delta, brightness_delta) grey levels, contrast and saturation factors in
    ``[lo, hi)``, hue shift an integer in [-hue_delta, hue_delta - 1] (OpenCV's 8-bit hue:
    180 = a full turn)."""
    brightness_delta: float = 32.0
    contrast_range: Tuple[float, float] = (0.5, 1.5)
    saturation_range: Tuple[float, float] = (0.5, 1.5)
    hue_delta: int = 18


@dataclass(frozen=True)
class PhotometricDraws:
    """The random numbers of one call (MMPose's ``_random_flags``, same names and order)."""
    contrast_mode: int              # 1: contrast before and after HSV (with contrast_flag)
    brightness_flag: int
    contrast_flag: int
    hsv_mode: int                   # 0 none, 1 saturation, 2 hue, 3 both
    swap_flag: int
    brightness_beta: float
    contrast_alpha: float
    saturation_alpha: float
    hue_delta: int
    swap_channel_order: Tuple[int, int, int]


def draw_photometric(rng: np.random.Generator,
                     cfg: PhotometricConfig = PhotometricConfig()) -> PhotometricDraws:
    """MMPose's draws with its ranges: coins in {0, 1}, ``hsv_mode`` in {0..3}, uniforms in
    ``[lo, hi)``, hue in [-hue_delta, hue_delta) (numpy's ``randint``, high excluded)."""
    flags = [int(rng.integers(n)) for n in (2, 2, 2, 4, 2)]
    beta = float(rng.uniform(-cfg.brightness_delta, cfg.brightness_delta))
    alpha = float(rng.uniform(*cfg.contrast_range))
    sat = float(rng.uniform(*cfg.saturation_range))
    hue = int(rng.integers(-cfg.hue_delta, cfg.hue_delta)) if cfg.hue_delta > 0 else 0
    order = tuple(int(i) for i in rng.permutation(3))
    return PhotometricDraws(*flags, beta, alpha, sat, hue, order)


def _convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
    """``img * alpha + beta`` in float32, clipped to [0, 255], truncated to uint8 (MMPose)."""
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def apply_photometric(image: np.ndarray, d: PhotometricDraws) -> np.ndarray:
    """The distorted (H, W, 3) uint8 BGR ``image`` for draws ``d``: a new array, or ``image``
    itself when no step applies; ``image`` is never written to."""
    img = image
    if d.brightness_flag:
        img = _convert(img, beta=d.brightness_beta)
    if d.contrast_mode == 1 and d.contrast_flag:
        img = _convert(img, alpha=d.contrast_alpha)
    if d.hsv_mode:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if d.hsv_mode in (1, 3):
            img[:, :, 1] = _convert(img[:, :, 1], alpha=d.saturation_alpha)
        if d.hsv_mode in (2, 3):            # modulo 256 in uint8, as MMPose's int -> uint8 store
            img[:, :, 0] += np.uint8(d.hue_delta % 256)
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if d.contrast_mode == 1 and d.contrast_flag:
        img = _convert(img, alpha=d.contrast_alpha)
    if d.swap_flag:                         # (not C-contiguous, as MMPose's)
        img = img[..., list(d.swap_channel_order)]
    return img
