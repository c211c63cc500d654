"""Checkpoint reading: genuine MMPose files, 0.x / official layouts, safety, clear errors."""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

import heatpose
from heatpose.errors import CheckpointError
from heatpose.models.build import Architecture, build_estimator, load_model, save_model
from heatpose.models.checkpoints import load_checkpoint, read_checkpoint, to_mmpose_names

from test_parity import close

TINY = "td-hm_res18-tiny_coco-256x192"
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CODEC = {"type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2}


def tiny_model(name=TINY):
    arch = Architecture("resnet18", 17, (8, 8, 8), (4, 4, 4),
                        backbone_kwargs={"stem_channels": 4, "base_channels": 2})
    return build_estimator(arch, CODEC, COCO_FLIP, name=name).eval()


def small_model():
    """A small SimpleBaseline-style model for layout tests (fast on CPU)."""
    arch = Architecture("resnet18", 17, (16, 16), (4, 4))
    return build_estimator(arch, CODEC, COCO_FLIP, name="small").eval()


@pytest.mark.parametrize("fname", [f"{TINY}_epoch_1.pth", f"{TINY}_published-a0e8d5db_20261121.pth"])
def test_genuine_mmpose_checkpoints_load_and_match_outputs(fname, reference_dir, data_dir):
    ckdir = reference_dir / "checkpoints"
    out = np.load(ckdir / f"{TINY}_outputs.npz")
    model = tiny_model()
    meta = load_checkpoint(model, ckdir / fname)
    assert meta["epoch"] == 1 and meta["dataset_meta"]["num_keypoints"] == 17
    assert list(model.state_dict()) == out["keys"].tolist()
    x = np.load(reference_dir / "td-hm_res50_8xb64-210e_coco-256x192.npz")["input"]
    with torch.no_grad():
        close(model(torch.from_numpy(x)).numpy(), out["heatmaps"])
    res = model.predict(str(data_dir / str(out["e2e_images"][0])), out["e2e_bboxes_xyxy"],
                        return_heatmaps=True)
    close(res.heatmaps, out["e2e_heatmaps"])
    close(res.scores, out["e2e_keypoint_scores"])
    stable = out["e2e_stable"]
    err = np.linalg.norm(res.keypoints - out["e2e_keypoints"], axis=-1)
    assert np.all(err[stable] <= 1e-3)


def test_checkpoint_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    sd = small_model().state_dict()
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": sd, "meta": {"x": Evil()}}, path)
    state, meta = read_checkpoint(path)
    assert not marker.exists()
    assert "posix.system" in repr(meta["x"]) or "os.system" in repr(meta["x"])
    model = small_model()
    load_checkpoint(model, path)                    # the weights themselves are fine
    # a legacy (non-zip) file too
    legacy = tmp_path / "evil_legacy.pth"
    torch.save({"state_dict": sd, "meta": {"x": Evil()}}, legacy,
               _use_new_zipfile_serialization=False)
    read_checkpoint(legacy)
    assert not marker.exists()


def test_mmpose_0x_and_official_layouts(tmp_path):
    src = small_model()
    for p in src.parameters():
        torch.nn.init.normal_(p)
    sd = src.state_dict()
    layouts = {
        "mmpose0x": {k.replace("head.", "keypoint_head.", 1): v for k, v in sd.items()},
        "official": OrderedDict(("module." + k.split(".", 1)[1], v) for k, v in sd.items()),
        "bare": dict(sd),
    }
    for name, state in layouts.items():
        path = tmp_path / f"{name}.pth"
        torch.save(state if name != "mmpose0x" else {"state_dict": state, "meta": {}}, path)
        model = small_model()
        load_checkpoint(model, path)
        for k, v in model.state_dict().items():
            assert torch.equal(v, sd[k]), (name, k)


def test_old_final_layer_with_intermediate_convs_is_renamed():
    keys = {"head.conv_layers.0.weight", "head.conv_layers.1.weight", "head.final_layer.weight"}
    old = {"keypoint_head.final_layer.0.weight": 1, "keypoint_head.final_layer.1.weight": 2,
           "keypoint_head.final_layer.3.weight": 3}
    new = to_mmpose_names(old, keys)
    assert new == {"head.conv_layers.0.weight": 1, "head.conv_layers.1.weight": 2,
                   "head.final_layer.weight": 3}


def test_mismatch_errors_list_keys(tmp_path):
    sd = small_model().state_dict()
    bad = dict(sd)
    bad.pop("head.final_layer.bias")
    bad["head.extra.weight"] = torch.zeros(1)
    bad["head.final_layer.weight"] = torch.zeros(5, 16, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": bad}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(small_model(), path)
    msg = str(err.value)
    assert str(path) in msg and "head.final_layer.bias" in msg and "head.extra.weight" in msg
    assert "head.final_layer.weight (file (5, 16, 1, 1), model (17, 16, 1, 1))" in msg


def test_truncated_and_garbage_files(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"state_dict": small_model().state_dict()}, path)
    data = path.read_bytes()
    trunc = tmp_path / "truncated.pth"
    trunc.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    for p in (trunc, garbage, tmp_path / "missing.pth"):
        with pytest.raises(CheckpointError, match=str(p.name)):
            read_checkpoint(p)


def test_heatpose_checkpoint_is_self_describing(tmp_path):
    model = small_model()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    path = save_model(model, tmp_path / "run" / "model.pth")
    assert not list(path.parent.glob("*.tmp"))
    loaded = load_model(path)
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.codec.to_dict() == model.codec.to_dict()
    assert loaded.flip_indices == model.flip_indices
    # the metadata is plain JSON-friendly data, loadable with weights_only=True
    raw = torch.load(path, weights_only=True)
    assert raw["meta"]["architecture"]["backbone"] == "resnet18"


def test_public_api_names():
    assert callable(heatpose.build_model) and callable(heatpose.load_checkpoint)
    assert callable(heatpose.list_models)


def test_training_state_reads_through_the_safe_reader(tmp_path):
    """--resume files go through read_torch_file: an intact one loads, a truncated one and a
    non-checkpoint are one line naming the file (no second error wrapper around the reader)."""
    from heatpose.engine.state import RESUME_KEYS, read_training_state

    payload = {"state_dict": OrderedDict(w=torch.arange(6.0))}
    payload.update({k: {"k": 1} for k in RESUME_KEYS})
    good = tmp_path / "latest.pth"
    torch.save(payload, good)
    assert torch.equal(read_training_state(good)["state_dict"]["w"], torch.arange(6.0))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    for path in (cut, text):
        with pytest.raises(CheckpointError) as err:
            read_training_state(path)
        msg = str(err.value)
        assert msg.startswith(f"{path}: not a readable checkpoint") and "\n" not in msg, msg


@pytest.mark.parametrize("rank", ["0", "1"])
def test_start_weights_print_and_show_progress_on_rank_0_only(rank, monkeypatch, capsys):
    """One rank rule (engine.distributed.env_dist_info): the download progress bar and the
    load report line come from the torchrun process with RANK 0 only."""
    import heatpose.inference.download as download_mod
    from heatpose.engine.model import _report_main
    from heatpose.engine.pretrained import fetch_weights

    seen = []
    monkeypatch.setattr(download_mod, "download",
                        lambda url, progress=True: seen.append(progress) or "/tmp/w.pth")
    monkeypatch.setenv("RANK", rank)
    assert fetch_weights("https://example.invalid/w.pth", "model.init_checkpoint") == "/tmp/w.pth"
    _report_main("loaded 10/10 tensors")
    assert seen == [rank == "0"]
    assert ("loaded 10/10 tensors" in capsys.readouterr().err) == (rank == "0")


def test_check_start_weights_builds_the_recipe_config_once(monkeypatch):
    """check_start_weights compares against the recipe's own config, built once per call,
    and still finds an overridden backbone under the recipe's ImageNet file."""
    from heatpose.engine import presets
    from heatpose.engine.config import ConfigError, apply_overrides
    from heatpose.engine.model import check_start_weights

    cfg = presets.config_from_preset(heatpose.recipes.get_recipe(
        "td-hm_res50_8xb64-210e_coco-256x192"))
    calls = []
    real = presets.config_from_preset
    monkeypatch.setattr(presets, "config_from_preset",
                        lambda preset: calls.append(preset.name) or real(preset))
    check_start_weights(cfg.model)
    assert calls == ["td-hm_res50_8xb64-210e_coco-256x192"]
    with pytest.raises(ConfigError, match="model.backbone=.*model.pretrained_backbone"):
        check_start_weights(apply_overrides(cfg, ["model.backbone=resnet18"]).model)
    assert len(calls) == 2
