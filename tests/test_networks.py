"""Backbones and heads against MMPose 1.3.2 reference fixtures (keys, shapes, forward numerics)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from conftest import REFERENCE
from heatpose.errors import UnknownModelError
from heatpose.models.backbones import HRNet, ResNet, build_backbone
from heatpose.models.heads import HeatmapHead, VisPredictHead
from heatpose.models.losses import BCELoss, KeypointMSELoss

torch.set_num_threads(min(2, torch.get_num_threads()))

TINY = "checkpoints/td-hm_res18-tiny_coco-256x192"
PUBLISHED = TINY + "_published-a0e8d5db_20261121.pth"
MODEL_FIXTURES = sorted(p.name for p in REFERENCE.glob("*.npz") if p.name != "codecs.npz")


class TopDown(nn.Module):
    """Backbone + head, as MMPose's TopdownPoseEstimator holds them (``backbone.*``, ``head.*``)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor):
        return self.head(self.backbone(x))


def build_from_config_name(config: str, num_keypoints: int) -> TopDown:
    """The architecture named by an MMPose top-down heatmap config file name."""
    m = re.search(r"hrnet-w(\d+)", config)
    if m:
        width = int(m.group(1))
        return TopDown(HRNet(width), HeatmapHead(width, num_keypoints, deconv_out_channels=None))
    m = re.search(r"res(\d+)", config)
    assert m, f"cannot tell the backbone of {config}"
    backbone = ResNet(int(m.group(1)))
    n_deconv = int(re.search(r"(\d)deconv", config).group(1)) if "deconv" in config else 3
    head = HeatmapHead(backbone.out_channels, num_keypoints, (256,) * n_deconv, (4,) * n_deconv)
    if config.startswith("td-hm-vis_"):
        head = VisPredictHead(head, backbone.out_channels, num_keypoints)
    return TopDown(backbone, head)


def build_tiny() -> TopDown:
    backbone = ResNet(18, stem_channels=4, base_channels=2)
    return TopDown(backbone, HeatmapHead(backbone.out_channels, 17, (8, 8, 8), (4, 4, 4)))


def expected_keys_shapes(f) -> Tuple[list, list, list]:
    shapes = [tuple(int(s) for s in row[row >= 0]) for row in f["shapes"]]
    return [str(k) for k in f["keys"]], shapes, [str(d) for d in f["dtypes"]]


def assert_same_state_dict_layout(model: nn.Module, f) -> None:
    keys, shapes, dtypes = expected_keys_shapes(f)
    sd = model.state_dict()
    assert list(sd.keys()) == keys
    for k, shape, dtype in zip(keys, shapes, dtypes):
        assert tuple(sd[k].shape) == shape, k
        assert str(sd[k].dtype).replace("torch.", "") == dtype, k


def assert_close(a: np.ndarray, b: np.ndarray) -> None:
    """|a - b| <= 1e-4 |b| + 1e-5 max|b| (the reference README's tolerance)."""
    assert a.shape == b.shape
    tol = 1e-4 * np.abs(b) + 1e-5 * np.abs(b).max()
    err = np.abs(a - b)
    assert np.all(err <= tol), f"max err {err.max():.3g}, worst ratio {(err / tol).max():.3g}"


_BUILT: Dict[Tuple[str, int], TopDown] = {}


def _reference_model(config: str, k: int, weights_rule) -> TopDown:
    """Build once per architecture (the three HRNet-W32 fixtures share their weights)."""
    arch = re.sub(r"_(dark|udp)-", "_", config)
    if (arch, k) not in _BUILT:
        model = build_from_config_name(config, k)
        sd = model.state_dict()
        weights = weights_rule([(n, tuple(v.shape)) for n, v in sd.items()])
        model.load_state_dict(weights, strict=True)
        _BUILT.clear()                   # keep at most one big model alive
        _BUILT[(arch, k)] = model.eval()
    return _BUILT[(arch, k)]


@pytest.mark.parametrize("name", MODEL_FIXTURES or ["<none>"])
def test_reference_model(name: str, reference_dir: Path, weights_rule) -> None:
    if not (reference_dir / name).is_file():
        pytest.skip(f"no per-model fixtures in {reference_dir}")
    f = np.load(reference_dir / name)
    meta = json.loads(str(f["meta_json"]))
    k = meta["num_keypoints"]
    model = _reference_model(meta["config"], k, weights_rule)
    assert_same_state_dict_layout(model, f)
    x = torch.from_numpy(f["input"])
    assert x.shape[2:] == tuple(meta["input_size_wh"][::-1])
    with torch.no_grad():
        out = model(x)
    heatmaps, vis = out if isinstance(out, tuple) else (out, None)
    w, h = meta["heatmap_size_wh"]
    assert heatmaps.shape == (x.shape[0], k, h, w)
    assert_close(heatmaps.numpy(), f["heatmaps"])
    assert (vis is None) == ("vis" not in f.files)
    if vis is not None:
        assert_close(vis.numpy(), f["vis"])


def test_tiny_checkpoint_layout_and_forward(reference_dir: Path) -> None:
    f = np.load(reference_dir / f"{TINY}_outputs.npz")
    model = build_tiny()
    assert_same_state_dict_layout(model, f)
    # the published checkpoint's trained weights load strictly and reproduce MMPose's heatmaps
    allowed = [np._core.multiarray._reconstruct, np.ndarray, np.dtype,
               np.dtypes.UInt8DType, np.dtypes.Float32DType]
    with torch.serialization.safe_globals(allowed):
        ckpt = torch.load(reference_dir / PUBLISHED, map_location="cpu", weights_only=True)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    x = np.load(reference_dir / "td-hm_res50_8xb64-210e_coco-256x192.npz")["input"]
    with torch.no_grad():
        heatmaps = model.eval()(torch.from_numpy(x)).numpy()
    assert_close(heatmaps, f["heatmaps"])


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
    model = TopDown(backbone, head).train()
    heatmaps = model(torch.randn(2, 3, 64, 32))
    assert heatmaps.shape == (2, 3, 16, 8)
    loss = head.loss(heatmaps, torch.rand_like(heatmaps), torch.ones(2, 3))
    loss.backward()
    assert backbone.conv1.weight.grad is not None and backbone.conv1.weight.grad.abs().sum() > 0
    assert backbone.bn1.num_batches_tracked.item() == 1
