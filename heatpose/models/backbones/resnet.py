"""ResNet backbone with MMPose 1.x state_dict names (``conv1``, ``bn1``, ``layer1``..``layer4``).

The layout follows MMPose's ``ResNet`` defaults: v1 stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool),
style ``'pytorch'`` (the stride of a Bottleneck sits on its 3x3 conv), identity shortcuts
replaced by ``downsample = Sequential(1x1 conv, BN)`` whenever stride or channels change, and
the output of the last stage only. A checkpoint trained with MMPose loads with ``strict=True``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Type, Union

from torch import Tensor, nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "RESNET_DEPTHS"]


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34).

    ``out_channels`` is the block's output width; the block keeps it constant (expansion 1).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convs with a residual connection (ResNet-50/101/152).

    ``out_channels`` is the output width; the inner width is ``out_channels // 4``.
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        if out_channels % self.expansion:
            raise ValueError(f"Bottleneck out_channels ({out_channels}) must be a multiple of 4")
        mid = out_channels // self.expansion
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


Block = Union[Type[BasicBlock], Type[Bottleneck]]


def make_res_layer(block: Block, num_blocks: int, in_channels: int, out_channels: int,
                   stride: int = 1) -> nn.Sequential:
    """A stage of ``num_blocks`` blocks; the first one carries the stride and the shortcut
    projection (``downsample.0`` conv 1x1, ``downsample.1`` BN) when shape changes."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels))
    layers = [block(in_channels, out_channels, stride=stride, downsample=downsample)]
    layers += [block(out_channels, out_channels) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


RESNET_DEPTHS: Dict[int, Tuple[Block, Tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet-{18,34,50,101,152} feature extractor (MMPose ``ResNet`` with default arguments).

    Input ``(N, in_channels, H, W)`` (a normalised image batch); output the layer4 feature map
    ``(N, out_channels, ceil(H/32), ceil(W/32))`` (exactly H/32 x W/32 for multiples of 32).
    ``out_channels = base_channels * 8 * expansion`` (2048 for ResNet-50, 512 for ResNet-18).
    """

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64) -> None:
        super().__init__()
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"invalid ResNet depth {depth}; choose one of {sorted(RESNET_DEPTHS)}")
        block, stage_blocks = RESNET_DEPTHS[depth]
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin, cout = stem_channels, base_channels * block.expansion
        self.res_layers: List[str] = []
        for i, (n, stride) in enumerate(zip(stage_blocks, (1, 2, 2, 2))):
            name = f"layer{i + 1}"
            self.add_module(name, make_res_layer(block, n, cin, cout, stride))
            self.res_layers.append(name)
            cin, cout = cout, cout * 2
        self.out_channels: int = cin
        self.init_weights()

    def init_weights(self, zero_init_residual: bool = True) -> None:
        """MMPose's from-scratch init: Kaiming-normal (fan_out, ReLU) convs, BN weight 1 / bias 0,
        and (``zero_init_residual``) zero weight on the last BN of every residual block."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_norm.weight)
                    nn.init.zeros_(m.last_norm.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return x

