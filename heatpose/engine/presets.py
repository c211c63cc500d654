"""From a model-zoo preset to an editable :class:`TrainConfig` (what ``heatpose config`` prints).

Annotation files are made relative to ``--data-root`` (MMPose's ``data/<dataset>/`` prefix is
dropped) and image folders follow the ``data_prefix`` of MMPose's configs for that dataset type.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from heatpose.engine.config import (AugmentConfig, ConfigError, DataConfig, ModelConfig,
                                    OptimConfig, TrainConfig, TrainSettings, is_config_file,
                                    load_config)

# MMPose dataset type -> (reader name, train image prefix, val image prefix), from the
# data_prefix of MMPose 1.3.2's top-down configs (relative to each dataset's data_root).
DATASET_TYPES: Dict[str, Tuple[str, str, str]] = {
    "CocoDataset": ("coco", "train2017/", "val2017/"),
    "AicDataset": ("aic", "ai_challenger_keypoint_train_20170902/keypoint_train_images_20170902/",
                   "ai_challenger_keypoint_validation_20170911/"
                   "keypoint_validation_images_20170911/"),
    "CrowdPoseDataset": ("crowdpose", "images/", "images/"),
    "OCHumanDataset": ("ochuman", "images/", "images/"),
    "MhpDataset": ("mhp", "train/images/", "val/images/"),
    "MpiiDataset": ("mpii", "images/", "images/"),
    "MpiiTrbDataset": ("mpii_trb", "images/", "images/"),
    "HalpeDataset": ("halpe", "hico_20160224_det/images/train2015/", "val2017/"),
    "JhmdbDataset": ("jhmdb", "", ""),
    "PoseTrack18Dataset": ("posetrack18", "", ""),
    "DeepFashionDataset": ("deepfashion_full", "img/", "img/"),
    "DeepFashion2Dataset": ("deepfashion2", "train/image/", "validation/image/"),
}

# MPII's head boxes for PCKh (MpiiDataset's headbox_file), relative to --data-root
HEADBOX_FILES = {"mpii": "annotations/mpii_gt_val.mat"}


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def relative_to_root(path: Optional[str]) -> Optional[str]:
    """``data/coco/annotations/x.json`` -> ``annotations/x.json`` (MMPose paths start at the
    repository; heatpose's are relative to ``--data-root``)."""
    if not path:
        return None
    parts = str(path).split("/")
    if len(parts) > 2 and parts[0] == "data":
        return "/".join(parts[2:])
    return str(path)


def config_from_preset(preset: Any) -> TrainConfig:
    """The full training config of a zoo preset (its MMPose config's settings)."""
    t: Dict[str, Any] = dict(_get(preset, "training") or {})
    name = str(_get(preset, "name"))
    dataset = str(_get(preset, "dataset") or "coco")
    n_deconv = int(_get(preset, "num_deconv") or 0)
    codec = dict(t.get("target_codec") or _get(preset, "codec") or {})
    train_sets = t.get("train_data") or [{}]
    train0 = train_sets[0] if isinstance(train_sets, list) else train_sets
    test = t.get("test_data") or {}
    reader, train_prefix, val_prefix = DATASET_TYPES.get(
        str(train0.get("type", "")), (dataset, "", ""))
    from heatpose.data.readers import DATASET_FORMATS
    if dataset in DATASET_FORMATS:
        reader = dataset
    half = t.get("half_body")
    bbt = t.get("bbox_transform") or {}
    aug = AugmentConfig(
        enabled=True, flip_prob=float(t.get("flip_prob", 0.5)),
        half_body_prob=float(half.get("prob", 0.3)) if half else 0.0,
        half_body_min_total_keypoints=int(half.get("min_total_keypoints", 9)) if half else 9,
        half_body_upper_prioritized_prob=float(half.get("upper_prioritized_prob", 0.7))
        if half else 0.7,
        half_body_padding=float(half.get("padding", 1.5)) if half else 1.5,
        shift_factor=float(bbt.get("shift_factor", 0.16)),
        shift_prob=float(bbt.get("shift_prob", 0.3)),
        scale_factor=tuple(float(v) for v in bbt.get("scale_factor", (0.5, 1.5))),
        scale_prob=float(bbt.get("scale_prob", 1.0)),
        rotate_factor=float(bbt.get("rotate_factor", 80.0)),
        rotate_prob=float(bbt.get("rotate_prob", 0.6)))
    flip = _get(preset, "flip_test")
    flip_test = bool(flip.get("enabled", True)) if isinstance(flip, dict) else bool(
        True if flip is None else flip)
    warm = t.get("warmup") or {}
    base_batch = t.get("auto_scale_lr_base_batch") or \
        int(t.get("gpus", 8)) * int(t.get("batch_per_gpu", 64))
    vis_loss = t.get("visibility_loss") or {}
    from heatpose.engine.validate import val_metric_name

    key_metric = _get(preset, "key_metric")
    model = ModelConfig(
        name=name, backbone=str(_get(preset, "backbone")),
        deconv_out_channels=(256,) * n_deconv, deconv_kernel_sizes=(4,) * n_deconv,
        visibility_head=bool(_get(preset, "visibility_head")),
        vis_loss_weight=float(vis_loss.get("loss_weight", 1e-3)),
        schema=_schema_name(preset, dataset), codec=codec, flip_test=flip_test,
        init_checkpoint=t.get("load_from"))
    data = DataConfig(
        dataset=reader,
        train_ann_file=relative_to_root(train0.get("ann_file")) or "",
        train_img_prefix=train_prefix,
        val_ann_file=relative_to_root(test.get("ann_file")),
        val_img_prefix=val_prefix,
        val_bbox_file=relative_to_root(test.get("bbox_file")),
        val_headbox_file=relative_to_root(test.get("headbox_file")) or HEADBOX_FILES.get(reader),
        use_dataset_keypoint_weights=bool(t.get("use_dataset_joint_weights", False)),
        augment=aug)
    optim = OptimConfig(
        type=str(t.get("optimizer", "Adam")), lr=float(t.get("base_lr", 5e-4)),
        warmup_iters=int(warm.get("iters", 500)),
        warmup_start_factor=float(warm.get("start_factor", 0.001)),
        milestones=tuple(int(m) for m in t.get("lr_milestones", (170, 200))),
        gamma=float(t.get("lr_gamma", 0.1)), base_batch_size=int(base_batch))
    epochs = int(t.get("epochs", 210))
    train = TrainSettings(epochs=epochs, batch_size=int(t.get("batch_per_gpu", 64)),
                          val_interval=10, checkpoint_interval=10,
                          val_metric=val_metric_name(key_metric and str(key_metric), reader))
    return TrainConfig(preset=name, model=model, data=data, optim=optim, train=train)


def _schema_name(preset: Any, dataset: str) -> str:
    """Built-in schema name of a preset (e.g. ``coco`` for ``coco-aic`` models)."""
    try:
        from heatpose.schema import schema_for_dataset

        return schema_for_dataset(dataset).name
    except Exception:       # noqa: BLE001 - any failure: fall back to the dataset name
        return dataset


def resolve_config(name_or_file: str) -> TrainConfig:
    """A config file (JSON/YAML) or a zoo preset name (1.x config name or 0.x alias)."""
    if is_config_file(name_or_file):
        return load_config(name_or_file)
    if name_or_file.lower().endswith((".json", ".yaml", ".yml")):
        raise ConfigError(f"{name_or_file}: config file not found")
    from heatpose.models.zoo import get_preset

    return config_from_preset(get_preset(name_or_file))
