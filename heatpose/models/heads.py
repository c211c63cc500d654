"""Heatmap head and visibility head with MMPose 1.x state_dict names.

``HeatmapHead``: ``deconv_layers`` (ConvTranspose2d without bias, stride 2 -> BN -> ReLU, repeated;
absent for HRNet) then ``final_layer`` (a conv to one channel per keypoint). Keys are
``deconv_layers.<3*i>.weight`` (deconv), ``deconv_layers.<3*i+1>.*`` (BN), ``final_layer.*``.

``VisPredictHead``: wraps a pose head (keys ``pose_head.*``) and adds ``vis_head`` =
AdaptiveAvgPool2d(1) -> Flatten -> Linear -> Sigmoid on the backbone features (keys
``vis_head.2.*``), giving one visibility probability per keypoint.

Both accept either a feature tensor or a tuple/list of them (the last one is used), like MMPose.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from heatpose.models.init import normal_init_

from .losses import BCELoss, KeypointMSELoss

__all__ = ["HeatmapHead", "VisPredictHead"]

Features = Union[Tensor, Sequence[Tensor]]

# kernel size -> (padding, output_padding) of a stride-2 deconv that exactly doubles the size
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def _last(feats: Features) -> Tensor:
    return feats if isinstance(feats, Tensor) else feats[-1]


class HeatmapHead(nn.Module):
    """Simple-Baselines heatmap head (MMPose ``HeatmapHead``).

    Args:
        in_channels: channels of the backbone feature map.
        out_channels: number of keypoints K.
        deconv_out_channels: output channels of each stride-2 deconv; ``None`` or ``()`` for none
            (HRNet), ``(256, 256)`` for the Sub-JHMDB 2-deconv model.
        deconv_kernel_sizes: kernel of each deconv (4, 3 or 2), same length as the channels.
        final_kernel_size: kernel of ``final_layer``; ``None`` means no final conv.
        final_padding: padding of ``final_layer`` (MMPose default 0).
        use_target_weight: passed to the head's :class:`KeypointMSELoss`.

    Forward: ``(N, in_channels, h, w)`` -> heatmaps ``(N, K, h * 2**n_deconv, w * 2**n_deconv)``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 deconv_out_channels: Optional[Sequence[int]] = (256, 256, 256),
                 deconv_kernel_sizes: Optional[Sequence[int]] = (4, 4, 4),
                 final_kernel_size: Optional[int] = 1, final_padding: int = 0,
                 use_target_weight: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.loss_module = KeypointMSELoss(use_target_weight=use_target_weight)
        deconv_out_channels = tuple(deconv_out_channels or ())
        if deconv_out_channels:
            kernels = tuple(deconv_kernel_sizes or ())
            if len(kernels) != len(deconv_out_channels):
                raise ValueError(
                    f"deconv_out_channels {deconv_out_channels} and deconv_kernel_sizes "
                    f"{deconv_kernel_sizes} must have the same length")
            self.deconv_layers: nn.Module = self._make_deconv_layers(
                in_channels, deconv_out_channels, kernels)
            in_channels = deconv_out_channels[-1]
        else:
            self.deconv_layers = nn.Identity()
        if final_kernel_size is not None:
            self.final_layer: nn.Module = nn.Conv2d(in_channels, out_channels, final_kernel_size,
                                                    padding=final_padding)
        else:
            self.final_layer = nn.Identity()
        self.init_weights()

    @staticmethod
    def _make_deconv_layers(in_channels: int, channels: Sequence[int],
                            kernels: Sequence[int]) -> nn.Sequential:
        layers: List[nn.Module] = []
        for cout, k in zip(channels, kernels):
            if k not in _DECONV_PADDING:
                raise ValueError(f"unsupported deconv kernel size {k} (use 2, 3 or 4)")
            pad, out_pad = _DECONV_PADDING[k]
            layers += [nn.ConvTranspose2d(in_channels, cout, k, stride=2, padding=pad,
                                          output_padding=out_pad, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            in_channels = cout
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """MMPose's HeatmapHead init: conv/deconv weights N(0, 0.001), biases 0,
        BN weight 1 / bias 0."""
        normal_init_(self, std=0.001)

    def forward(self, feats: Features) -> Tensor:
        return self.final_layer(self.deconv_layers(_last(feats)))

    def loss(self, heatmaps: Tensor, target: Tensor,
             target_weights: Optional[Tensor] = None) -> Tensor:
        """Heatmap MSE loss (see :class:`KeypointMSELoss`); heatmaps/target ``(N, K, h, w)``,
        weights ``(N, K)``."""
        return self.loss_module(heatmaps, target, target_weights)


class VisPredictHead(nn.Module):
    """Pose head plus keypoint-visibility classifier (MMPose ``VisPredictHead``, sigmoid variant).

    Args:
        pose_head: the heatmap head (its parameters appear as ``pose_head.*``).
        in_channels: channels of the backbone feature map (2048 for ResNet-50).
        num_keypoints: K.
        loss_weight: weight of the visibility BCE loss (1e-3 in the td-hm-vis config).

    Forward: features ``(N, C, h, w)`` -> ``(heatmaps, visibility)`` with visibility ``(N, K)``
    probabilities in [0, 1].
    """

    def __init__(self, pose_head: nn.Module, in_channels: int, num_keypoints: int,
                 loss_weight: float = 1e-3, use_target_weight: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = num_keypoints
        self.pose_head = pose_head
        self.vis_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(in_channels, num_keypoints), nn.Sigmoid())
        self.vis_loss_module = BCELoss(use_target_weight=use_target_weight,
                                       loss_weight=loss_weight, use_sigmoid=True)
        self.init_weights()

    def init_weights(self) -> None:
        """MMPose's VisPredictHead init: Linear N(0, 0.01), bias 0 (the pose head keeps its own)."""
        linear = self.vis_head[2]
        nn.init.normal_(linear.weight, 0.0, 0.01)
        nn.init.zeros_(linear.bias)

    def vis_forward(self, feats: Features) -> Tensor:
        """Visibility probabilities ``(N, K)``."""
        x = _last(feats)
        while x.ndim < 4:
            x = x.unsqueeze(-1)
        return self.vis_head(x).reshape(-1, self.out_channels)

    def forward(self, feats: Features) -> Tuple[Tensor, Tensor]:
        return self.pose_head(feats), self.vis_forward(feats)

    def vis_loss(self, vis: Tensor, labels: Tensor,
                 weights: Optional[Tensor] = None) -> Tensor:
        """BCE between predicted probabilities ``(N, K)`` and labels ``(N, K)``: MMPose uses the
        keypoint weights of the target (visibility) as labels and ``keypoints_visible_weights``
        (default ones) as weights."""
        if weights is None and self.vis_loss_module.use_target_weight:
            weights = labels.new_ones(labels.shape)
        return self.vis_loss_module(vis, labels.float(), weights)
