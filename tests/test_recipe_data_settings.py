"""Recipe data settings as MMPose 1.3.2's datasets apply them (tests/fixtures/
mmpose_dataset_filters.json, written by tools/dump_dataset_filters.py with the peer):
``sample_interval`` (UBody2d recipes: every 10th frame) and validation's
``filter_cfg.bbox_score_thr`` (PoseTrack18 recipes: detections scoring 0.4 or more); the pixel
steps reach the train samples and leave the targets alone; the UDP 'combined' recipe trains
with CombinedTargetMSELoss."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from heatpose.codecs import codec_from_dict
from heatpose.data.readers.record import InstanceRecord
from heatpose.data.readers.ubody_sampling import every_nth_image
from heatpose.engine.config import AugmentConfig, ConfigError, apply_overrides
from heatpose.engine.data import build_dataset, read_records
from heatpose.engine.model import TrainStep, build_training_model, load_config_schema
from heatpose.engine.presets import resolve_config
from heatpose.errors import InputError

REF = json.loads((Path(__file__).parent / "fixtures" / "mmpose_dataset_filters.json").read_text())
UBODY = "td-hm_hrnet-w32_8xb64-210e_ubody-256x192"
POSETRACK = "td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192"


@pytest.mark.parametrize("key", sorted(REF["sample_interval"]))
def test_sample_interval_keeps_the_images_mmpose_keeps(key, data_dir):
    """The UBody recipe's config with its sets pointed at MMPose's test file: the main set
    (CocoDataset's rule, data.train_sample_interval) and an extra set (UBody2dDataset,
    extra_train_sets[i].sample_interval) keep MMPose's instances."""
    cls, n = key.split()
    cfg = resolve_config(UBODY)
    ann = "test_coco.json" if cls == "CocoDataset" else "test_coco_wholebody.json"
    d = cfg.data
    if cls == "CocoDataset":
        cfg = apply_overrides(cfg, ["data.dataset=coco", "model.schema=coco",
                                    f"data.train_sample_interval={n}", "data.extra_train_sets=[]",
                                    f"data.train_ann_file={ann}", "data.train_img_prefix="])
    else:
        extra = {**d.extra_train_sets[0], "ann_file": ann, "img_prefix": "",
                 "sample_interval": int(n)}
        cfg = apply_overrides(cfg, [f"data.extra_train_sets={json.dumps([extra])}",
                                    "data.train_ann_file=test_coco_wholebody.json",
                                    "data.train_sample_interval=1000000"])
    schema = load_config_schema(cfg.model)
    records = read_records(cfg.data, data_dir / "mmpose_tests" / "coco", "train", schema)
    if cls != "CocoDataset":           # no image of the file is kept by the main set's 10^6
        assert not any(i % 1000000 == 0 for i in REF["sample_interval"]["UBody2dDataset 1"])
    assert [r.img_id for r in records] == REF["sample_interval"][key]


def test_sample_interval_values_are_checked():
    rec = InstanceRecord(img_path="a.jpg", img_id="x", ann_id=3, bbox=np.zeros(4),
                         keypoints=np.zeros((1, 2)), keypoints_visible=np.ones(1))
    with pytest.raises(InputError, match=r"f.json: image id 'x' \(ann_id 3\) is not an integer"):
        every_nth_image([rec], 2, "f.json")
    with pytest.raises(InputError, match="sample_interval 0 must be an integer >= 1"):
        every_nth_image([], 0, "f.json")
    with pytest.raises(ConfigError, match=r"extra_train_sets\[0\].sample_interval = 0"):
        apply_overrides(resolve_config(UBODY), [
            'data.extra_train_sets=[{"dataset": "ubody", "ann_file": "a.json", '
            '"sample_interval": 0}]'])
    with pytest.raises(ConfigError, match="data.train_sample_interval = 0: must be >= 1"):
        apply_overrides(resolve_config(UBODY), ["data.train_sample_interval=0"])


@pytest.mark.parametrize("thr", sorted(REF["bbox_score_thr"]))
def test_val_bbox_score_thr_keeps_the_boxes_mmpose_keeps(thr, data_dir):
    cfg = resolve_config(POSETRACK)
    assert cfg.data.val_bbox_score_thr == 0.4
    cfg = apply_overrides(cfg, ["data.val_ann_file=test_posetrack18_val.json",
                                "data.val_bbox_file=test_posetrack18_human_detections.json",
                                f"data.val_bbox_score_thr={'null' if thr == 'None' else thr}"])
    schema = load_config_schema(cfg.model)
    root = data_dir / "mmpose_tests" / "posetrack18" / "annotations"
    records = read_records(cfg.data, root, "val", schema)
    got = [[r.img_id, r.ann_id, r.bbox_score] for r in records]
    want = REF["bbox_score_thr"][thr]
    assert [g[:2] for g in got] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["td-hm_hrnet-w32_photometric-8xb64-210e_coco-256x192",
                                  "td-hm_hrnet-w32_coarsedropout-8xb64-210e_coco-256x192",
                                  "td-hm_hrnet-w32_gridmask-8xb64-210e_coco-256x192"])
