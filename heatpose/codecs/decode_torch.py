"""Heatmap decoding in torch operations that export to ONNX (no data-dependent shapes).

The same numerics as the numpy decoders of ``refine.py`` (MMPose 1.3.2), written with
gather / where / conv2d so that the whole decode can sit inside an exported graph:

    keypoints, scores = decode_torch(codec, heatmaps)   # (B, C, H, W) -> (B, K, 2), (B, K)

Keypoints are input-space pixels (x, y), as ``codec.decode`` returns them. The Gaussian blurs
of DARK and UDP are separable convolutions with OpenCV's kernel; the 2x2 Newton step uses
the closed-form inverse (UDP's in float64, as MMPose inverts it).
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

import cv2
import torch
import torch.nn.functional as F
from torch import Tensor

from heatpose.errors import InputError

Reader = Callable[[int, int], Tensor]


def argmax_2d(heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
    """(B, K, H, W) -> locations (B, K, 2) float (x, y) of the first maximum, (-1, -1) where
    the maximum is <= 0, and the maxima (B, K)."""
    w = heatmaps.shape[-1]
    vals, idx = heatmaps.flatten(2).max(dim=-1)
    locs = torch.stack((idx % w, torch.div(idx, w, rounding_mode="floor")), dim=-1)
    locs = locs.to(heatmaps.dtype)
    return torch.where((vals <= 0).unsqueeze(-1), torch.full_like(locs, -1.0), locs), vals


def _reader(maps: Tensor, x: Tensor, y: Tensor) -> Reader:
    """``at(dx, dy)``: maps (B, K, H, W) read at the integer locations (x + dx, y + dy) (B, K),
    clipped into the map."""
    h, w = maps.shape[-2:]
    flat = maps.flatten(2)

    def at(dx: int, dy: int) -> Tensor:
        idx = (y + dy).clamp(0, h - 1) * w + (x + dx).clamp(0, w - 1)
        return flat.gather(2, idx.unsqueeze(-1)).squeeze(-1)

    return at


def refine_quarter_torch(locs: Tensor, heatmaps: Tensor) -> Tensor:
    """MSRA's quarter-pixel step (see ``refine.refine_quarter``); locs (B, K, 2) heatmap px."""
    h, w = heatmaps.shape[-2:]
    x, y = locs[..., 0].long(), locs[..., 1].long()
    at = _reader(heatmaps, x, y)
    use_x = (x > 1) & (x < w - 1) & (y > 0) & (y < h)
    use_y = (y > 1) & (y < h - 1) & (x > 0) & (x < w)
    zero = torch.zeros_like(locs[..., 0])
    d = torch.stack((torch.where(use_x, at(1, 0) - at(-1, 0), zero),
                     torch.where(use_y, at(0, 1) - at(0, -1), zero)), dim=-1)
    return locs + torch.sign(d) * 0.25


def gaussian_blur_torch(maps: Tensor, ksize: int, border: str) -> Tensor:
    """``cv2.GaussianBlur(m, (ksize, ksize), 0)`` of every (H, W) map of (B, K, H, W).

    ``border``: ``'zeros'`` (a zero-padded convolution, as DARK pads before blurring) or
    ``'reflect'`` (OpenCV's default reflect-101; needs ksize // 2 < H, W)."""
    b, k, h, w = maps.shape
    r = ksize // 2
    g = torch.as_tensor(cv2.getGaussianKernel(ksize, 0).ravel(), dtype=maps.dtype,
                        device=maps.device)
    x = maps.reshape(-1, 1, h, w)
    if border == "reflect":
        x = F.pad(x, (r, r, r, r), mode="reflect")
        pad = 0
    elif border == "zeros":
        pad = r
    else:
        raise InputError(f"border must be 'zeros' or 'reflect', got {border!r}")
    x = F.conv2d(x, g.view(1, 1, ksize, 1), padding=(pad, 0))
    x = F.conv2d(x, g.view(1, 1, 1, ksize), padding=(0, pad))
    return x.reshape(b, k, h, w)


def modulate_torch(heatmaps: Tensor, kernel: int) -> Tensor:
    """DARK's modulation (``refine.modulate``): zero-padded blur rescaled to the original max."""
    blurred = gaussian_blur_torch(heatmaps, kernel, "zeros")
    ratio = heatmaps.flatten(2).max(-1)[0] / blurred.flatten(2).max(-1)[0]
    return blurred * ratio[..., None, None]


