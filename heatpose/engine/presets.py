"""From a recipe (:mod:`heatpose.recipes`) to an editable :class:`TrainConfig` (what
``heatpose config`` prints and ``heatpose train NAME`` runs).

Every setting of a recipe's train section reaches the TrainConfig, or is named in
:data:`NOT_USED` with the reason heatpose does not take it (tests/test_recipes_train.py
enforces this).

Paths: MMPose's configs write ``data/<folder>/<rest>``; heatpose's are relative to
``--data-root``, the main train set's ``data/<folder>/``: its own files become ``<rest>``, files
of other datasets (``data/aic/...`` in a COCO+AIC recipe) ``../<folder>/<rest>``, as MMPose's
``data/`` layout puts them beside it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from heatpose.data.readers.posetrack_filter import recipe_score_thr
from heatpose.engine.config import (AugmentConfig, ConfigError, DataConfig, ModelConfig,
                                    OptimConfig, TrainConfig, TrainSettings, is_config_file,
                                    load_config)

# MMPose dataset class -> heatpose reader (a key of heatpose.data.readers.DATASET_FORMATS)
DATASET_TYPES: Dict[str, str] = {
    "CocoDataset": "coco", "AicDataset": "aic", "CrowdPoseDataset": "crowdpose",
    "OCHumanDataset": "ochuman", "MhpDataset": "mhp", "MpiiDataset": "mpii",
    "MpiiTrbDataset": "mpii_trb", "HalpeDataset": "halpe", "JhmdbDataset": "jhmdb",
    "PoseTrack18Dataset": "posetrack18", "DeepFashion2Dataset": "deepfashion2",
    "CocoWholeBodyDataset": "coco_wholebody", "HumanArtDataset": "humanart",
    "ExlposeDataset": "exlpose", "UBody2dDataset": "ubody",
}

# recipe train-section settings heatpose's trainer does not take, and why ("train.<key>" or
# "train.<key>.<sub-key>"; "pipeline.<Step>" for a train pipeline step)
NOT_USED: Dict[str, str] = {
    "train.gpus": "the number of processes is the launcher's (torchrun); batch_size is per process",
    "train.name_batch_per_gpu": "the batch the config name states; the config's batch_size is used",
    "train.optim_wrapper": "heatpose has one optimizer wrapper; AmpOptimWrapper becomes train.amp",
    "train.loss_scale": "torch.amp's dynamic loss scaling is used when train.amp is on",
    "train.pretrained_cfg.type": "always 'Pretrained'",
    "train.pretrained_cfg.checkpoint": "as written in the config; model.pretrained_backbone holds "
                                       "it with torchvision:// resolved (train.pretrained)",
    "train.param_scheduler": "LinearLR and MultiStepLR become optim.warmup_* / milestones / gamma "
                             "(begin/end/by_epoch as MMPose's top-down recipes all set them)",
    "train.loss.use_target_weight": "True in every recipe: heatpose's heads always pass the "
                                    "keypoint weights to model.loss",
    "train.evaluator": "validation scores with the dataset's MMPose metric, chosen by data.dataset",
    "train.save_best": "train.val_metric (the recipe's key metric) chooses best_<metric>.pth",
    "train.test_data": "used by `heatpose test`, not by training",
    "train.combined": "its metainfo is the model's keypoint schema (model.schema)",
    "train.datasets.data_mode": "always 'topdown'",
    "train.datasets.subset": "DeepFashion's subset is the reader name (deepfashion_upper/...)",
    "train.val_data.type": "the reader is data.dataset",
    "train.val_data.data_mode": "always 'topdown'",
    "train.val_data.subset": "DeepFashion's subset is the reader name",
    "train.vis_loss.type": "the visibility head trains with BCE on sigmoid outputs, as MMPose's "
                           "BCELoss(use_sigmoid=True, use_target_weight=True)",
    "train.vis_loss.use_target_weight": "see train.vis_loss.type",
    "train.vis_loss.use_sigmoid": "see train.vis_loss.type",
    "train.datasets.keypoint_converter.num_keypoints": "the model's keypoint count (model.schema)",
    "pipeline.RandomHalfBody.min_upper_keypoints": "heatpose's half-body rule uses MMPose's default 2 "
                                                   "(every recipe)",
    "pipeline.RandomHalfBody.min_lower_keypoints": "heatpose's half-body rule uses MMPose's default 3 "
                                                   "(every recipe)",
    "pipeline.LoadImage": "images are read as BGR uint8, as MMPose",
    "pipeline.PackPoseInputs": "no packing step in heatpose",
    "pipeline.GenerateTarget": "its encoder is model.codec; use_dataset_keypoint_weights is "
                               "data.use_dataset_keypoint_weights",
    "pipeline.TopdownAffine": "input_size and use_udp follow model.codec",
    "pipeline.Albumentation.keymap": "None in every recipe: the transforms work on the image "
                                     "('img' -> 'image')",
}


def relative_to_root(path: Optional[str], own_folder: Optional[str] = None) -> Optional[str]:
    """``data/coco/annotations/x.json`` -> ``annotations/x.json`` (relative to ``--data-root`` =
    ``data/<own_folder>/``; default: the path's own folder), or ``../aic/annotations/x.json``
    for another dataset's file (``data/`` itself -> ``../``)."""
    if not path:
        return None
    if not str(path).startswith("data/"):
        return str(path)
    rest = str(path)[len("data/"):]
    own = own_folder or _folder(path)
    if own and (rest == own or rest.startswith(own + "/")):
        return rest[len(own) + 1:]
    return "../" + rest


def _folder(path: Optional[str]) -> Optional[str]:
    parts = str(path or "").split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "data" else None


def reader_name(ds: Dict[str, Any]) -> str:
    """The heatpose reader of an MMPose dataset entry of a recipe."""
    if ds["type"] == "DeepFashionDataset":
        return f"deepfashion_{ds['subset']}"
    if ds["type"] not in DATASET_TYPES:
        raise ConfigError(f"MMPose dataset type {ds['type']!r} has no heatpose reader")
    return DATASET_TYPES[ds["type"]]


def _mapping(ds: Dict[str, Any]) -> Optional[List[List[int]]]:
    conv = ds.get("keypoint_converter")
    return [list(m) for m in conv["mapping"]] if conv else None


# albumentations 1.3.1 arguments (as MMPose's configs write them) -> data.augment keys;
# heatpose.data.dropout implements these two transforms with that version's semantics
_ALBU_ARGS = {
    "CoarseDropout": {"p", "max_holes", "min_holes", "max_height", "min_height", "max_width",
                      "min_width", "fill_value", "mask_fill_value"},
    "GridDropout": {"p", "ratio", "unit_size_min", "unit_size_max", "random_offset", "fill_value",
                    "mask_fill_value", "holes_number_x", "holes_number_y", "shift_x", "shift_y"},
}


def albumentation_settings(transforms: Any, where: str) -> Dict[str, Any]:
    """``data.augment`` settings of an ``Albumentation`` step's transforms (CoarseDropout,
    GridDropout; missing arguments take albumentations 1.3.1's defaults, min_* = max_*);
    ConfigError for other transforms, fractional sizes or arguments heatpose does not take."""
    from heatpose.data.dropout import CoarseDropoutConfig, GridDropoutConfig

    kw: Dict[str, Any] = {}
    for t in transforms or ():
        t = dict(t)
        kind = t.pop("type", None)
        if kind not in _ALBU_ARGS:
            raise ConfigError(f"{where}: Albumentation transform {kind!r} is not supported "
                              f"(heatpose has {', '.join(_ALBU_ARGS)})")
        bad = sorted(set(t) - _ALBU_ARGS[kind])
        bad += [k for k in ("fill_value", "shift_x", "shift_y") if t.get(k, 0) != 0]
        bad += [k for k in ("holes_number_x", "holes_number_y") if t.get(k) is not None]
        if bad:
            raise ConfigError(f"{where}: {kind} argument(s) {bad} are not supported")
        if kind == "CoarseDropout":
            d = CoarseDropoutConfig()
            sizes = {}
            for name, default in (("holes", d.num_holes[1]), ("height", d.hole_height[1]),
                                  ("width", d.hole_width[1])):
                hi = t.get(f"max_{name}", default)
                lo = t.get(f"min_{name}", hi)
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
                    raise ConfigError(f"{where}: CoarseDropout {name} {lo}..{hi}: only pixel "
                                      "(integer) sizes are supported")
                sizes[name] = (lo, hi)
            kw.update(coarse_dropout=True, coarse_dropout_prob=float(t.get("p", d.prob)),
                      coarse_dropout_holes=sizes["holes"], coarse_dropout_height=sizes["height"],
                      coarse_dropout_width=sizes["width"])
        else:
            g = GridDropoutConfig()
            unit = (t.get("unit_size_min"), t.get("unit_size_max"))
            kw.update(grid_dropout=True, grid_dropout_prob=float(t.get("p", g.prob)),
                      grid_dropout_unit_size=tuple(int(v) for v in unit) if all(unit) else None,
                      grid_dropout_ratio=float(t.get("ratio", g.ratio)),
                      grid_dropout_random_offset=bool(t.get("random_offset", g.random_offset)))
    return kw


def augment_config(recipe: Any) -> AugmentConfig:
    """RandomFlip / RandomHalfBody / RandomBBoxTransform, and PhotometricDistortion /
    Albumentation where it has them, of the recipe's train pipeline."""
    t = recipe.train
    flip = t.step("RandomFlip") or {"prob": 0.0}
    half = t.step("RandomHalfBody")
    bbt = t.step("RandomBBoxTransform")
    if flip.get("direction", "horizontal") != "horizontal":
        raise ConfigError(f"{recipe.name}: RandomFlip direction {flip['direction']!r} is not supported")
    kw: Dict[str, Any] = {"enabled": True, "flip_prob": float(flip["prob"])}
    if half is None:
        kw["half_body_prob"] = 0.0
    else:
        kw.update(half_body_prob=float(half["prob"]),
                  half_body_min_total_keypoints=int(half["min_total_keypoints"]),
                  half_body_upper_prioritized_prob=float(half["upper_prioritized_prob"]),
                  half_body_padding=float(half["padding"]))
    for key in ("shift_factor", "shift_prob", "scale_prob", "rotate_factor", "rotate_prob"):
        kw[key] = float(bbt[key])
    kw["scale_factor"] = tuple(float(v) for v in bbt["scale_factor"])
    photo = t.step("PhotometricDistortion")
    if photo is not None:
        kw.update(photometric=True,
                  photometric_brightness_delta=float(photo["brightness_delta"]),
                  photometric_contrast_range=tuple(float(v) for v in photo["contrast_range"]),
                  photometric_saturation_range=tuple(float(v) for v in photo["saturation_range"]),
                  photometric_hue_delta=int(photo["hue_delta"]))
    albu = t.step("Albumentation")
    if albu is not None:
        kw.update(albumentation_settings(albu.get("transforms"), recipe.name))
    return AugmentConfig(**kw)


def config_from_preset(preset: Any) -> TrainConfig:
    """The full training config of a recipe (its MMPose config's settings, see NOT_USED)."""
    from heatpose.engine.metric_names import val_metric_name

    r, t = preset, preset.train
    main, *extra = t.datasets
    own = _folder(main.get("ann_file"))
    reader = reader_name(main)
    warm = t.scheduler("LinearLR") or {"end": 0, "start_factor": 1.0}
    steps = t.scheduler("MultiStepLR") or {"milestones": [], "gamma": 1.0}
    vis_loss = t.vis_loss or {}
    model = ModelConfig(
        name=r.name, backbone=r.backbone,
        deconv_out_channels=tuple(r.model.deconv_out_channels),
        deconv_kernel_sizes=tuple(r.model.deconv_kernel_sizes),
        visibility_head=r.visibility_head,
        **({"vis_loss_weight": float(vis_loss["loss_weight"])} if "loss_weight" in vis_loss else {}),
        schema=r.dataset, codec=dict(t.codec), loss=str(t.loss["type"]),
        flip_test=r.test.flip_test,
        flip_shift=r.test.shift_heatmap, init_checkpoint=t.load_from,
        pretrained_backbone=t.pretrained,
        pretrained_backbone_prefix=(t.pretrained_cfg or {}).get("prefix"),
        output_keypoint_indices=None if r.test.output_keypoint_indices is None
        else list(r.test.output_keypoint_indices))
    val = t.val_data
    center = t.step("GetBBoxCenterScale") or {}
    data = DataConfig(
        dataset=reader,
        train_ann_file=relative_to_root(main.get("ann_file"), own) or "",
        train_img_prefix=relative_to_root(main.get("img_prefix"), own) or "",
        val_ann_file=relative_to_root(val.get("ann_file"), own),
        val_img_prefix=relative_to_root(val.get("img_prefix"), own) or "",
        val_bbox_file=relative_to_root(val.get("bbox_file"), own),
        val_bbox_score_thr=recipe_score_thr(val),
        val_headbox_file=relative_to_root(val.get("headbox_file"), own),
        **({"bbox_padding": float(center["padding"])} if "padding" in center else {}),
        use_dataset_keypoint_weights=t.use_dataset_keypoint_weights,
        train_keypoint_mapping=_mapping(main),
        train_sample_interval=int(main.get("sample_interval") or 1),
        extra_train_sets=[{"dataset": reader_name(d),
                           "ann_file": relative_to_root(d.get("ann_file"), own),
                           "img_prefix": relative_to_root(d.get("img_prefix"), own) or "",
                           "keypoint_mapping": _mapping(d),
                           **({"sample_interval": int(d["sample_interval"])}
                              if d.get("sample_interval") else {})} for d in extra],
        augment=augment_config(r))
    optim = OptimConfig(
        type=str(t.optimizer["type"]), lr=float(t.optimizer["lr"]),
        weight_decay=float(t.optimizer.get("weight_decay", 0.0)),
        warmup_iters=int(warm["end"]), warmup_start_factor=float(warm["start_factor"]),
        milestones=tuple(int(m) for m in steps["milestones"]), gamma=float(steps["gamma"]),
        base_batch_size=int(t.auto_scale_lr_base_batch or t.gpus * t.batch_per_gpu))
    train = TrainSettings(
        epochs=int(t.max_epochs), batch_size=int(t.batch_per_gpu), val_interval=int(t.val_interval),
        checkpoint_interval=int(t.checkpoint_interval or t.val_interval),
        val_metric=val_metric_name(r.key_metric, reader), amp=bool(t.amp))
    return TrainConfig(preset=r.name, model=model, data=data, optim=optim, train=train)


def resolve_config(name_or_file: str) -> TrainConfig:
    """A config file (JSON/YAML) or a recipe name (1.x config name, 0.x alias, ...)."""
    if is_config_file(name_or_file):
        return load_config(name_or_file)
    if name_or_file.lower().endswith((".json", ".yaml", ".yml")):
        raise ConfigError(f"{name_or_file}: config file not found")
    from heatpose.recipes import get_recipe

    return config_from_preset(get_recipe(name_or_file))
