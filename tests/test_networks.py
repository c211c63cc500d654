"""Backbones, heads and losses: shapes, variants, init, loss formulas, backward.

State-dict layout and forward numerics against the MMPose reference fixtures are checked on the
assembled models in test_parity.py (and the tiny Runner checkpoint in test_checkpoints.py)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from heatpose.errors import UnknownModelError
from heatpose.models.backbones import ResNet, build_backbone
from heatpose.models.heads import HeatmapHead, VisPredictHead
from heatpose.models.losses import BCELoss, KeypointMSELoss

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.mark.parametrize("depth,channels", [(18, 512), (34, 512), (50, 2048), (101, 2048),
                                            (152, 2048)])
def test_resnet_output_shape(depth: int, channels: int) -> None:
    net = build_backbone(f"resnet{depth}").eval()
    assert net.out_channels == channels
    with torch.no_grad():
        y = net(torch.zeros(1, 3, 64, 96))
    assert y.shape == (1, channels, 2, 3)


@pytest.mark.parametrize("width", [32, 48])
def test_hrnet_output_shape(width: int) -> None:
    net = build_backbone(f"hrnet_w{width}").eval()
    assert net.out_channels == width
    with torch.no_grad():
        y = net(torch.zeros(1, 3, 64, 32))
    assert y.shape == (1, width, 16, 8)
    keys = net.state_dict().keys()
    assert "stage4.2.fuse_layers.0.3.1.running_var" in keys
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in keys)   # single-scale output
    assert any(k.startswith("stage4.1.fuse_layers.3.") for k in keys)


def test_tiny_resnet_shapes() -> None:
    net = build_backbone("resnet18", stem_channels=4, base_channels=2)
    assert isinstance(net, ResNet) and net.out_channels == 16
    assert tuple(net.layer1[0].downsample[0].weight.shape) == (2, 4, 1, 1)  # 4 -> 2 channels
    head = HeatmapHead(16, 17, (8, 8, 8))
    y = head(net(torch.zeros(2, 3, 256, 192)))
    assert y.shape == (2, 17, 64, 48)


def test_build_backbone_unknown_name() -> None:
    with pytest.raises(UnknownModelError, match="resnet50"):
        build_backbone("resnet51")


def test_head_variants_and_init() -> None:
    torch.manual_seed(0)
    head = HeatmapHead(32, 5, deconv_out_channels=(16, 16), deconv_kernel_sizes=(4, 3))
    assert head(torch.zeros(1, 32, 4, 3)).shape == (1, 5, 16, 12)
    assert [k for k in head.state_dict() if k.endswith("weight")] == [
        "deconv_layers.0.weight", "deconv_layers.1.weight", "deconv_layers.3.weight",
        "deconv_layers.4.weight", "final_layer.weight"]
    w = head.deconv_layers[0].weight
    assert abs(w.std().item() - 1e-3) < 2e-4 and head.deconv_layers[0].bias is None
    assert torch.all(head.final_layer.bias == 0) and torch.all(head.deconv_layers[1].weight == 1)
    plain = HeatmapHead(32, 5, deconv_out_channels=None)
    assert list(plain.state_dict()) == ["final_layer.weight", "final_layer.bias"]
    with pytest.raises(ValueError):
        HeatmapHead(32, 5, deconv_out_channels=(8,), deconv_kernel_sizes=(5,))
    with pytest.raises(ValueError):
        HeatmapHead(32, 5, deconv_out_channels=(8, 8), deconv_kernel_sizes=(4,))
    # ResNet from scratch: the last BN of every residual block starts at zero
    net = ResNet(18, stem_channels=8, base_channels=4)
    assert torch.all(net.layer2[1].bn2.weight == 0) and torch.all(net.layer2[1].bn1.weight == 1)


def test_vis_head_forward() -> None:
    pose = HeatmapHead(16, 4, deconv_out_channels=None)
    head = VisPredictHead(pose, 16, 4)
    assert [k for k in head.state_dict() if k.startswith("vis_head")] == [
        "vis_head.2.weight", "vis_head.2.bias"]
    feats = torch.randn(3, 16, 8, 6)
    heatmaps, vis = head(feats)
    assert heatmaps.shape == (3, 4, 8, 6) and vis.shape == (3, 4)
    expected = torch.sigmoid(feats.mean(dim=(2, 3)) @ head.vis_head[2].weight.T
                             + head.vis_head[2].bias)
    torch.testing.assert_close(vis, expected)
    torch.testing.assert_close(head((feats,))[1], vis)


def test_keypoint_mse_loss() -> None:
    g = torch.Generator().manual_seed(1)
    out, tgt = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    w = torch.tensor([[1.0, 0.0, 0.5], [1.0, 1.0, 0.0]])
    plain = ((out - tgt) ** 2).mean()
    torch.testing.assert_close(KeypointMSELoss()(out, tgt), plain)
    weighted = (((out - tgt) ** 2) * w[:, :, None, None]).mean()   # mean over all elements
    torch.testing.assert_close(KeypointMSELoss(use_target_weight=True)(out, tgt, w), weighted)
    torch.testing.assert_close(KeypointMSELoss(loss_weight=2.0)(out, tgt), 2 * plain)
    tgt2 = tgt.clone()
    tgt2[0, 1] = 0
    skip = KeypointMSELoss(skip_empty_channel=True)(out, tgt2)
    mask = torch.ones(2, 3, 1, 1)
    mask[0, 1] = 0
    torch.testing.assert_close(skip, (((out - tgt2) ** 2) * mask).mean())
    with pytest.raises(ValueError):
        KeypointMSELoss()(out, tgt, torch.ones(2, 4))


def test_bce_loss() -> None:
    p = torch.tensor([[0.9, 0.2], [0.4, 0.7]])
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    w = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    elem = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    loss = BCELoss(use_target_weight=True, use_sigmoid=True, loss_weight=1e-3)(p, y, w)
    torch.testing.assert_close(loss, (elem * w).mean() * 1e-3)
    logits = torch.logit(p)
    torch.testing.assert_close(BCELoss()(logits, y), elem.mean())
    torch.testing.assert_close(BCELoss(reduction="sum", use_sigmoid=True)(p, y), elem.sum())
    head = VisPredictHead(HeatmapHead(4, 2, None), 4, 2)
    torch.testing.assert_close(head.vis_loss(p, y), elem.mean() * 1e-3)


@pytest.mark.parametrize("name", ["hrnet_w32", "resnet50"])
def test_backward_in_train_mode(name: str) -> None:
    """In-place ReLUs and residual adds must not break autograd; BN updates its running stats."""
    torch.manual_seed(0)
    backbone = build_backbone(name)
    head = HeatmapHead(backbone.out_channels, 3, deconv_out_channels=None if "hrnet" in name
                       else (8, 8, 8))
    model = nn.Sequential(backbone, head).train()
    heatmaps = model(torch.randn(2, 3, 64, 32))
    assert heatmaps.shape == (2, 3, 16, 8)
    loss = head.loss(heatmaps, torch.rand_like(heatmaps), torch.ones(2, 3))
    loss.backward()
    assert backbone.conv1.weight.grad is not None and backbone.conv1.weight.grad.abs().sum() > 0
    assert backbone.bn1.num_batches_tracked.item() == 1