def refine_dark_torch(locs: Tensor, heatmaps: Tensor, kernel: int) -> Tensor:
    """DARK's Newton step on log(modulated) (``refine.refine_dark``)."""
    h, w = heatmaps.shape[-2:]
    logm = torch.log(modulate_torch(heatmaps, kernel).clamp(min=1e-10))
    x, y = locs[..., 0].long(), locs[..., 1].long()
    at = _reader(logm, x, y)
    c = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    dyy = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    det = dxx * dyy - dxy * dxy
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2) & (det != 0)
    safe = torch.where(ok, det, torch.ones_like(det))
    off = torch.stack((-(dyy * dx - dxy * dy) / safe, -(dxx * dy - dxy * dx) / safe), dim=-1)
    return locs + torch.where(ok.unsqueeze(-1), off, torch.zeros_like(off))


def refine_dark_udp_torch(locs: Tensor, heatmaps: Tensor, kernel: int) -> Tensor:
    """UDP's Newton step (``refine.refine_dark_udp``): log(clip(modulated, 1e-3, 50)) with
    edge padding, neighbours read at flat indices of each instance's (K, H+2, W+2) stack
    (so (-1, -1) wraps into the previous channel), (Hessian + eps I)^-1 in float64."""
    b, k, h, w = heatmaps.shape
    logm = torch.log(modulate_torch(heatmaps, kernel).clamp(1e-3, 50.0))
    padded = F.pad(logm, (1, 1, 1, 1), mode="replicate").reshape(b, k * (h + 2) * (w + 2))
    size = k * (h + 2) * (w + 2)
    x, y = locs[..., 0].long(), locs[..., 1].long()
    chan = torch.arange(k, device=locs.device) * ((w + 2) * (h + 2))
    index = x + 1 + (y + 1) * (w + 2) + chan

    def at(shift: int) -> Tensor:
        return padded.gather(1, torch.remainder(index + shift, size)).double()

    i_, ix1, ix1_ = at(0), at(1), at(-1)
    iy1, iy1_ = at(w + 2), at(-(w + 2))
    dx = 0.5 * (ix1 - ix1_)
    dy = 0.5 * (iy1 - iy1_)
    eps = float(torch.finfo(torch.float32).eps)
    dxx = ix1 - 2 * i_ + ix1_ + eps
    dyy = iy1 - 2 * i_ + iy1_ + eps
    dxy = 0.5 * (at(w + 3) - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + at(-(w + 3)))
    det = dxx * dyy - dxy * dxy
    step = torch.stack(((dyy * dx - dxy * dy) / det, (dxx * dy - dxy * dx) / det), dim=-1)
    return (locs.double() - step).to(locs.dtype)


def decode_udp_combined_torch(heatmaps: Tensor, codec: Any) -> Tuple[Tensor, Tensor]:
    """UDP 'combined' decoding (``UDPHeatmap._decode_combined``), heatmap px and scores."""
    b, c, h, w = heatmaps.shape
    k = c // 3
    maps = heatmaps.reshape(b, k, 3, h, w)
    cls = gaussian_blur_torch(maps[:, :, 0], 2 * codec.blur_kernel_size + 1, "reflect")
    locs, scores = argmax_2d(cls)
    radius = codec.radius_factor * max(w, h)
    index = locs[..., 0].long() + locs[..., 1].long() * w \
        + torch.arange(k, device=locs.device) * (w * h)
    index = torch.remainder(index, k * h * w)
    x_off = maps[:, :, 1].reshape(b, -1).gather(1, index) * radius
    y_off = maps[:, :, 2].reshape(b, -1).gather(1, index) * radius
    return locs + torch.stack((x_off, y_off), dim=-1), scores


def decode_torch(codec: Any, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
    """``codec.decode`` for a (B, C, H, W) float32 tensor: keypoints (B, K, 2) input px
    (x, y) and scores (B, K), on the tensor's device, ONNX-exportable."""
    w, h = codec.heatmap_size
    if codec.use_udp:
        if codec.heatmap_type == "combined":
            locs, scores = decode_udp_combined_torch(heatmaps, codec)
        else:
            locs, scores = argmax_2d(heatmaps)
            locs = refine_dark_udp_torch(locs, heatmaps, codec.blur_kernel_size)
        scale = torch.tensor([codec.input_size[0] / (w - 1), codec.input_size[1] / (h - 1)])
        return locs * scale.to(heatmaps), scores
    locs, scores = argmax_2d(heatmaps)
    if codec.unbiased:
        locs = refine_dark_torch(locs, heatmaps, codec.blur_kernel_size)
    else:
        locs = refine_quarter_torch(locs, heatmaps)
    return locs * torch.as_tensor(codec.scale_factor).to(heatmaps), scores
