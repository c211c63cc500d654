"""Starting weights of a training run (MMPose ``init_cfg`` Pretrained and ``load_from``):
torchvision / HRNet ImageNet layouts, prefix selection, 0.x names, reports, downloads through
the cache from a local server, and errors for files that fit almost nothing."""
from __future__ import annotations

import functools
import json
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from heatpose.engine.config import ModelConfig
from heatpose.engine.model import build_training_model
from heatpose.errors import CheckpointError, DownloadError

TINY = dict(backbone="resnet18", backbone_kwargs={"stem_channels": 8, "base_channels": 8},
            deconv_out_channels=(16,), deconv_kernel_sizes=(4,),
            codec={"type": "MSRAHeatmap", "input_size": [64, 96], "heatmap_size": [4, 6],
                   "sigma": 2})


def _tiny(**kw) -> ModelConfig:
    return ModelConfig(**{**TINY, **kw})


def _save_hashed(state, folder: Path, stem: str) -> Path:
    """Save like torchvision / MMPose release files: ``<stem>-<sha256[:8]>.pth``."""
    tmp = folder / f"{stem}.tmp"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    path = folder / f"{stem}-{digest}.pth"
    tmp.rename(path)
    return path


def _imagenet_file(backbone: torch.nn.Module, folder: Path, stem: str, extra: dict) -> tuple:
    """A classification file: the backbone's keys (no BN counters, as torchvision's old files)
    with random values, plus the classifier keys MMPose does not use."""
    g = torch.Generator().manual_seed(1)
    state = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v
             for k, v in backbone.state_dict().items() if not k.endswith("num_batches_tracked")}
    state.update(extra)
    return _save_hashed(state, folder, stem), state


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """(folder served on 127.0.0.1, base URL); downloads go to a fresh HEATPOSE_HOME."""
    root = tmp_path / "www"
    root.mkdir()
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path / "cache"))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()


def test_torchvision_resnet_from_url(served, tmp_path):
    """torchvision names (conv1, bn1, layer1.0..., fc.*) land on backbone.*; fc is unused;
    the second build reads the cached file (server gone)."""
    root, base, srv = served
    ref = build_training_model(_tiny(), report=lambda s: None)
    path, state = _imagenet_file(ref.backbone, root, "resnet18",
                                 {"fc.weight": torch.zeros(10, 64), "fc.bias": torch.zeros(10)})
    lines = []
    model = build_training_model(_tiny(pretrained_backbone=f"{base}/{path.name}"),
                                 report=lines.append)
    own = model.state_dict()
    for k, v in state.items():
        if not k.startswith("fc."):
            assert torch.equal(own["backbone." + k], v), k
    assert not torch.equal(own["head.final_layer.weight"], torch.zeros_like(
        own["head.final_layer.weight"]))
    n = len(state) - 2
    assert len(lines) == 1 and f"-> backbone: {n}/{n} tensors loaded" in lines[0]
    assert "2 in the file but unused: fc.bias, fc.weight" in lines[0].replace(
        "fc.weight, fc.bias", "fc.bias, fc.weight")
    assert (tmp_path / "cache" / path.name).is_file()
    srv.shutdown()
    again = build_training_model(_tiny(pretrained_backbone=f"{base}/{path.name}"),
                                 report=lambda s: None)
    assert torch.equal(again.state_dict()["backbone.conv1.weight"], state["conv1.weight"])


def test_offline_and_bad_hash_name_url_and_key(served, tmp_path):
    root, base, srv = served
    ref = build_training_model(_tiny(), report=lambda s: None)
    path, _ = _imagenet_file(ref.backbone, root, "resnet18", {})
    wrong = root / "resnet18-00000000.pth"
    wrong.write_bytes(path.read_bytes())
    with pytest.raises(DownloadError, match=r"model.pretrained_backbone: .*SHA-256"):
        build_training_model(_tiny(pretrained_backbone=f"{base}/{wrong.name}"))
    srv.shutdown()
    srv.server_close()
    url = f"{base}/{path.name}"
    with pytest.raises(DownloadError) as err:
        build_training_model(_tiny(pretrained_backbone=url))
    msg = str(err.value)
    assert "model.pretrained_backbone" in msg and url in msg
    assert str(tmp_path / "cache" / path.name) in msg
    with pytest.raises(DownloadError, match="model.init_checkpoint: .*missing.pth"):
        build_training_model(_tiny(init_checkpoint=str(tmp_path / "missing.pth")))


def test_file_that_fits_almost_nothing_is_an_error(tmp_path):
    state = {"conv1.weight": torch.zeros(3, 3, 3, 3), "classifier.weight": torch.zeros(2, 2)}
    path = tmp_path / "other.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=r"does not fit the backbone: only 0 of its"):
        build_training_model(_tiny(pretrained_backbone=str(path)))
    with pytest.raises(CheckpointError, match=r"does not fit the model"):
        build_training_model(_tiny(init_checkpoint=str(path)))


