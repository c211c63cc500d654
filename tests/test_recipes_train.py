"""Everything a recipe's train section says reaches the TrainConfig (``heatpose config`` /
``heatpose train NAME``), or is listed in heatpose.engine.presets.NOT_USED with a reason.

Each leaf of each recipe's train section (list items merged; pipeline steps by type) must be
a key of USED below (whose check then runs) or be covered by NOT_USED; a new key in a
regenerated recipe file fails this test until it is wired or listed."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Tuple

import pytest

from heatpose.engine.config import TrainConfig
from heatpose.engine.presets import NOT_USED, config_from_preset, relative_to_root
from heatpose.recipes import Recipe, list_recipes

RECIPES = list_recipes()
Check = Callable[[Recipe, TrainConfig], bool]


def _sets(r: Recipe):
    return list(r.train.datasets)


def _own(r: Recipe) -> str:
    return r.train.datasets[0]["ann_file"].split("/")[1]


def _aug(key: str, step: str, attr: str, default: Any = None) -> Check:
    def check(r: Recipe, c: TrainConfig) -> bool:
        s = r.train.step(step)
        want = s[key] if s else default
        got = getattr(c.data.augment, attr)
        return list(got) == list(want) if isinstance(got, tuple) else got == want
    return check


def _photometric(key: str) -> Check:
    def check(r: Recipe, c: TrainConfig) -> bool:
        got = getattr(c.data.augment, f"photometric_{key}")
        want = r.train.step("PhotometricDistortion")[key]
        return c.data.augment.photometric and (list(got) == list(want)
                                               if isinstance(got, tuple) else got == want)
    return check


def _albumentation(transforms, a) -> bool:
    """Each albumentations transform's arguments (1.3.1 names) as data.augment holds them."""
    (t,) = transforms
    if t["type"] == "CoarseDropout":
        return a.coarse_dropout and not a.grid_dropout and (
            a.coarse_dropout_prob, a.coarse_dropout_holes, a.coarse_dropout_height,
            a.coarse_dropout_width) == (t["p"], (t["min_holes"], t["max_holes"]),
                                        (t["min_height"], t["max_height"]),
                                        (t["min_width"], t["max_width"]))
    return t["type"] == "GridDropout" and a.grid_dropout and not a.coarse_dropout and (
        a.grid_dropout_prob, a.grid_dropout_unit_size, a.grid_dropout_random_offset,
        a.grid_dropout_ratio) == (t["p"], (t["unit_size_min"], t["unit_size_max"]),
                                  t["random_offset"], 0.5)


