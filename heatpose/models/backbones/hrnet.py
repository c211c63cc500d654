"""HRNet-W32 / W48 backbone with MMPose 1.x state_dict names.

Structure (MMPose ``HRNet`` with the ``extra`` of the td-hm_hrnet-w32/w48 configs):

* stem: ``conv1``/``bn1`` and ``conv2``/``bn2``, two 3x3 stride-2 convs with 64 channels (H/4);
* ``layer1``: 4 Bottlenecks, 64 -> 256 channels;
* ``transition1..3`` then ``stage2..4`` of 1 / 4 / 3 high-resolution modules with 2 / 3 / 4
  branches of 4 BasicBlocks each, branch widths ``(w, 2w, 4w, 8w)``;
* each module fuses its branches (``fuse_layers.i.j``): a lower-resolution branch is projected by a
  1x1 conv + BN and nearest-upsampled, a higher-resolution one goes through strided 3x3 convs;
* the last module of stage4 only produces the highest-resolution branch.

A transition or fuse slot that MMPose leaves empty is ``None`` here as well, so indices (and
therefore state_dict keys such as ``transition2.2.0.0.weight``) match.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from torch import Tensor, nn

from heatpose.models.init import normal_init_

from .resnet import BasicBlock, Bottleneck, make_res_layer

__all__ = ["HRModule", "HRNet"]


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers: List[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """Parallel branches of BasicBlocks followed by multi-resolution fusion.

    ``forward`` takes a list of ``len(channels)`` maps, branch ``i`` at 1/2**i of branch 0's size,
    and returns ``len(channels)`` fused maps, or only the first when ``multiscale_output`` is False.
    """

    def __init__(self, channels: Sequence[int], num_blocks: int = 4,
                 multiscale_output: bool = True) -> None:
        super().__init__()
        self.num_branches = len(channels)
        self.multiscale_output = multiscale_output
        self.branches = nn.ModuleList(
            make_res_layer(BasicBlock, num_blocks, c, c) for c in channels)
        self.fuse_layers = self._make_fuse_layers(channels) if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self, channels: Sequence[int]) -> nn.ModuleList:
        n_out = self.num_branches if self.multiscale_output else 1
        fuse_layers = []
        for i in range(n_out):
            row: List[Optional[nn.Module]] = []
            for j in range(self.num_branches):
                if j > i:      # lower resolution: 1x1 projection, then nearest upsampling
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], 1, bias=False),
                        nn.BatchNorm2d(channels[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:          # higher resolution: (i - j) strided 3x3 convs, ReLU between them
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y: Optional[Tensor] = None
            for j, x in enumerate(xs):          # summed in branch order, as MMPose does
                term = x if i == j else row[j](x)
                y = term if y is None else y + term
            out.append(self.relu(y))
        return out


class HRNet(nn.Module):
    """HRNet-W``width`` (32 or 48 in the model zoo; any positive width builds).

    Input ``(N, in_channels, H, W)``; output the highest-resolution branch
    ``(N, width, H/4, W/4)`` for H, W multiples of 32.
    """

    def __init__(self, width: int, in_channels: int = 3) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"HRNet width must be positive, got {width}")
        self.width = width
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(Bottleneck, 4, 64, 64 * Bottleneck.expansion)

        widths = [width * 2 ** i for i in range(4)]
        prev = [64 * Bottleneck.expansion]
        for s, num_modules in zip((2, 3, 4), (1, 4, 3)):
            cur = widths[:s]
            self.add_module(f"transition{s - 1}", self._make_transition(prev, cur))
            modules = [HRModule(cur, multiscale_output=not (s == 4 and m == num_modules - 1))
                       for m in range(num_modules)]
            self.add_module(f"stage{s}", nn.Sequential(*modules))
            prev = cur
        self.out_channels: int = width
        self.init_weights()

    @staticmethod
    def _make_transition(prev: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        layers: List[Optional[nn.Module]] = []
        for i, c in enumerate(cur):
            if i < len(prev):
                layers.append(None if c == prev[i] else _conv_bn(prev[i], c, 3, 1, relu=True))
            else:              # new branch: strided 3x3 convs from the lowest-resolution branch
                steps = [_conv_bn(prev[-1], prev[-1], 3, 2, relu=True)
                         for _ in range(i - len(prev))]
                steps.append(_conv_bn(prev[-1], c, 3, 2, relu=True))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def init_weights(self) -> None:
        """MMPose's from-scratch init: convs N(0, 0.001) (bias 0), BN weight 1 / bias 0."""
        normal_init_(self, std=0.001)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys: List[Tensor] = [self.layer1(x)]
        for s in (2, 3, 4):
            transition = getattr(self, f"transition{s - 1}")
            xs = []
            for i, t in enumerate(transition):
                if t is None:
                    xs.append(ys[i])
                else:          # an existing branch is re-projected, a new one grows from the last
                    xs.append(t(ys[i] if i < len(ys) else ys[-1]))
            ys = getattr(self, f"stage{s}")(xs)
        return ys[0]
