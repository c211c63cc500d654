"""The one NaN/infinity row check evaluation inputs go through (predictions, ground truth,
boxes, normalisers): which rows would silently turn into misses or change AP."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np


def nonfinite_rows(values: Any, n: Optional[int] = None) -> np.ndarray:
    """(N,) bool: which rows (first axis, or ``n`` equal rows of the flattened values) of
    ``values`` (any shape (N, ...), numbers) hold NaN or infinity."""
    arr = np.asarray(values, dtype=np.float64)
    n = len(arr) if n is None else int(n)
    if arr.size == 0:
        return np.zeros(n, dtype=bool)
    return ~np.isfinite(arr.reshape(n, -1)).all(axis=1)
