"""Training config (file round trip, --set overrides and their errors), the MMPose LR schedule,
linear LR scaling, and `heatpose config NAME` -> `heatpose train FILE` through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from heatpose.engine.config import (ConfigError, TrainConfig, apply_overrides, dump_config,
                                    load_config, save_config)
from heatpose.engine.optim import WarmupMultiStepLR, build_optimizer, scaled_lr
from heatpose.cli import main
from heatpose.engine.presets import resolve_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRESET = "td-hm_res50_8xb64-210e_coco-256x192"

# a CPU-sized network and the coco_mini layout (train annotations double as val)
TINY = ["model.name=tiny-test", "model.backbone=resnet18",
        'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
        "model.deconv_out_channels=[32,32,32]",
        'model.codec={"type": "MSRAHeatmap", "input_size": [64, 96], '
        '"heatmap_size": [16, 24], "sigma": 2}',
        "data.val_ann_file=annotations/person_keypoints_train2017.json",
        "data.val_img_prefix=train2017/", "data.val_bbox_file=null", "data.num_workers=0",
        "optim.warmup_iters=3", "train.log_interval=1",
        "model.pretrained_backbone=null"]         # the recipe's ImageNet resnet50 does not fit


# ------------------------------------------------------------------ schedule
@pytest.mark.parametrize("case", json.loads((FIXTURES / "engine_lr_schedule.json").read_text()))
def test_schedule_matches_mmengine(case):
    """Every iteration's lr equals mmengine's chained LinearLR (per iter) + MultiStepLR
    (per epoch), recorded by tools/engine_lr_reference.py."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=case["base_lr"])
    sched = WarmupMultiStepLR(opt, case["warmup_iters"], case["start_factor"],
                              case["milestones"], case["gamma"])
    n = case["epoch_length"]
    for t, expected in enumerate(case["lrs"]):
        sched.apply(t, t // n)
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12, abs=0)


def test_schedule_state_round_trip():
    p = torch.nn.Parameter(torch.zeros(1))
    a = WarmupMultiStepLR(torch.optim.Adam([p], lr=1e-3), 10, 0.001, [2], 0.1)
    a.apply(7, 1)
    b = WarmupMultiStepLR(torch.optim.Adam([p], lr=5.0), 1, 0.5, [], 0.5)
    b.load_state_dict(a.state_dict())
    assert b.get_last_lr() == a.get_last_lr()
    assert b.factor(100, 3) == pytest.approx(0.1)


def test_linear_lr_scaling():
    assert TrainConfig().optim.auto_scale_lr is False       # as MMPose: only with --auto-scale-lr
    assert scaled_lr(TrainConfig().optim, 32, 2) == TrainConfig().optim.lr
    cfg = apply_overrides(TrainConfig(), ["optim.auto_scale_lr=true"]).optim  # 5e-4 for a batch of 512
    assert scaled_lr(cfg, 64, 8) == cfg.lr
    assert scaled_lr(cfg, 32, 2) == pytest.approx(5e-4 * 64 / 512)
    model = torch.nn.Linear(2, 2)
    assert build_optimizer(model, cfg, 16, 1).param_groups[0]["lr"] == pytest.approx(
        5e-4 * 16 / 512)
    off = apply_overrides(TrainConfig(), ["optim.auto_scale_lr=false"]).optim
    assert scaled_lr(off, 16, 1) == off.lr


# ------------------------------------------------------------------ config files
def test_preset_config_has_mmpose_training_settings():
    from heatpose.engine.presets import resolve_config

    cfg = resolve_config(PRESET)
    assert cfg.preset == PRESET and cfg.model.backbone == "resnet50"
    assert cfg.model.deconv_out_channels == (256, 256, 256)
    assert cfg.model.codec["input_size"] == [192, 256] and cfg.model.schema == "coco"
    assert cfg.data.dataset == "coco"
    assert cfg.data.train_ann_file == "annotations/person_keypoints_train2017.json"
    assert cfg.data.train_img_prefix == "train2017/" and cfg.data.val_img_prefix == "val2017/"
    assert cfg.data.val_bbox_file == \
        "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
    assert cfg.data.augment.rotate_factor == 80.0 and cfg.data.augment.half_body_prob == 0.3
    assert (cfg.optim.type, cfg.optim.lr, cfg.optim.base_batch_size) == ("Adam", 5e-4, 512)
    assert cfg.optim.milestones == (170, 200) and cfg.optim.warmup_iters == 500
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.val_metric) == (210, 64, "AP")


