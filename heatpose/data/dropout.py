"""CoarseDropout and GridDropout on a crop (the ``coarsedropout`` / ``gridmask`` recipes).

MMPose's ``Albumentation`` step runs albumentations' transforms; its configs give them in
albumentations 1.3.1's own parameter names (``max_holes``, ``unit_size_min``, ...), whose
semantics these native versions follow exactly (proved against albumentations 1.3.1 in
tests/test_pixel_augment.py): the same random numbers, drawn in the same order and ranges,
give the same holes, filled with ``fill_value``. Every draw goes through ``randint(a, b)``
(both ends included, as Python's ``random.randint``) and ``random()`` (uniform in [0, 1)),
so tests can replay albumentations' own draws; training passes :func:`rng_sources` of the
sample's ``numpy.random.Generator``.

A hole is ``(x1, y1, x2, y2)`` in crop pixels, end-exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

RandInt = Callable[[int, int], int]          # an integer in [a, b], both included
Random = Callable[[], float]                 # a float in [0, 1)
Hole = Tuple[int, int, int, int]


def rng_sources(rng: np.random.Generator) -> Tuple[RandInt, Random]:
    """``(randint, random)`` drawing from ``rng``."""
    return (lambda a, b: int(rng.integers(a, b + 1))), (lambda: float(rng.random()))


def cutout(image: np.ndarray, holes: Sequence[Hole], fill_value: int = 0) -> np.ndarray:
    """A copy of (H, W, C) ``image`` with each hole set to ``fill_value``."""
    out = image.copy()
    for x1, y1, x2, y2 in holes:
        out[y1:y2, x1:x2] = fill_value
    return out


# --------------------------------------------------------------------------- CoarseDropout
@dataclass(frozen=True)
class CoarseDropoutConfig:
    """albumentations 1.3.1 ``CoarseDropout`` (integer pixel sizes): with probability ``prob``,
    ``num_holes`` = (min_holes, max_holes) rectangles of height in ``hole_height`` = (min_height,
    max_height) and width in ``hole_width`` (ranges inclusive), placed uniformly inside the crop.
    Defaults are albumentations' (max 8, min = max)."""
    prob: float = 0.5
    num_holes: Tuple[int, int] = (8, 8)
    hole_height: Tuple[int, int] = (8, 8)
    hole_width: Tuple[int, int] = (8, 8)
    fill_value: int = 0


def draw_coarse_holes(size: Tuple[int, int], cfg: CoarseDropoutConfig, randint: RandInt,
                      random: Random) -> List[Hole]:
    """Holes for a crop of ``size`` (w, h) pixels; [] when the ``prob`` draw says no."""
    if not random() < cfg.prob:
        return []
    w, h = size
    holes = []
    for _ in range(randint(*cfg.num_holes)):
        hh, hw = randint(*cfg.hole_height), randint(*cfg.hole_width)
        y1 = randint(0, h - hh)
        x1 = randint(0, w - hw)
        holes.append((x1, y1, x1 + hw, y1 + hh))
    return holes


# --------------------------------------------------------------------------- GridDropout
@dataclass(frozen=True)
class GridDropoutConfig:
    """albumentations 1.3.1 ``GridDropout``: with probability ``prob``, a grid of square units
    whose side is drawn from ``unit_size`` = (unit_size_min, unit_size_max) by 1.3.1's
    ``randint(min, max + 1)`` (so up to max + 1 pixels; None = width // 10, at least 2), each
    holding a hole of ``ratio`` x the side (1 .. side - 1 pixels) at the grid offset
    ``(shift_x, shift_y)`` = (0, 0), or a random offset with ``random_offset``."""
    prob: float = 0.5
    unit_size: Optional[Tuple[int, int]] = None
    ratio: float = 0.5
    random_offset: bool = False
    fill_value: int = 0


def check_grid(cfg: GridDropoutConfig, size: Tuple[int, int]) -> Optional[str]:
    """What makes ``cfg`` unusable on crops of ``size`` (w, h) (albumentations' own errors),
    or None."""
    if not 0 < cfg.ratio <= 1:
        return f"ratio {cfg.ratio} must be in (0, 1]"
    if cfg.unit_size is not None:
        lo, hi = cfg.unit_size
        if not 2 <= lo <= hi:
            return f"unit_size {list(cfg.unit_size)}: need 2 <= min <= max"
        if hi > min(size):
            return f"unit_size {list(cfg.unit_size)}: max above the crop's shorter side {min(size)}"
    return None


def draw_grid(size: Tuple[int, int], cfg: GridDropoutConfig, randint: RandInt, random: Random
              ) -> Optional[Tuple[int, int, int, int, int, int]]:
    """``(unit_w, unit_h, hole_w, hole_h, shift_x, shift_y)`` for a crop of ``size`` (w, h),
    or None when the ``prob`` draw says no."""
    if not random() < cfg.prob:
        return None
    problem = check_grid(cfg, size)
    if problem:
        raise ValueError(f"GridDropout: {problem}")
    w, h = size
    if cfg.unit_size is not None:
        unit_w = unit_h = randint(cfg.unit_size[0], cfg.unit_size[1] + 1)
    else:
        unit_w = max(2, w // 10)
        unit_h = max(min(unit_w, h), 2)
    hole_w = min(max(int(unit_w * cfg.ratio), 1), unit_w - 1)
    hole_h = min(max(int(unit_h * cfg.ratio), 1), unit_h - 1)
    shift_x = shift_y = 0
    if cfg.random_offset:
        shift_x = randint(0, unit_w - hole_w)
        shift_y = randint(0, unit_h - hole_h)
    return unit_w, unit_h, hole_w, hole_h, shift_x, shift_y


def grid_holes(size: Tuple[int, int], grid: Tuple[int, int, int, int, int, int]) -> List[Hole]:
    """The holes of a :func:`draw_grid` result (albumentations' list, row by column)."""
    w, h = size
    unit_w, unit_h, hole_w, hole_h, shift_x, shift_y = grid
    holes = []
    for i in range(w // unit_w + 1):
        for j in range(h // unit_h + 1):
            x1 = min(shift_x + unit_w * i, w)
            y1 = min(shift_y + unit_h * j, h)
            holes.append((x1, y1, min(x1 + hole_w, w), min(y1 + hole_h, h)))
    return holes
