"""Allowed ranges of numeric config fields (dataclass field metadata), checked when a config is
read (:func:`heatpose.engine.config.apply_overrides`, :func:`~heatpose.engine.config.load_config`)."""
from __future__ import annotations

from dataclasses import field
from typing import Any, Optional, Tuple

Bounds = Tuple[Optional[float], Optional[float], bool, bool]   # lo, hi, lo_open, hi_open


def ranged(default: Any, lo: Optional[float] = None, hi: Optional[float] = None,
           lo_open: bool = False, hi_open: bool = False) -> Any:
    """A dataclass field whose value (each item, for a tuple/list) must lie in [lo, hi]
    (``lo_open``/``hi_open``: the bound itself excluded)."""
    return field(default=default, metadata={"range": (lo, hi, lo_open, hi_open)})


def prob(default: float) -> Any:
    """A probability field: [0, 1]."""
    return ranged(default, 0.0, 1.0)


def range_text(bounds: Bounds) -> str:
    """``in [0, 1]``, ``in (0, 1]``, ``>= 1``, ``> 0``..."""
    lo, hi, lo_open, hi_open = bounds
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"{'<' if hi_open else '<='} {hi:g}"


def range_problem(value: Any, bounds: Bounds, key: str) -> Optional[str]:
    """``<key> = <value>: must be <range>`` when a number (or an item of a tuple/list) is
    outside ``bounds`` or NaN; None when it fits (None values fit)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            problem = range_problem(v, bounds, f"{key}[{i}]")
            if problem:
                return problem
        return None
    lo, hi, lo_open, hi_open = bounds
    bad = (lo is not None and (value <= lo if lo_open else value < lo)) or \
        (hi is not None and (value >= hi if hi_open else value > hi)) or value != value
    return f"{key} = {value!r}: must be {range_text(bounds)}" if bad else None