def test_preset_key_metric_maps_onto_reported_names():
    """Every preset's best-checkpoint metric is the metric its zoo table's key column shows
    (evaluate_dataset's name for it), and MPII presets validate with head boxes."""
    from heatpose.engine.presets import config_from_preset
    from heatpose.evaluation.dataset_metrics import table_columns
    from heatpose.models.zoo import list_presets

    seen = set()
    for preset in list_presets():
        cfg = config_from_preset(preset)
        shown = [m for _, cols, _ in table_columns(preset.dataset) for c, m in cols
                 if c == preset.key_metric]
        assert shown and cfg.train.val_metric == shown[0], preset.name
        assert cfg.train.val_rule is None                  # 'greater' for all of these
        seen.add((preset.key_metric, cfg.train.val_metric))
        if preset.dataset == "mpii":
            assert cfg.data.val_headbox_file == "annotations/mpii_gt_val.mat"
    assert {("Mean", "PCK"), ("Total", "AP"), ("PCK@0.2", "PCK"), ("Mean Acc", "PCKh"),
            ("Whole AP", "AP")} <= seen


def test_overridden_architecture_is_not_saved_as_the_preset(tmp_path):
    """A preset config keeps the preset's name only with the preset's network and codec; with
    a smaller backbone (etc.) the file is '<preset>+custom' (or the config's own model.name),
    and load_model rebuilds it from its own metadata without attaching the zoo preset."""
    from heatpose.engine.model import build_training_model, training_model_name
    from heatpose.engine.presets import resolve_config
    from heatpose.models.build import load_model, save_model

    cfg = resolve_config(PRESET)
    assert training_model_name(cfg) == PRESET
    assert training_model_name(apply_overrides(cfg, ["train.epochs=3", "optim.lr=1e-3",
                                                     "model.flip_test=false"])) == PRESET
    for item in ("model.backbone=resnet18", 'model.backbone_kwargs={"stem_channels": 32}',
                 "model.deconv_out_channels=[128,128,128]", "model.schema=aic",
                 'model.codec.input_size=[128,128]', "model.visibility_head=true"):
        assert training_model_name(apply_overrides(cfg, [item])) == PRESET + "+custom", item
    small = TINY[1:5] + TINY[-1:]                   # resnet18 (8 channels), 64x96 input
    assert training_model_name(apply_overrides(cfg, small + ["model.name=my-net"])) == "my-net"
    for extra, name in (([], PRESET + "+custom"), (["model.name=my-net"], "my-net")):
        custom = apply_overrides(cfg, small + extra)
        model = build_training_model(custom.model, name=training_model_name(custom))
        save_model(model, tmp_path / "m.pth")
        back = load_model(tmp_path / "m.pth")
        assert back.name == name and back.preset is None
        assert "preset" not in back.metadata()
        assert back.architecture.backbone_kwargs == {"stem_channels": 8, "base_channels": 8}
        assert back.input_size == (64, 96)
        with torch.no_grad():
            assert back(torch.zeros(1, 3, 96, 64)).shape == (1, 17, 24, 16)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_round_trip(tmp_path, suffix):
    pytest.importorskip("yaml") if suffix == ".yaml" else None
    cfg = apply_overrides(TrainConfig(), TINY + ["data.augment.enabled=false"])
    path = save_config(cfg, tmp_path / f"c{suffix}")
    back = load_config(path)
    assert back == cfg
    assert back.model.backbone_kwargs == {"stem_channels": 8, "base_channels": 8}
    assert back.data.augment.enabled is False


def test_overrides_are_type_checked():
    cfg = apply_overrides(TrainConfig(), ["train.batch_size=8", "optim.lr=1e-3",
                                          "optim.milestones=[1, 2]", "train.amp=false",
                                          "model.codec.sigma=3", "train.max_iters=none"])
    assert (cfg.train.batch_size, cfg.optim.lr, cfg.optim.milestones) == (8, 1e-3, (1, 2))
    assert cfg.train.amp is False and cfg.model.codec["sigma"] == 3
    assert cfg.train.max_iters is None


