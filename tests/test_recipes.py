"""Every MMPose 1.3.2 ResNet/HRNet heatmap recipe, built by heatpose, against what MMPose builds
from the same config (tests/fixtures/mmpose_recipes.json, tools/dump_mmpose_recipes.py):
decoder, flip settings, crop convention, keypoints, sizes, head layers; and the TrainConfig
of each recipe against MMPose's training settings.

The backbones are replaced by a stub of the right output width while building (HRNet builds
take seconds on 2 cores; backbone parity is tests/test_parity.py's), so all 108 build fast."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import heatpose.models.build as build_mod
from heatpose.engine.presets import config_from_preset
from heatpose.recipes import get_recipe, list_recipes

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "mmpose_recipes.json").read_text())
CONFIGS = FIXTURE["configs"]
WIDTH = {"resnet50": 2048, "resnet101": 2048, "resnet152": 2048, "hrnet_w32": 32, "hrnet_w48": 48}


class _StubBackbone(torch.nn.Identity):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.out_channels = WIDTH[name]


@pytest.fixture(scope="module")
def built():
    """config path -> (heatpose model, backbone name it asked for), built through build_model."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build_mod, "build_backbone", lambda name, **kw: _StubBackbone(name))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build_mod.RandomWeightsWarning)
            for rel in CONFIGS:
                model = build_mod.build_model(rel.rsplit("/", 1)[-1])
                out[rel] = (model, model.backbone.name)
    return out


def test_every_config_is_a_recipe():
    assert FIXTURE["mmpose_version"] == "1.3.2" and len(CONFIGS) == 108
    names = {r.mmpose_config for r in list_recipes() if r.mmpose_config}
    assert names == set(CONFIGS)
    for rel in CONFIGS:
        assert get_recipe("configs/" + rel).mmpose_config == rel