USED: Dict[str, Check] = {
    "train.codec": lambda r, c: c.model.codec == dict(r.train.codec),
    "train.use_dataset_keypoint_weights": lambda r, c: c.data.use_dataset_keypoint_weights is
    r.train.use_dataset_keypoint_weights,
    "train.pretrained": lambda r, c: c.model.pretrained_backbone == r.train.pretrained,
    "train.pretrained_cfg.prefix": lambda r, c: c.model.pretrained_backbone_prefix ==
    r.train.pretrained_cfg["prefix"],
    "train.load_from": lambda r, c: c.model.init_checkpoint == r.train.load_from,
    "train.amp": lambda r, c: c.train.amp is r.train.amp,
    "train.optimizer.type": lambda r, c: c.optim.type == r.train.optimizer["type"],
    "train.optimizer.lr": lambda r, c: c.optim.lr == r.train.optimizer["lr"],
    "train.max_epochs": lambda r, c: c.train.epochs == r.train.max_epochs,
    "train.val_interval": lambda r, c: c.train.val_interval == r.train.val_interval,
    "train.checkpoint_interval": lambda r, c: c.train.checkpoint_interval == r.train.checkpoint_interval,
    "train.batch_per_gpu": lambda r, c: c.train.batch_size == r.train.batch_per_gpu,
    # (0.x-only recipes have no auto_scale_lr: their total batch, gpus x batch per GPU)
    "train.auto_scale_lr_base_batch": lambda r, c: c.optim.base_batch_size == (
        r.train.auto_scale_lr_base_batch or r.train.gpus * r.train.batch_per_gpu)
    and c.optim.auto_scale_lr is False,
    "train.vis_loss.loss_weight": lambda r, c: c.model.vis_loss_weight == r.train.vis_loss["loss_weight"],
    "train.datasets.type": lambda r, c: [c.data.dataset] + [e["dataset"] for e in c.data.extra_train_sets]
    == [("deepfashion_" + d["subset"]) if d["type"] == "DeepFashionDataset" else
        {"CocoDataset": "coco", "AicDataset": "aic", "UBody2dDataset": "ubody",
         "CocoWholeBodyDataset": "coco_wholebody"}.get(d["type"], r.dataset if i == 0 else None)
        for i, d in enumerate(_sets(r))],
    "train.datasets.ann_file": lambda r, c: [c.data.train_ann_file] + [
        e["ann_file"] for e in c.data.extra_train_sets] == [relative_to_root(d["ann_file"], _own(r))
                                                             for d in _sets(r)],
    "train.datasets.img_prefix": lambda r, c: [c.data.train_img_prefix] + [
        e["img_prefix"] for e in c.data.extra_train_sets] == [relative_to_root(d["img_prefix"], _own(r))
                                                               for d in _sets(r)],
    "train.datasets.keypoint_converter.mapping": lambda r, c: [c.data.train_keypoint_mapping] + [
        e["keypoint_mapping"] for e in c.data.extra_train_sets] == [
        (d.get("keypoint_converter") or {}).get("mapping") for d in _sets(r)],
    "train.val_data.ann_file": lambda r, c: c.data.val_ann_file == relative_to_root(
        r.train.val_data["ann_file"], _own(r)),
    "train.val_data.img_prefix": lambda r, c: c.data.val_img_prefix == relative_to_root(
        r.train.val_data["img_prefix"], _own(r)),
    "train.val_data.bbox_file": lambda r, c: c.data.val_bbox_file == relative_to_root(
        r.train.val_data["bbox_file"], _own(r)),
    "train.val_data.headbox_file": lambda r, c: c.data.val_headbox_file == relative_to_root(
        r.train.val_data["headbox_file"], _own(r)),
    "pipeline.GetBBoxCenterScale.padding": lambda r, c: c.data.bbox_padding ==
    r.train.step("GetBBoxCenterScale")["padding"],
    "pipeline.RandomFlip.prob": _aug("prob", "RandomFlip", "flip_prob"),
    "pipeline.RandomFlip.direction": lambda r, c: r.train.step("RandomFlip")["direction"] == "horizontal",
    "pipeline.RandomHalfBody.prob": _aug("prob", "RandomHalfBody", "half_body_prob"),
    "pipeline.RandomHalfBody.min_total_keypoints": _aug("min_total_keypoints", "RandomHalfBody",
                                                        "half_body_min_total_keypoints"),
    "pipeline.RandomHalfBody.padding": _aug("padding", "RandomHalfBody", "half_body_padding"),
    "pipeline.RandomHalfBody.upper_prioritized_prob": _aug("upper_prioritized_prob", "RandomHalfBody",
                                                           "half_body_upper_prioritized_prob"),
    **{f"pipeline.RandomBBoxTransform.{k}": _aug(k, "RandomBBoxTransform", k)
       for k in ("shift_factor", "shift_prob", "scale_factor", "scale_prob", "rotate_factor",
                 "rotate_prob")},
    "train.loss.type": lambda r, c: c.model.loss == r.train.loss["type"],
    "train.datasets.sample_interval": lambda r, c: [c.data.train_sample_interval] + [
        e.get("sample_interval", 1) for e in c.data.extra_train_sets] == [
        d.get("sample_interval") or 1 for d in _sets(r)],
    "train.val_data.filter_cfg.bbox_score_thr": lambda r, c: c.data.val_bbox_score_thr ==
    r.train.val_data["filter_cfg"]["bbox_score_thr"],
    **{f"pipeline.PhotometricDistortion.{k}": _photometric(k)
       for k in ("brightness_delta", "contrast_range", "saturation_range", "hue_delta")},
    "pipeline.Albumentation.transforms": lambda r, c: _albumentation(
        r.train.step("Albumentation")["transforms"], c.data.augment),
}
# settings a NOT_USED entry covers must still hold what the entry claims
CLAIMS: Dict[str, Check] = {
    "pipeline.RandomHalfBody.min_upper_keypoints": lambda r, c: r.train.step("RandomHalfBody")[
        "min_upper_keypoints"] == 2,
    "pipeline.RandomHalfBody.min_lower_keypoints": lambda r, c: r.train.step("RandomHalfBody")[
        "min_lower_keypoints"] == 3,
    "pipeline.TopdownAffine": lambda r, c: list(r.train.step("TopdownAffine")["input_size"]) ==
    c.model.codec["input_size"] and r.train.step("TopdownAffine")["use_udp"] is
    (c.model.codec["type"] == "UDPHeatmap"),
    "pipeline.GenerateTarget": lambda r, c: dict(r.train.step("GenerateTarget")["encoder"]) ==
    c.model.codec,
    "train.param_scheduler": lambda r, c: [s["type"] for s in r.train.param_scheduler] == [
        "LinearLR", "MultiStepLR"] and not r.train.param_scheduler[0]["by_epoch"]
    and r.train.param_scheduler[1]["end"] == r.train.max_epochs,
    "train.combined": lambda r, c: r.train.combined is None or
    r.train.combined["metainfo"] == c.model.schema + ".py",
    "train.vis_loss.type": lambda r, c: r.train.vis_loss["type"] == "BCELoss",
    "train.loss.use_target_weight": lambda r, c: r.train.loss["use_target_weight"] is True,
    "pipeline.Albumentation.keymap": lambda r, c: r.train.step("Albumentation")["keymap"] is None,
    "train.datasets.keypoint_converter.num_keypoints": lambda r, c: all(
        d["keypoint_converter"]["num_keypoints"] == r.num_keypoints for d in _sets(r)
        if d.get("keypoint_converter")),
}