@pytest.mark.parametrize("item, message", [
    ("train.batchsize=8", "did you mean train.batch_size"),
    ("train.batch_size=eight", "train.batch_size = 'eight': expected int"),
    ("train.batch_size=1.5", "expected int"),
    ("optim.lr=fast", "optim.lr = 'fast': expected float"),
    ("train.amp=2", "expected bool"),
    ("optim.milestones=[1, \"x\"]", "optim.milestones[1]"),
    ("modle.backbone=resnet18", "did you mean model"),
    ("train.batch_size", "expected KEY=VALUE"),
    ("model.backbone.depth=3", "not a section"),
    # ranges: one line naming the key and what it allows
    ("optim.lr=-1", "--set: optim.lr = -1.0: must be > 0"),
    ("optim.lr=NaN", "optim.lr = nan: must be > 0"),
    ("train.batch_size=0", "train.batch_size = 0: must be >= 1"),
    ("train.epochs=-2", "train.epochs = -2: must be >= 1"),
    ("data.augment.flip_prob=1.5", "data.augment.flip_prob = 1.5: must be in [0, 1]"),
    ("data.augment.rotate_prob=-0.1", "must be in [0, 1]"),
    ("data.augment.scale_factor=[0.5, 0]", "data.augment.scale_factor[1] = 0.0: must be > 0"),
    ("optim.warmup_start_factor=0", "optim.warmup_start_factor = 0.0: must be in (0, 1]"),
    ("optim.milestones=[10, -1]", "optim.milestones[1] = -1: must be >= 0"),
    ("data.num_workers=-1", "data.num_workers = -1: must be >= 0"),
    ("data.bbox_padding=0", "data.bbox_padding = 0.0: must be > 0"),
    # the codec dict is built as the model will build it
    ("model.codec.sigma=0", "--set: model.codec.sigma: sigma must be positive"),
    ("model.codec.sigma=-1", "--set: model.codec.sigma:"),
    ("model.codec.input_size=[0,0]", "--set: model.codec.input_size:"),
    ("model.codec.heatmap_size=[-4,8]", "--set: model.codec.heatmap_size:"),
    ("model.codec.type=Nope", "--set: model.codec.type: unknown codec type 'Nope'"),
    ("model.codec={}", "--set: model.codec.type: unknown codec type None"),
    ("model.codec.sigma=x", "--set: model.codec = {"),
    ("model.codec.spread=1", "--set: model.codec: codec MSRAHeatmap: unknown argument"),
])
def test_bad_overrides_give_clear_errors(item, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainConfig(), [item])
    assert message in str(err.value)


@pytest.mark.parametrize("item", ["model.codec.sigma=0", "model.codec.type=Nope",
                                  "model.codec.input_size=[0,0]"])
