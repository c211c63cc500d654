"""The recipes' pixel-level train steps on the crop, between ``TopdownAffine`` and
``GenerateTarget`` as in MMPose's pipelines: ``PhotometricDistortion``
(:mod:`heatpose.data.photometric`), then albumentations' CoarseDropout and GridDropout
(:mod:`heatpose.data.dropout`). A recipe without them has no :class:`PixelAugment` (None), so
the sample path does not run this module at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from heatpose.data.dropout import (CoarseDropoutConfig, GridDropoutConfig, cutout,
                                   draw_coarse_holes, draw_grid, grid_holes, rng_sources)
from heatpose.data.photometric import PhotometricConfig, apply_photometric, draw_photometric


@dataclass(frozen=True)
class PixelAugment:
    """The pixel steps a recipe uses (None = off)."""
    photometric: Optional[PhotometricConfig] = None
    coarse_dropout: Optional[CoarseDropoutConfig] = None
    grid_dropout: Optional[GridDropoutConfig] = None


def random_pixel_augment(image: np.ndarray, rng: np.random.Generator,
                         cfg: PixelAugment) -> np.ndarray:
    """The (H, W, 3) uint8 BGR crop after the steps of ``cfg``, drawing from ``rng``."""
    size = (image.shape[1], image.shape[0])
    if cfg.photometric is not None:
        image = apply_photometric(image, draw_photometric(rng, cfg.photometric))
    if cfg.coarse_dropout is not None:
        holes = draw_coarse_holes(size, cfg.coarse_dropout, *rng_sources(rng))
        if holes:
            image = cutout(image, holes, cfg.coarse_dropout.fill_value)
    if cfg.grid_dropout is not None:
        grid = draw_grid(size, cfg.grid_dropout, *rng_sources(rng))
        if grid is not None:
            image = cutout(image, grid_holes(size, grid), cfg.grid_dropout.fill_value)
    return image


def pixel_augment(a: Any) -> Optional[PixelAugment]:
    """The :class:`PixelAugment` of a flat ``data.augment`` config
    (:class:`heatpose.engine.config.AugmentConfig`), or None when it turns no pixel step on."""
    if not a.enabled or not (a.photometric or a.coarse_dropout or a.grid_dropout):
        return None
    photo = PhotometricConfig(
        brightness_delta=a.photometric_brightness_delta,
        contrast_range=tuple(a.photometric_contrast_range),
        saturation_range=tuple(a.photometric_saturation_range),
        hue_delta=a.photometric_hue_delta) if a.photometric else None
    coarse = CoarseDropoutConfig(
        prob=a.coarse_dropout_prob, num_holes=tuple(a.coarse_dropout_holes),
        hole_height=tuple(a.coarse_dropout_height),
        hole_width=tuple(a.coarse_dropout_width)) if a.coarse_dropout else None
    grid = GridDropoutConfig(
        prob=a.grid_dropout_prob,
        unit_size=None if a.grid_dropout_unit_size is None else tuple(a.grid_dropout_unit_size),
        ratio=a.grid_dropout_ratio,
        random_offset=a.grid_dropout_random_offset) if a.grid_dropout else None
    return PixelAugment(photo, coarse, grid)
