"""Backbones with MMPose 1.x state_dict names: ResNet-18..152 and HRNet-W32/W48."""
from __future__ import annotations

import difflib
import re
from typing import Any

from torch import nn

from ...errors import UnknownModelError
from .hrnet import HRNet
from .resnet import RESNET_DEPTHS, ResNet

__all__ = ["ResNet", "HRNet", "build_backbone", "BACKBONE_NAMES"]

BACKBONE_NAMES = tuple(f"resnet{d}" for d in sorted(RESNET_DEPTHS)) + ("hrnet_w32", "hrnet_w48")


def build_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Build a backbone by name: ``'resnet18'``, ``'resnet34'``, ``'resnet50'``, ``'resnet101'``,
    ``'resnet152'``, ``'hrnet_w32'`` or ``'hrnet_w48'``; ``kwargs`` go to the constructor
    (``in_channels``; for ResNet also ``stem_channels``, ``base_channels``). The module has an
    ``out_channels`` attribute (channels of the returned feature map)."""
    key = name.strip().lower()
    m = re.fullmatch(r"resnet(\d+)", key)
    if m and int(m.group(1)) in RESNET_DEPTHS:
        return ResNet(int(m.group(1)), **kwargs)
    m = re.fullmatch(r"hrnet[_-]?w(32|48)", key)
    if m:
        return HRNet(int(m.group(1)), **kwargs)
    close = difflib.get_close_matches(key, BACKBONE_NAMES, n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise UnknownModelError(
        f"unknown backbone {name!r}{hint}; known: {', '.join(BACKBONE_NAMES)}")