def test_bad_codec_is_one_line_in_config_and_train(item, tmp_path, capsys):
    """`heatpose config` and `heatpose train` stop with exit 2 and one line naming the key;
    a file's bad codec names the file."""
    key = "model.codec." + item.split(".")[2].split("=")[0]
    assert main(["config", PRESET, "--set", item]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--set: {key}:" in err
    assert main(["train", PRESET, "--data-root", str(tmp_path), "--work-dir",
                 str(tmp_path / "w"), "--set", item]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"--set: {key}:" in err[-1] and not (tmp_path / "w").exists()
    path = tmp_path / "bad.json"
    assert main(["config", PRESET, "-o", str(path)]) == 0
    data = json.loads(path.read_text())
    data["model"]["codec"]["heatmap_size"] = [-4, 8]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"bad.json: model.codec.heatmap_size: heatmap_size"):
        load_config(path)


def test_config_checks_the_codec_without_torch(tmp_path):
    """`heatpose config` builds the codec to check it, and still starts without torch."""
    import subprocess
    import sys

    code = ("import sys; from heatpose.cli import main; "
            f"rc = main(['config', {PRESET!r}, '--set', 'model.codec.sigma=3', '-o', "
            f"{str(tmp_path / 'c.json')!r}]); print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["0", "False"], proc.stderr


@pytest.mark.parametrize("name, items, keys", [
    (PRESET, ["model.backbone=resnet18"], ["model.backbone", "model.pretrained_backbone"]),
    (PRESET, ['model.backbone_kwargs={"base_channels": 8}'],
     ["model.backbone_kwargs", "model.pretrained_backbone"]),
    ("td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192", ["model.backbone=hrnet_w48"],
     ["model.backbone", "model.init_checkpoint"]),
    ("td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192", ["model.schema=mpii"],
     ["model.schema", "model.init_checkpoint"]),
])
def test_recipe_weights_for_another_network_stop_before_download(name, items, keys, tmp_path,
                                                                  capsys, monkeypatch):
    """A recipe's own ImageNet/load_from file with an overridden architecture: one line naming
    both keys and the file, before anything is downloaded."""
    from heatpose.engine import pretrained
    from heatpose.engine.model import build_training_model, check_start_weights

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(pretrained, "load_pretrained_backbone", no_download)
    monkeypatch.setattr(pretrained, "load_init_checkpoint", no_download)
    argv = ["train", name, "--data-root", str(tmp_path), "--work-dir", str(tmp_path / "w")]
    for item in items:
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    cfg = resolve_config(name)
    own = cfg.model.init_checkpoint or cfg.model.pretrained_backbone
    assert all(k in err for k in keys) and own in err and f"{keys[1]}=null" in err, err
    custom = apply_overrides(cfg, items)
    with pytest.raises(ConfigError):                       # the Python API too
        build_training_model(custom.model, report=lambda line: None)
    for fix in ("null", "other.pth"):                      # accepted once the key is set
        check_start_weights(apply_overrides(custom, [f"{keys[1]}={fix}"]).model)
    check_start_weights(apply_overrides(cfg, ["model.codec.sigma=3"]).model)   # same network


def test_ranges_checked_in_files_and_defaults_in_one_place(tmp_path):
    """Files are range-checked like --set; the defaults are the transforms' own."""
    from heatpose.data import transforms as T
    from heatpose.data.dataset import TrainAugment
    from heatpose.engine.data import data_augment

    bad = tmp_path / "bad.json"
    bad.write_text('{"optim": {"gamma": 0}}')
    with pytest.raises(ConfigError, match=r"bad.json: optim.gamma = 0.0: must be > 0"):
        load_config(bad)
    d = TrainConfig().data
    aug = data_augment(d)
    assert aug == TrainAugment()                    # flat config == the transforms' defaults
    assert (aug.flip, aug.half_body, aug.bbox_transform) == (
        T.FlipConfig(), T.HalfBodyConfig(), T.BBoxTransformConfig())
    assert d.bbox_padding == aug.padding == T.BBOX_PADDING
    off = data_augment(apply_overrides(TrainConfig(), ["data.augment.enabled=false"]).data)
    assert (off.flip, off.half_body, off.bbox_transform) == (None, None, None)


def test_bad_config_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": {"epochz": 3}}')
    with pytest.raises(ConfigError, match=r"bad.json: unknown config key 'train.epochz'"):
        load_config(bad)
    bad.write_text('{"train": {"epochs": "many"}}')
    with pytest.raises(ConfigError, match=r"bad.json: train.epochs = 'many': expected int"):
        load_config(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.json")


# ------------------------------------------------------------------ CLI round trip
def test_cli_config_then_train(tmp_path, data_dir, capsys):
    """`heatpose config NAME > file` -> edit -> `heatpose train file --max-iters 2`."""
    from heatpose.cli import main
    from heatpose.models.build import load_model

    assert main(["config", PRESET]) == 0
    text = capsys.readouterr().out
    data = json.loads(text)
    assert data["optim"]["milestones"] == [170, 200]
    path = tmp_path / "train.json"
    path.write_text(text)
    work = tmp_path / "work"
    argv = ["train", str(path), "--data-root", str(data_dir / "coco_mini"), "--work-dir",
            str(work), "--batch-size", "4", "--max-iters", "2"]
    for item in TINY:
        argv += ["--set", item]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "trained 2 iterations" in out.out
    assert load_config(work / "config.json").train.max_iters == 2
    lines = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines()]
    assert [x["iter"] for x in lines if x["mode"] == "train"] == [1, 2]
    model = load_model(work / "latest.pth")              # a self-describing model file
    assert model.input_size == (64, 96) and model.name == "tiny-test"
    # errors are one line and exit status 2
    assert main(argv + ["--set", "optim.lr=x"]) == 2
    assert "optim.lr = 'x': expected float" in capsys.readouterr().err
    assert main(argv + ["--batch-size", "0"]) == 2
    assert "--batch-size 0: must be at least 1" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nope.json"), "--data-root", ".", "--work-dir",
                 str(work)]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_dump_yaml_when_available():
    pytest.importorskip("yaml")
    import yaml

    text = dump_config(TrainConfig(), yaml=True)
    assert yaml.safe_load(text)["optim"]["type"] == "Adam"


def test_every_config_key_is_read_by_the_training_code():
    """Each TrainConfig field is read somewhere outside config.py (engine, data, commands):
    a key nothing reads would be a setting that silently does nothing."""
    from heatpose.engine.config import known_keys

    root = Path(__file__).resolve().parent.parent / "heatpose"
    sources = [p for d in ("engine", "data", "commands", "models") for p in (root / d).rglob("*.py")
               if p.name != "config.py"]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    unread = [key for key in known_keys()
              if f".{key.split('.')[-1]}" not in text]
    assert not unread, f"config keys no training code reads: {unread}"
