"""Training data as the recipe says: COCO+AIC recipes train on both sets with MMPose's keypoint
mapping (KeypointConverter); the recipe's flip shift reaches the trained model."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from heatpose.data.readers import read_dataset
from heatpose.engine.config import AugmentConfig, ConfigError, apply_overrides
from heatpose.engine.data import build_dataset
from heatpose.engine.model import build_training_model, load_config_schema
from heatpose.engine.presets import resolve_config

MERGE = "td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge"
COMBINE = "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine"


def _on_test_data(name: str):
    """The recipe's config, its files pointed at ../shared/data/mmpose_tests (MMPose's layout:
    coco/ and aic/ side by side), no download."""
    cfg = resolve_config(name)
    cfg.data.train_ann_file, cfg.data.train_img_prefix = "test_coco.json", ""
    assert len(cfg.data.extra_train_sets) == 1 and cfg.data.extra_train_sets[0]["dataset"] == "aic"
    cfg.data.extra_train_sets[0].update(ann_file="../aic/test_aic.json", img_prefix="../aic/")
    cfg.data.augment = AugmentConfig(enabled=False)
    return cfg


@pytest.mark.parametrize("name", [MERGE, COMBINE])
def test_coco_aic_recipes_train_on_both_sets(name, data_dir):
    root = data_dir / "mmpose_tests" / "coco"
    cfg = _on_test_data(name)
    schema = load_config_schema(cfg.model)
    from heatpose.codecs import codec_from_dict

    codec = codec_from_dict(cfg.model.codec)
    ds = build_dataset(cfg, root, "train", schema, codec)
    coco = read_dataset("coco", str(root / "test_coco.json"))
    aic = read_dataset("aic", str(data_dir / "mmpose_tests" / "aic" / "test_aic.json"))
    assert len(coco) and len(aic) and len(ds) == len(coco) + len(aic)
    mapping = cfg.data.extra_train_sets[0]["keypoint_mapping"]
    k = schema.num_keypoints
    for i, src in enumerate(aic):
        rec = ds.records[len(coco) + i]
        assert rec.keypoints.shape == (k, 2)
        expect = np.zeros((k, 2))
        expect_vis = np.zeros(k)
        for s, t in mapping:
            expect[t], expect_vis[t] = src.keypoints[s], src.keypoints_visible[s]
        np.testing.assert_array_equal(rec.keypoints, expect)
        np.testing.assert_array_equal(rec.keypoints_visible, expect_vis)
    for i, src in enumerate(coco):      # COCO: as is (merge) or identity-mapped (combine)
        np.testing.assert_array_equal(ds.records[i].keypoints[:17], src.keypoints)
    image, heatmaps, weights, meta = ds[len(coco)]           # an AIC image is found and encoded
    assert tuple(heatmaps.shape) == (k, codec.heatmap_size[1], codec.heatmap_size[0])
    assert meta["img_path"].startswith("../aic/")
    assert float(weights.sum()) == float(ds.records[len(coco)].keypoints_visible.sum())
    # MMPose's keypoints_visible_weights: 0 for what the converter did not map (vis-head loss)
    mapped = np.zeros(k, np.float32)
    mapped[[t for _, t in mapping]] = 1
    np.testing.assert_array_equal(meta["keypoints_visible_weights"], mapped)
    main_mapping = cfg.data.train_keypoint_mapping
    coco_w = np.zeros(k, np.float32) if main_mapping else np.ones(k, np.float32)
    coco_w[[t for _, t in main_mapping or []]] = 1
    np.testing.assert_array_equal(ds[0][3]["keypoints_visible_weights"], coco_w)


def test_visibility_weights_follow_flips_and_reach_the_loss(data_dir):
    from heatpose.data.dataset import collate_topdown
    from heatpose.engine.model import TrainStep, unpack_batch

    root = data_dir / "mmpose_tests" / "coco"
    cfg = apply_overrides(_on_test_data(MERGE), [
        "data.augment.enabled=true", "data.augment.flip_prob=1", "data.augment.half_body_prob=0",
        "data.augment.shift_prob=0", "data.augment.scale_prob=0", "data.augment.rotate_prob=0",
        "model.backbone=resnet18", "model.pretrained_backbone=null",
        'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
        "model.deconv_out_channels=[8,8,8]"])
    schema = load_config_schema(cfg.model)
    model = build_training_model(cfg.model)
    ds = build_dataset(cfg, root, "train", schema, model.codec)
    n_coco = len(ds) - 3
    item = ds[n_coco]                                         # first AIC sample, flipped
    assert item[3]["flipped"]
    rec_w = ds.records[n_coco].extras["keypoints_visible_weights"]
    np.testing.assert_array_equal(item[3]["keypoints_visible_weights"],
                                  rec_w[list(schema.flip_indices)])
    batch = collate_topdown([ds[0], item])
    inputs = unpack_batch(batch, torch.device("cpu"))
    assert len(inputs) == 4 and inputs[3].shape == (2, 17)
    step = TrainStep(model)
    with torch.no_grad():
        masked = step(*inputs)["loss_vis"]
        ones = step(*inputs[:3])["loss_vis"]
        _, vis = model.forward_all(__import__("heatpose.data.transforms", fromlist=["x"])
                                   .normalize_batch(inputs[0]))
        expect = model.head.vis_loss(vis, inputs[2], inputs[3])
    assert float(masked) == pytest.approx(float(expect), rel=1e-6)
    assert float(masked) != pytest.approx(float(ones), rel=1e-4)


def test_bad_train_sets_are_named(data_dir):
    root = data_dir / "mmpose_tests" / "coco"
    cfg = _on_test_data(MERGE)
    schema = load_config_schema(cfg.model)
    cfg.data.extra_train_sets[0]["keypoint_mapping"] = [[0, 17]]
    with pytest.raises(ConfigError, match=r"data.extra_train_sets\[0\] .*aic.json\): .*target 17"):
        build_dataset(cfg, root, "train", schema, None)
    cfg.data.extra_train_sets[0] = {"dataset": "aic"}
    with pytest.raises(ConfigError, match=r"data.extra_train_sets\[0\]: a train set needs"):
        build_dataset(cfg, root, "train", schema, None)
    cfg.data.extra_train_sets[0] = {"dataset": "aic", "ann_file": "../aic/missing.json"}
    with pytest.raises(ConfigError, match=r"missing.json: annotation file not found "
                                          r"\(data.extra_train_sets\[0\]"):
        build_dataset(cfg, root, "train", schema, None)


def test_extra_train_sets_by_set_and_file(tmp_path):
    """``--set data.extra_train_sets=[...]`` is type-checked like every key."""
    cfg = apply_overrides(resolve_config(MERGE), [
        'data.extra_train_sets=[{"dataset": "aic", "ann_file": "a.json", "img_prefix": "",'
        ' "keypoint_mapping": [[0, 6]]}]'])
    assert cfg.data.extra_train_sets[0]["keypoint_mapping"] == [[0, 6]]
    with pytest.raises(ConfigError, match="data.extra_train_sets"):
        apply_overrides(cfg, ["data.extra_train_sets=[3]"])
    assert json.loads(json.dumps(cfg.to_dict()))["data"]["extra_train_sets"]


@pytest.mark.parametrize("shift", [None, False, True])
def test_flip_shift_reaches_the_model(shift):
    cfg = resolve_config("td-hm_res50_8xb64-210e_coco-256x192")
    cfg = apply_overrides(cfg, ["model.backbone=resnet18",
                                'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
                                "model.deconv_out_channels=[8,8,8]",
                                "model.pretrained_backbone=null",
                                f"model.flip_shift={json.dumps(shift)}"])
    model = build_training_model(cfg.model)
    assert model.flip_shift is (True if shift is None else shift)    # MSRA's rule: shift
    assert model.metadata()["flip_shift"] is model.flip_shift


def test_persistent_workers_follow_the_epoch(data_dir):
    """Loader workers persist across epochs and still draw each epoch's augmentation (the
    dataset's epoch lives in shared memory): batches equal the in-process samples."""
    from heatpose.codecs import codec_from_dict
    from heatpose.engine.data import build_loader
    from heatpose.engine.distributed import env_dist_info

    cfg = apply_overrides(resolve_config("td-hm_res50_8xb64-210e_coco-256x192"), [
        'model.codec={"type": "MSRAHeatmap", "input_size": [48, 64], "heatmap_size": [12, 16],'
        ' "sigma": 2}', "data.train_ann_file=annotations/person_keypoints_train2017.json",
        "data.train_img_prefix=train2017/"])
    ds = build_dataset(cfg, data_dir / "coco_mini", "train", load_config_schema(cfg.model),
                       codec_from_dict(cfg.model.codec))
    loader, sampler = build_loader(ds, env_dist_info(), 3, False, 2, 0, False)
    assert loader.persistent_workers
    got, expect = [], []
    for epoch in range(2):
        ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        got.append(next(iter(loader))[0])
        expect.append(torch.stack([ds[i][0] for i in range(3)]))
    assert torch.equal(got[0], expect[0]) and torch.equal(got[1], expect[1])
    assert not torch.equal(got[0], got[1])