def test_prefix_selects_the_backbone_of_a_pose_model(tmp_path):
    """init_cfg with prefix='backbone.' on a full pose-model checkpoint ('module.' stripped)."""
    src = build_training_model(_tiny(), report=lambda s: None)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    path = tmp_path / "pose.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    lines = []
    model = build_training_model(_tiny(pretrained_backbone=str(path),
                                       pretrained_backbone_prefix="backbone."),
                                 report=lines.append)
    a, b = model.state_dict(), src.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("backbone."))
    assert not torch.equal(a["head.final_layer.weight"], b["head.final_layer.weight"])
    assert "0 in the file but unused" not in lines[0] and "unused" not in lines[0]
    with pytest.raises(CheckpointError, match="prefix 'neck.'"):
        build_training_model(_tiny(pretrained_backbone=str(path),
                                   pretrained_backbone_prefix="neck"))


def test_load_from_0x_names_skips_other_shapes(tmp_path):
    """load_from: a 0.x file (keypoint_head.*) of a 16-keypoint model into a 15-keypoint one
    (MMPose's JHMDB recipes start from the MPII model): all but the final layer is loaded."""
    mpii = build_training_model(_tiny(schema="mpii"), report=lambda s: None)
    with torch.no_grad():
        for p in mpii.parameters():
            p.add_(1.0)
    state = {("keypoint_head." + k[5:] if k.startswith("head.") else k): v
             for k, v in mpii.state_dict().items()}
    path = tmp_path / "res_mpii.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 210}}, path)
    lines = []
    model = build_training_model(_tiny(schema="jhmdb", pretrained_backbone=None,
                                       init_checkpoint=str(path)), report=lines.append)
    a, b = model.state_dict(), mpii.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("head.final_layer."))
    assert a["head.final_layer.weight"].shape[0] == 15
    assert "2 with other shapes (skipped): head.final_layer" in lines[0]


def test_hrnet_imagenet_layout(tmp_path):
    """HRNet ImageNet files (official names, plus incre_modules/classifier MMPose leaves)."""
    from heatpose.engine.pretrained import load_pretrained_backbone
    from heatpose.models.backbones import build_backbone

    holder = torch.nn.Module()
    holder.backbone = build_backbone("hrnet_w32")
    extra = {"incre_modules.0.0.conv1.weight": torch.zeros(32, 32, 1, 1),
             "classifier.weight": torch.zeros(1000, 2048)}
    path, state = _imagenet_file(holder.backbone, tmp_path, "hrnet_w32", extra)
    report = load_pretrained_backbone(holder, str(path))
    own = holder.backbone.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if k not in extra)
    n = len(state) - 2
    assert f"{n}/{n} tensors loaded; 2 in the file but unused" in report.summary()
    assert not report.missing and not report.mis_shaped


def test_heatpose_train_loads_reports_and_keeps_the_flags(tmp_path, data_dir, capsys):
    """`heatpose train PRESET --amp --auto-scale-lr --set model.pretrained_backbone=FILE`:
    the file's report is printed, the flags and the recipe's flip shift are in the saved
    config and model."""
    from heatpose.cli import main
    from heatpose.engine.config import load_config
    from heatpose.models.build import load_model

    ref = build_training_model(_tiny(), report=lambda s: None)
    path, _ = _imagenet_file(ref.backbone, tmp_path, "resnet18", {"fc.bias": torch.zeros(10)})
    work = tmp_path / "work"
    argv = ["train", "td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192", "--data-root",
            str(data_dir / "coco_mini"), "--work-dir", str(work), "--batch-size", "2",
            "--max-iters", "1", "--amp", "--auto-scale-lr"]
    sets = ["model.backbone=resnet18", "model.backbone_kwargs=" + json.dumps(
        TINY["backbone_kwargs"]), "model.deconv_out_channels=[16]",
            "model.deconv_kernel_sizes=[4]", "model.codec.input_size=[64,96]",
            "model.codec.heatmap_size=[4,6]", f"model.pretrained_backbone={path}",
            "data.train_ann_file=annotations/person_keypoints_train2017.json",
            "data.train_img_prefix=train2017/", "data.val_ann_file=null", "data.num_workers=0"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert f"{path} -> backbone: " in err and "1 in the file but unused: fc.bias" in err
    cfg = load_config(work / "config.json")
    assert cfg.train.amp is True and cfg.optim.auto_scale_lr is True
    assert cfg.model.flip_shift is False                      # UDP recipe: no shift
    assert load_model(work / "latest.pth").flip_shift is False
