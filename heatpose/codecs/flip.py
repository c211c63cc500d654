"""Flip test helpers (MMPose 1.3.2 ``flip_heatmaps`` semantics), for torch tensors and numpy.

The flip test runs the model on the horizontally flipped crop, flips its heatmaps back,
swaps left/right keypoint channels, optionally shifts them one pixel right (MSRA/DARK; not
UDP) and averages with the plain heatmaps. Everything works on batches (N, C, h, w) and, for
torch, on any device.
"""
from __future__ import annotations

from typing import Optional, Sequence, TypeVar

import numpy as np
import torch

from heatpose.errors import InputError

Array = TypeVar("Array", torch.Tensor, np.ndarray)
FLIP_MODES = ("heatmap", "udp_combined")


def _index(x: Array, flip_indices: Sequence[int]):
    idx = [int(i) for i in flip_indices]
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(idx, dtype=torch.long, device=x.device)
    return np.asarray(idx, dtype=np.int64)


def flip_heatmaps(heatmaps: Array, flip_indices: Optional[Sequence[int]],
                  flip_mode: str = "heatmap", shift: bool = True) -> Array:
    """Map heatmaps predicted on a horizontally flipped crop back to the original crop.

    Args:
        heatmaps: (N, C, h, w) torch tensor or numpy array (not modified).
        flip_indices: for each keypoint, the index of its mirror keypoint (length K); None
            keeps the channel order.
        flip_mode: ``'heatmap'`` (C = K) or ``'udp_combined'`` (C = 3K: class map, x offset,
            y offset per keypoint; the x offsets change sign).
        shift: move the result one pixel right (``out[..., 1:] = out[..., :-1]``; column 0
            keeps its value), as MSRA/DARK do; UDP does not shift.

    Returns:
        a new (N, C, h, w) array of the same kind, dtype and device.
    """
    if flip_mode not in FLIP_MODES:
        raise InputError(f"flip_mode must be one of {FLIP_MODES}, got {flip_mode!r}")
    if heatmaps.ndim != 4:
        raise InputError(f"flip_heatmaps expects (N, C, h, w), got shape {tuple(heatmaps.shape)}")
    is_torch = isinstance(heatmaps, torch.Tensor)
    n, c, h, w = heatmaps.shape
    per_kpt = 3 if flip_mode == "udp_combined" else 1
    if c % per_kpt:
        raise InputError(f"flip_mode {flip_mode!r} needs a multiple of 3 channels, got {c}")
    k = c // per_kpt
    if flip_indices is not None and len(flip_indices) != k:
        raise InputError(f"flip_indices has {len(flip_indices)} entries but the heatmaps "
                         f"hold {k} keypoints")
    out = heatmaps.reshape(n, k, per_kpt, h, w)
    out = out.flip(-1) if is_torch else out[..., ::-1]
    if flip_indices is not None:
        out = out[:, _index(heatmaps, flip_indices)]
    if not is_torch:                                    # torch's flip already copied
        out = np.ascontiguousarray(out) if flip_indices is not None else out.copy()
    if per_kpt == 3:
        out[:, :, 1] = -out[:, :, 1]
    out = out.reshape(n, c, h, w)
    if shift:
        out[..., 1:] = out[..., :-1].clone() if is_torch else out[..., :-1].copy()
    return out


def flip_visibility(vis: Array, flip_indices: Sequence[int]) -> Array:
    """Swap left/right entries of per-keypoint values (N, K) predicted on flipped crops.

    Works for torch tensors (any device) and numpy arrays; returns a new array."""
    if vis.ndim != 2 or vis.shape[1] != len(flip_indices):
        raise InputError(f"flip_visibility expects (N, {len(flip_indices)}), "
                         f"got shape {tuple(vis.shape)}")
    return vis[:, _index(vis, flip_indices)]


def merge_flip(heatmaps: Array, heatmaps_of_flipped: Array, flip_indices: Sequence[int],
               flip_mode: str = "heatmap", shift: bool = True) -> Array:
    """Flip-test average ``(heatmaps + flip_heatmaps(heatmaps_of_flipped)) * 0.5``.

    Args:
        heatmaps: (N, C, h, w) predictions on the crops.
        heatmaps_of_flipped: (N, C, h, w) predictions on the same crops flipped
            horizontally (``x.flip(-1)``).
        flip_indices, flip_mode, shift: see :func:`flip_heatmaps` (take them from the
            codec: ``codec.flip_mode``, ``codec.flip_shift``).

    Returns:
        (N, C, h, w) averaged heatmaps (what MMPose decodes).
    """
    if tuple(heatmaps.shape) != tuple(heatmaps_of_flipped.shape):
        raise InputError(f"flip test: shapes differ, {tuple(heatmaps.shape)} vs "
                         f"{tuple(heatmaps_of_flipped.shape)}")
    back = flip_heatmaps(heatmaps_of_flipped, flip_indices, flip_mode, shift)
    return (heatmaps + back) * 0.5


def merge_flip_visibility(vis: Array, vis_of_flipped: Array,
                          flip_indices: Sequence[int]) -> Array:
    """Flip-test average of (N, K) visibility: ``(vis + flip_visibility(vis_of_flipped)) * 0.5``."""
    return (vis + flip_visibility(vis_of_flipped, flip_indices)) * 0.5