@pytest.mark.parametrize("name", [COMBINE, MERGE])
def test_coco_aic_recipes_train_and_validate_on_coco(name, data_dir, tmp_path):
    """A short run of each COCO+AIC recipe (tiny network) trains on both sets and validates on
    COCO as MMPose does: the combine model's 19 keypoints are reduced by its test_cfg
    output_keypoint_indices to COCO's 17, read and scored with COCO's schema and sigmas."""
    from heatpose.engine.trainer import Trainer
    from heatpose.engine.validate import predict_loader
    from heatpose.evaluation.testing import predict_records
    from heatpose.models.build import load_model

    root = data_dir / "mmpose_tests" / "coco"
    cfg = apply_overrides(_on_test_data(name), [
        "model.backbone=resnet18", "model.pretrained_backbone=null",
        'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
        "model.deconv_out_channels=[8,8,8]", "model.deconv_kernel_sizes=[4,4,4]",
        'model.codec={"type": "MSRAHeatmap", "input_size": [64, 96], "heatmap_size": [16, 24],'
        ' "sigma": 2}', "data.val_ann_file=test_coco.json", "data.val_img_prefix=",
        "data.val_bbox_file=null", "data.num_workers=0", "train.batch_size=11",
        "train.epochs=1", "optim.warmup_iters=1"])             # 21 instances: 2 iterations
    combine = name == COMBINE
    assert cfg.model.output_keypoint_indices == (list(range(17)) if combine else None)
    trainer = Trainer(cfg, root, tmp_path)
    assert trainer.model.num_keypoints == (19 if combine else 17)
    assert trainer.val_schema.name == "coco" and len(trainer.val_schema.sigmas) == 17
    result = trainer.train()
    assert result.iteration == 2
    assert {"AP", "AP50", "AR", "PCK@0.05"} <= set(result.metrics[-1])
    assert result.metrics[-1]["AP"] == result.best
    assert (tmp_path / "latest.pth").is_file()
    saved = load_model(tmp_path / "latest.pth")       # a '+custom' file: its own metadata
    assert saved.num_keypoints == trainer.model.num_keypoints
    assert saved.output_keypoint_indices == cfg.model.output_keypoint_indices
    # validation's predictions are `heatpose test`'s (predict_records, the same reduction)
    val = predict_loader(trainer.model, trainer.val_loader, torch.device("cpu"),
                         schema=trainer.val_schema)
    records = [dataclasses.replace(r, img_path=str(root / r.img_path))
               for r in trainer.val_records]
    tested = predict_records(trainer.model, records, schema=trainer.val_schema, skip_bad=False)
    assert len(val) == len(tested.records) and val[0]["keypoints"].shape == (17, 2)
    np.testing.assert_allclose(np.stack([p["keypoints"] for p in val]),
                               tested.predictions.keypoints, atol=1e-4)


def test_output_keypoint_indices_are_checked():
    from heatpose.engine.validate import val_schema

    cfg = apply_overrides(_on_test_data(COMBINE), ["model.pretrained_backbone=null",
                                                    "model.output_keypoint_indices=[0, 19]"])
    with pytest.raises(ConfigError, match=r"output_keypoint_indices \[0, 19\]"):
        build_training_model(cfg.model)
    cfg = apply_overrides(cfg, ["model.output_keypoint_indices=[0, 1, 2]"])
    with pytest.raises(ConfigError, match=r"selects 3 keypoints but data.dataset 'coco' "
                                          r"\(validation\) has 17"):
        val_schema(cfg, load_config_schema(cfg.model))