def test_pixel_steps_reach_the_train_samples_only(name, data_dir):
    """The recipe's pixel step changes train crops after the geometric steps (same random draws
    before it, so the same crop geometry and targets) and never touches validation crops."""
    cfg = apply_overrides(resolve_config(name), ["data.train_ann_file=test_coco.json",
                                                 "data.train_img_prefix=",
                                                 "data.val_ann_file=test_coco.json",
                                                 "data.val_img_prefix=", "data.val_bbox_file=null"])
    plain = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augment=dataclasses.replace(
        cfg.data.augment, photometric=False, coarse_dropout=False, grid_dropout=False)))
    schema, codec = load_config_schema(cfg.model), codec_from_dict(cfg.model.codec)
    root = data_dir / "mmpose_tests" / "coco"
    with_step, without = (build_dataset(c, root, "train", schema, codec) for c in (cfg, plain))
    assert with_step.augment.pixel is not None and without.augment.pixel is None
    changed = 0
    for i in range(len(with_step)):
        a, b = with_step[i], without[i]
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())       # targets
        np.testing.assert_array_equal(a[3]["center"], b[3]["center"])
        changed += not torch.equal(a[0], b[0])
    assert changed >= len(with_step) // 4
    val = build_dataset(cfg, root, "val", schema, codec)
    val_plain = build_dataset(plain, root, "val", schema, codec)
    assert torch.equal(val[0][0], val_plain[0][0])


def test_udp_combined_recipe_trains_with_combined_target_loss():
    from heatpose.models.losses import CombinedTargetMSELoss, KeypointMSELoss

    cfg = apply_overrides(resolve_config("td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192"), [
        "model.backbone=resnet18", 'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
        "model.deconv_out_channels=[16,16,16]", "model.deconv_kernel_sizes=[4,4,4]",
        "model.pretrained_backbone=null", "model.init_checkpoint=null"])
    model = build_training_model(cfg.model)
    assert isinstance(model.head.loss_module, CombinedTargetMSELoss)
    codec = codec_from_dict(cfg.model.codec)
    w, h = codec.input_size
    kpts = np.random.default_rng(0).uniform(20, 150, (1, 17, 2)).astype(np.float32)
    heatmaps, weights = codec.encode(kpts, np.ones((1, 17), np.float32))
    target = torch.from_numpy(np.asarray(heatmaps, np.float32))[None]
    weights = torch.from_numpy(np.asarray(weights, np.float32))
    images = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8)
    losses = TrainStep(model)(images, target, weights)
    from heatpose.data.transforms import normalize_batch

    pred, _ = model.forward_all(normalize_batch(images))
    want = CombinedTargetMSELoss(use_target_weight=True)(pred, target, weights)
    assert float(losses["loss_kpt"].detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    default = build_training_model(dataclasses.replace(cfg.model, loss=None))  # the codec's
    assert isinstance(default.head.loss_module, CombinedTargetMSELoss)
    msra = apply_overrides(resolve_config("td-hm_res50_8xb64-210e_coco-256x192"), [
        "model.backbone=resnet18", 'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
        "model.deconv_out_channels=[16,16,16]", "model.pretrained_backbone=null"])
    assert msra.model.loss == "KeypointMSELoss"
    assert isinstance(build_training_model(msra.model).head.loss_module, KeypointMSELoss)


@pytest.mark.parametrize("change, key", [
    (lambda c: setattr(c.data.augment, "coarse_dropout", True)
     or setattr(c.data.augment, "coarse_dropout_width", (8, 500)), "coarse_dropout_width"),
    (lambda c: setattr(c.data.augment, "grid_dropout", True)
     or setattr(c.data.augment, "grid_dropout_unit_size", (4, 400)), "grid_dropout_unit_size"),
    (lambda c: setattr(c.data.augment, "photometric_contrast_range", (1.5, 0.5)),
     "photometric_contrast_range"),
    (lambda c: setattr(c.data, "val_bbox_score_thr", -0.5), "val_bbox_score_thr"),
    (lambda c: setattr(c.data, "extra_train_sets",
                       [{"dataset": "coco", "ann_file": "a.json", "sample_interval": 0}]),
     "sample_interval"),
])
def test_a_config_built_in_python_is_checked_before_training(change, key, tmp_path):
    """The Trainer checks every section of a config that never went through a file or --set
    (one ConfigError line, not every sample failing in the loader)."""
    from heatpose.engine.config import TrainConfig
    from heatpose.engine.trainer import Trainer

    cfg = TrainConfig()
    change(cfg)
    with pytest.raises(ConfigError, match=key):
        Trainer(cfg, tmp_path / "no_data", tmp_path / "work")


def test_a_train_set_with_an_unknown_key_lists_every_key_it_may_have(tmp_path):
    from heatpose.engine.data import _read_train_set

    with pytest.raises(ConfigError, match=r"may have img_prefix, keypoint_mapping, "
                                          r"sample_interval\); got keys \['ann_file', 'dataset', "
                                          r"'sample_intervall'\]"):
        _read_train_set({"dataset": "coco", "ann_file": "a.json", "sample_intervall": 10},
                        tmp_path, None, "data.extra_train_sets[0]")