@pytest.mark.parametrize("rel", list(CONFIGS), ids=lambda r: r.rsplit("/", 1)[-1][:-3])
def test_built_model_matches_mmpose(rel, built):
    ref = CONFIGS[rel]
    model, backbone = built[rel]
    codec = model.codec.to_dict()
    assert codec == ref["decoder"], (codec, ref["decoder"])
    assert model.codec.flip_mode == ref["flip_mode"]
    assert model.flip_test is ref["flip_test"] and model.flip_shift is ref["shift_heatmap"]
    assert model.codec.use_udp is ref["use_udp"]                 # crop convention (TopdownAffine)
    assert list(model.input_size) == ref["input_size"] == ref["decoder"]["input_size"]
    assert model.num_keypoints == ref["num_keypoints"]
    assert backbone == ref["backbone"]
    deconvs = [m for m in model.head.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == ref["deconv_out_channels"]
    assert [d.kernel_size[0] for d in deconvs] == ref["deconv_kernel_sizes"]
    convs = [m for m in model.head.modules() if isinstance(m, torch.nn.Conv2d)
             and not isinstance(m, torch.nn.ConvTranspose2d)]
    assert convs[-1].out_channels == ref["head_out_channels"]
    assert model.has_visibility is ref["visibility_head"]
    recipe = model.preset
    out_idx = recipe.test.output_keypoint_indices
    assert (list(out_idx) if out_idx is not None else None) == ref["output_keypoint_indices"]


def _root_path(rel: str, own: str) -> str:
    """A TrainConfig path (relative to --data-root = data/<own>/) as MMPose's data/... path."""
    return f"data/{own}/{rel}" if not rel.startswith("../") else "data/" + rel[3:]


@pytest.mark.parametrize("rel", list(CONFIGS), ids=lambda r: r.rsplit("/", 1)[-1][:-3])
def test_train_config_matches_mmpose(rel):
    ref = CONFIGS[rel]["train"]
    cfg = config_from_preset(get_recipe("configs/" + rel))
    m, d, o, t = cfg.model, cfg.data, cfg.optim, cfg.train
    assert {**m.codec, "sigma": float(m.codec["sigma"])} == ref["encoder"]
    assert m.pretrained_backbone == ref["pretrained"]
    assert m.pretrained_backbone_prefix == ref["pretrained_prefix"]
    assert m.init_checkpoint == ref["load_from"]
    if ref["vis_loss_weight"] is not None:
        assert m.vis_loss_weight == ref["vis_loss_weight"]
    a = d.augment
    assert a.enabled and ref["flip_direction"] == "horizontal" and a.flip_prob == ref["flip_prob"]
    half = ref["half_body"]
    if half is None:
        assert a.half_body_prob == 0
    else:
        assert (a.half_body_prob, a.half_body_min_total_keypoints, a.half_body_padding,
                a.half_body_upper_prioritized_prob) == (half["prob"], half["min_total_keypoints"],
                                                         half["padding"], half["upper_prioritized_prob"])
        assert (half["min_upper_keypoints"], half["min_lower_keypoints"]) == (2, 3)   # heatpose's fixed rule
    bbt = ref["bbox_transform"]
    assert (a.shift_factor, a.shift_prob, list(a.scale_factor), a.scale_prob, a.rotate_factor,
            a.rotate_prob) == (bbt["shift_factor"], bbt["shift_prob"], list(bbt["scale_factor"]),
                               bbt["scale_prob"], bbt["rotate_factor"], bbt["rotate_prob"])
    assert d.bbox_padding == ref["bbox_padding"]
    assert d.use_dataset_keypoint_weights is ref["use_dataset_keypoint_weights"]
    assert (o.type, o.lr, o.weight_decay) == (ref["optimizer"]["type"], ref["optimizer"]["lr"],
                                              ref["optimizer"].get("weight_decay", 0.0))
    assert (o.warmup_iters, o.warmup_start_factor, list(o.milestones), o.gamma) == (
        ref["warmup_iters"], ref["warmup_start_factor"], ref["milestones"], ref["gamma"])
    assert o.base_batch_size == ref["base_batch_size"] and o.auto_scale_lr is False
    assert (t.epochs, t.val_interval, t.batch_size, t.amp) == (
        ref["max_epochs"], ref["val_interval"], ref["batch_size"], ref["amp"])
    # datasets: the main set, then the CombinedDataset's others with their keypoint mappings
    main, *extra = ref["datasets"]
    own = main["ann_file"].split("/")[1]
    assert _root_path(d.train_ann_file, own) == main["ann_file"]
    assert _root_path(d.train_img_prefix, own) == main["img_prefix"]
    identity = [[i, i] for i in range(len(main.get("mapping") or []))]
    assert d.train_keypoint_mapping in (main.get("mapping"), None if main.get("mapping") == identity else 0)
    assert len(d.extra_train_sets) == len(extra)
    for got, want in zip(d.extra_train_sets, extra):
        assert _root_path(got["ann_file"], own) == want["ann_file"]
        assert _root_path(got["img_prefix"], own) == want["img_prefix"]
        assert got["keypoint_mapping"] == want.get("mapping")
    val = ref["val"]
    assert _root_path(d.val_ann_file, own) == val["ann_file"]
    assert _root_path(d.val_img_prefix, own) == val["img_prefix"]
    assert (d.val_bbox_file and _root_path(d.val_bbox_file, own)) == val.get("bbox_file")
    assert (d.val_headbox_file and _root_path(d.val_headbox_file, own)) == val.get("headbox_file")


def test_one_backbone_and_head_layout_per_architecture():
    """heatpose has one definition per backbone name (resnet50, hrnet_w32, ...) and a head
    without extra convs and a 1x1 final layer: every recipe's resolved backbone config is the
    same per name, and no recipe sets head convs or another final layer."""
    import json as _json

    seen = {}
    for r in list_recipes():
        if r.model.backbone_cfg is None:                 # 0.x-only rows: no 1.x config
            continue
        key = _json.dumps(r.model.backbone_cfg, sort_keys=True)
        assert seen.setdefault(r.backbone, key) == key, r.name
        head = r.model.head
        assert head["conv_out_channels"] is None and head["final_layer"] == {"kernel_size": 1}, r.name
    assert set(seen) == {"resnet50", "resnet101", "resnet152", "hrnet_w32", "hrnet_w48"}
    assert _json.loads(seen["hrnet_w48"])["extra"]["stage4"]["num_channels"] == [48, 96, 192, 384]
