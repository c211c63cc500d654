"""Shared, batched heatmap post-processing: argmax, blur, and sub-pixel refinement.

All functions take heatmaps of shape (B, K, H, W) (float32) and keypoint locations of shape
(B, K, 2) in heatmap pixels, (x, y) order. They reproduce MMPose 1.3.2's per-instance
numerics (including the behaviour on degenerate channels) while working on a whole batch
with numpy; the Gaussian blurs use OpenCV on many channels at once, which gives the same
values as OpenCV's single-channel blur.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

# maps blurred per OpenCV call (bounds the temporary tall image)
_CHUNK = 1024


def heatmap_argmax(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Location and value of each channel's maximum.

    Args:
        heatmaps: (..., H, W) array.

    Returns:
        locs (..., 2) float32 (x, y) heatmap px of the first maximum in row-major order,
        (-1, -1) where the maximum is <= 0; vals (...) the maxima (NaN where the channel
        holds a NaN).
    """
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(-1, h * w)
    idx = np.argmax(flat, axis=1)
    vals = np.max(flat, axis=1)
    locs = np.stack((idx % w, idx // w), axis=-1).astype(np.float32)
    locs[vals <= 0.0] = -1.0
    return locs.reshape(*lead, 2), vals.reshape(lead)


def gaussian_blur_channels(maps: np.ndarray, ksize: int, zero_pad: int = 0) -> np.ndarray:
    """``cv2.GaussianBlur(m, (ksize, ksize), 0)`` applied to every (H, W) map of ``maps``.

    The maps are stacked into one tall image (each padded above and below so that no
    kernel reaches into a neighbour) and blurred in one OpenCV call; this gives exactly the
    values of per-map calls, several times faster.

    Args:
        maps: (M, H, W) float32.
        ksize: odd kernel size; sigma is OpenCV's default for it.
        zero_pad: if > 0, each map is first surrounded by this many zero pixels and the
            blurred map is cropped back (a zero-padded convolution, as DARK does);
            otherwise OpenCV's default border (reflect-101) applies.

    Returns:
        (M, H, W) float32, a new array.
    """
    m, h, w = maps.shape
    maps = np.asarray(maps, dtype=np.float32)
    r = ksize // 2
    p = int(zero_pad)
    if p == 0 and r >= h:               # reflection would wrap more than once: plain calls
        return np.stack([cv2.GaussianBlur(np.ascontiguousarray(x), (ksize, ksize), 0)
                         for x in maps]).reshape(m, h, w)
    # rows above/below each map: zeros (padded convolution) or the reflect-101 rows
    pv = max(p, r)
    out = np.empty((m, h, w), dtype=np.float32)
    for s in range(0, m, _CHUNK):
        chunk = maps[s:s + _CHUNK]
        c = chunk.shape[0]
        tall = np.zeros((c, h + 2 * pv, w + 2 * p), dtype=np.float32)
        tall[:, pv:pv + h, p:p + w] = chunk
        if p == 0:
            tall[:, :pv] = chunk[:, pv:0:-1]
            tall[:, pv + h:] = chunk[:, h - 2::-1][:, :pv]
        blurred = cv2.GaussianBlur(tall.reshape(c * (h + 2 * pv), w + 2 * p), (ksize, ksize), 0)
        out[s:s + c] = blurred.reshape(c, h + 2 * pv, w + 2 * p)[:, pv:pv + h, p:p + w]
    return out


def modulate(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK's heatmap modulation: zero-padded Gaussian blur rescaled to the original maximum.

    Args:
        heatmaps: (B, K, H, W) float32.
        kernel: odd blur kernel size (11 for sigma 2, 17 for sigma 3).

    Returns:
        (B, K, H, W) float32. An all-zero channel becomes NaN (0/0), as in MMPose.
    """
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b * k, h, w)
    origin_max = flat.reshape(b * k, -1).max(axis=1)
    blurred = gaussian_blur_channels(flat, kernel, zero_pad=(kernel - 1) // 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = origin_max / blurred.reshape(b * k, -1).max(axis=1)
        blurred *= ratio[:, None, None]
    return blurred.reshape(b, k, h, w)


def _gather(maps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """maps (M, H, W) read at integer (ys, xs) (M,) each; indices are clipped into range."""
    m, h, w = maps.shape
    return maps[np.arange(m), np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]


def refine_quarter(locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """MSRA refinement: move 0.25 px towards the larger neighbour along x and along y.

    x moves only when 1 < x < W-1 and 0 < y < H, y only when 1 < y < H-1 and 0 < x < W.

    Args:
        locs: (B, K, 2) float32 integer argmax locations (or -1).
        heatmaps: (B, K, H, W) float32.

    Returns:
        (B, K, 2) float32 refined locations (a new array).
    """
    b, k, h, w = heatmaps.shape
    maps = heatmaps.reshape(b * k, h, w)
    pts = locs.reshape(b * k, 2)
    x = pts[:, 0].astype(np.int64)
    y = pts[:, 1].astype(np.int64)
    use_x = (1 < x) & (x < w - 1) & (0 < y) & (y < h)
    use_y = (1 < y) & (y < h - 1) & (0 < x) & (x < w)
    dx = _gather(maps, x + 1, y) - _gather(maps, x - 1, y)
    dy = _gather(maps, x, y + 1) - _gather(maps, x, y - 1)
    d = np.stack((np.where(use_x, dx, 0), np.where(use_y, dy, 0)), axis=-1).astype(np.float32)
    out = pts + np.sign(d) * np.float32(0.25)
    return out.astype(np.float32).reshape(b, k, 2)


def refine_dark(locs: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK refinement: one Newton step on the log of the modulated heatmap.

    Applied where 1 < x < W-2 and 1 < y < H-2 and the Hessian determinant is non-zero
    (central differences with step 1 for the gradient and step 2 for the Hessian).

    Args:
        locs: (B, K, 2) float32 integer argmax locations (or -1).
        heatmaps: (B, K, H, W) float32 raw heatmaps (not modified).
        kernel: modulation blur kernel size.

    Returns:
        (B, K, 2) float32 refined locations.
    """
    b, k, h, w = heatmaps.shape
    logm = modulate(heatmaps, kernel)
    np.maximum(logm, np.float32(1e-10), out=logm)
    np.log(logm, out=logm)
    maps = logm.reshape(b * k, h, w)
    out = locs.reshape(b * k, 2).copy()
    x = out[:, 0].astype(np.int64)
    y = out[:, 1].astype(np.int64)
    sel = np.nonzero((1 < x) & (x < w - 2) & (1 < y) & (y < h - 2))[0]
    if sel.size == 0:
        return out.reshape(b, k, 2)
    m, x, y = maps[sel], x[sel], y[sel]

    def at(ddx: int, ddy: int) -> np.ndarray:
        return _gather(m, x + ddx, y + ddy)

    c = at(0, 0)
    dx = np.float32(0.5) * (at(1, 0) - at(-1, 0))
    dy = np.float32(0.5) * (at(0, 1) - at(0, -1))
    dxx = np.float32(0.25) * (at(2, 0) - np.float32(2) * c + at(-2, 0))
    dxy = np.float32(0.25) * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    dyy = np.float32(0.25) * (at(0, 2) - np.float32(2) * c + at(0, -2))
    ok = dxx * dyy - dxy * dxy != 0
    hess = np.stack((np.stack((dxx, dxy), -1), np.stack((dxy, dyy), -1)), -2)[ok]
    grad = np.stack((dx, dy), -1)[ok][..., None]
    if hess.shape[0]:
        offset = (-np.linalg.inv(hess)) @ grad
        out[sel[ok]] += offset[..., 0]
    return out.reshape(b, k, 2)


def refine_dark_udp(locs: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """UDP's DARK refinement: Newton step on log(clip(modulated, 1e-3, 50)).

    Reads neighbours in the edge-padded map at flat indices of each instance's (K, H+2, W+2)
    stack, as MMPose does: a location of (-1, -1) wraps into the previous channel (channel 0:
    into the end of the stack). The Hessian is regularised with float32 eps * I and inverted
    in float64; it is always applied.

    Args:
        locs: (B, K, 2) float32 integer argmax locations (or -1).
        heatmaps: (B, K, H, W) float32 raw heatmaps (not modified).
        kernel: modulation blur kernel size.

    Returns:
        (B, K, 2) float32 refined locations (NaN where the channel was all zero).
    """
    b, k, h, w = heatmaps.shape
    logm = modulate(heatmaps, kernel)
    np.clip(logm, np.float32(1e-3), np.float32(50.0), out=logm)
    np.log(logm, out=logm)
    padded = np.pad(logm, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge").reshape(b, -1)
    size = padded.shape[1]
    x = locs[..., 0].astype(np.int64)
    y = locs[..., 1].astype(np.int64)
    index = x + 1 + (y + 1) * (w + 2) + (w + 2) * (h + 2) * np.arange(k)
    rows = np.arange(b)[:, None]

    def at(shift: int) -> np.ndarray:
        return padded[rows, (index + shift) % size]

    i_ = at(0)
    ix1, ix1_ = at(1), at(-1)
    iy1, iy1_ = at(w + 2), at(-(w + 2))
    ix1y1, ix1_y1_ = at(w + 3), at(-(w + 3))
    half = np.float32(0.5)
    dx = half * (ix1 - ix1_)
    dy = half * (iy1 - iy1_)
    dxx = ix1 - np.float32(2) * i_ + ix1_
    dyy = iy1 - np.float32(2) * i_ + iy1_
    dxy = half * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
    hess = np.stack((np.stack((dxx, dxy), -1), np.stack((dxy, dyy), -1)), -2)
    hess = hess.astype(np.float64) + float(np.finfo(np.float32).eps) * np.eye(2)
    step = np.linalg.inv(hess) @ np.stack((dx, dy), -1).astype(np.float64)[..., None]
    return (locs.astype(np.float64) - step[..., 0]).astype(np.float32)
