"""Losses owned by the heads, numerically equal to MMPose 1.3.2's ``KeypointMSELoss``,
``CombinedTargetMSELoss`` and ``BCELoss``."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["KeypointMSELoss", "CombinedTargetMSELoss", "BCELoss", "heatmap_loss"]


class KeypointMSELoss(nn.Module):
    """Mean squared error between predicted and target heatmaps.

    ``loss = mean over (N, K, h, w) of (output - target)**2 * mask`` times ``loss_weight``, where
    ``mask`` is the product of the keypoint weights ``(N, K)`` (broadcast over pixels) or pixel
    weights ``(N, K, h, w)``, an optional spatial ``mask`` and, with ``skip_empty_channel``, 0 for
    target channels that are all zero. The mean is always over all elements (a zero weight still
    counts in the denominator), as in MMPose.

    As in MMPose 1.3.2, ``target_weights`` are applied whenever they are passed;
    ``use_target_weight`` is only recorded (MMPose's heads always pass the keypoint weights).
    """

    def __init__(self, use_target_weight: bool = False, skip_empty_channel: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.skip_empty_channel = skip_empty_channel
        self.loss_weight = loss_weight

    def forward(self, output: Tensor, target: Tensor, target_weights: Optional[Tensor] = None,
                mask: Optional[Tensor] = None) -> Tensor:
        """``output``, ``target``: ``(N, K, h, w)``; ``target_weights``: ``(N, K)`` or
        ``(N, K, h, w)``; ``mask``: broadcastable to ``target``. Returns a scalar."""
        if output.shape != target.shape:
            raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} "
                             "differ")
        full_mask = self._mask(target, target_weights, mask)
        if full_mask is None:
            loss = F.mse_loss(output, target)
        else:
            loss = (F.mse_loss(output, target, reduction="none") * full_mask).mean()
        return loss * self.loss_weight

    def _mask(self, target: Tensor, target_weights: Optional[Tensor],
              mask: Optional[Tensor]) -> Optional[Tensor]:
        if mask is not None and (mask.ndim != target.ndim or any(
                m not in (1, t) for m, t in zip(mask.shape, target.shape))):
            raise ValueError(f"mask {tuple(mask.shape)} does not broadcast to "
                             f"{tuple(target.shape)}")
        if target_weights is not None:
            if target_weights.ndim not in (2, 4) or \
                    target_weights.shape != target.shape[:target_weights.ndim]:
                raise ValueError(f"target_weights {tuple(target_weights.shape)} do not match "
                                 f"target {tuple(target.shape)}")
            w = target_weights.reshape(target_weights.shape
                                       + (1,) * (target.ndim - target_weights.ndim))
            mask = w if mask is None else mask * w
        if self.skip_empty_channel:
            nonempty = (target != 0).flatten(2).any(dim=2)
            nonempty = nonempty.reshape(nonempty.shape + (1,) * (target.ndim - nonempty.ndim))
            mask = nonempty if mask is None else mask * nonempty
        return mask


class CombinedTargetMSELoss(nn.Module):
    """MSE loss of UDP 'combined' targets (MMPose ``CombinedTargetMSELoss``, Huang et al. 2020).

    Channels come in threes per keypoint: class map ``c``, x offset ``ox``, y offset ``oy``.
    With keypoint weights ``w`` (``use_target_weight``) ``c_pred`` and ``c_gt`` are first
    multiplied by ``w``; then per keypoint ``0.5 * (mean((c_pred - c_gt)**2) + mean((c_gt *
    ox_pred - c_gt * ox_gt)**2) + mean((c_gt * oy_pred - c_gt * oy_gt)**2))``, means over
    (N, h * w); the result is the mean over keypoints times ``loss_weight``.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, output: Tensor, target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """``output``, ``target``: ``(N, 3K, h, w)``; ``target_weights``: ``(N, K)``. Returns a
        scalar."""
        if output.shape != target.shape or output.ndim != 4 or output.shape[1] % 3:
            raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} "
                             "must be equal (N, 3K, h, w)")
        n, c = output.shape[:2]
        pred = output.reshape(n, c // 3, 3, -1)
        gt = target.reshape(n, c // 3, 3, -1)
        hm_pred, hm_gt = pred[:, :, 0], gt[:, :, 0]
        if self.use_target_weight:
            if target_weights is None or tuple(target_weights.shape) != (n, c // 3):
                got = None if target_weights is None else tuple(target_weights.shape)
                raise ValueError(f"target_weights must be (N, K) = {(n, c // 3)}, got {got}")
            hm_pred = hm_pred * target_weights[:, :, None]
            hm_gt = hm_gt * target_weights[:, :, None]
        cls = F.mse_loss(hm_pred, hm_gt, reduction="none").mean(dim=(0, 2))
        off = F.mse_loss(hm_gt[:, :, None] * pred[:, :, 1:], hm_gt[:, :, None] * gt[:, :, 1:],
                         reduction="none").mean(dim=(0, 3)).sum(dim=1)
        return 0.5 * (cls + off).mean() * self.loss_weight


def heatmap_loss(name: str, use_target_weight: bool = True) -> nn.Module:
    """The heatmap loss called ``name`` (``model.loss``: KeypointMSELoss or
    CombinedTargetMSELoss); ValueError for another name."""
    losses = {"KeypointMSELoss": KeypointMSELoss, "CombinedTargetMSELoss": CombinedTargetMSELoss}
    if name not in losses:
        raise ValueError(f"unknown heatmap loss {name!r}; use {' or '.join(losses)}")
    return losses[name](use_target_weight=use_target_weight)


class BCELoss(nn.Module):
    """Binary cross-entropy, as MMPose's ``BCELoss`` (used by the visibility head).

    With ``use_sigmoid=True`` the output is already a probability (``F.binary_cross_entropy``),
    otherwise logits (``F.binary_cross_entropy_with_logits``). With ``use_target_weight`` the
    element losses are multiplied by ``target_weight`` (``(N, K)`` or ``(N,)``). Reduction
    ``'mean'`` (over all elements), ``'sum'`` or ``'none'``; the result is times ``loss_weight``.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0,
                 reduction: str = "mean", use_sigmoid: bool = False) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.use_sigmoid = use_sigmoid

    def forward(self, output: Tensor, target: Tensor,
                target_weight: Optional[Tensor] = None) -> Tensor:
        """``output``, ``target``: ``(N, K)``; ``target_weight``: ``(N, K)`` or ``(N,)``."""
        fn = F.binary_cross_entropy if self.use_sigmoid else F.binary_cross_entropy_with_logits
        loss = fn(output, target, reduction="none")
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("BCELoss(use_target_weight=True) needs target_weight")
            if target_weight.dim() == 1:
                target_weight = target_weight[:, None]
            loss = loss * target_weight
        if self.reduction == "sum":
            loss = loss.sum()
        elif self.reduction == "mean":
            loss = loss.mean()
        return loss * self.loss_weight