def _leaves(prefix: str, value: Any) -> Iterator[Tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(f"{prefix}.{k}", v)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        for v in value:
            yield from _leaves(prefix, v)
    else:
        yield prefix, value


def _paths(r: Recipe):
    """Leaf paths of the train section that say something (None = the config does not set it;
    USED checks also run on those)."""
    d = r.to_dict()["train"]
    for step in d.pop("pipeline"):
        kind = step.pop("type")
        if not step:
            yield f"pipeline.{kind}"
        for k in step:
            yield f"pipeline.{kind}.{k}"
    for path, value in _leaves("train", d):
        if value is not None or path in USED:
            yield path


def _covered(path: str) -> bool:
    return any(path == k or path.startswith(k + ".") for k in NOT_USED)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_every_recipe_setting_reaches_the_config_or_is_listed(recipe):
    cfg = config_from_preset(recipe)
    for path in sorted(set(_paths(recipe))):
        used = [k for k in USED if path == k or path.startswith(k + ".")]
        if used:
            assert USED[used[0]](recipe, cfg), (recipe.name, path)
        else:
            assert _covered(path), f"{recipe.name}: recipe setting {path} neither reaches the " \
                                   "TrainConfig nor is in heatpose.engine.presets.NOT_USED"
    for key, claim in CLAIMS.items():
        if any(p == key or p.startswith(key + ".") for p in _paths(recipe)):
            assert claim(recipe, cfg), (recipe.name, key)


def test_not_used_entries_are_real_and_explained():
    seen = {p for r in RECIPES for p in _paths(r)}
    for key, why in NOT_USED.items():
        assert len(why) > 15, key
        assert any(p == key or p.startswith(key + ".") for p in seen), f"NOT_USED {key}: no recipe has it"
    assert not set(USED) & set(NOT_USED)


def test_defaults_off_as_mmpose():
    """MMPose scales the lr only with --auto-scale-lr and trains fp32 unless the config says AMP."""
    amp = [r.name for r in RECIPES if config_from_preset(r).train.amp]
    assert amp == ["td-hm_hrnet-w32_fp16-8xb64-210e_coco-256x192"] or all("fp16" in n for n in amp)
    assert not any(config_from_preset(r).optim.auto_scale_lr for r in RECIPES)
