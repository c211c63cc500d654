"""MMPose's from-scratch weight init, shared by backbones and heads."""
from __future__ import annotations

from torch import nn


def normal_init_(module: nn.Module, std: float = 0.001) -> None:
    """Conv / deconv weights N(0, std) with zero bias; BatchNorm weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
