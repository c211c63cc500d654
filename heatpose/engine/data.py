"""Datasets and loaders for training: config -> records -> TopdownDataset -> DataLoader.

Augmentation randomness is a pure function of (seed, epoch, sample index) (see
:class:`heatpose.data.dataset.TopdownDataset`), and the sampler's order of (seed, epoch): so a
run is reproducible for any number of loader workers, and a resumed run continues exactly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from torch.utils.data import DataLoader

from heatpose.data import transforms as T
from heatpose.data.dataset import TopdownDataset, TrainAugment, collate_topdown
from heatpose.data.pixel_augment import pixel_augment
from heatpose.engine.config import ConfigError, DataConfig, TrainConfig
from heatpose.engine.distributed import DistInfo, ResumableSampler


def resolve_path(data_root: Path, rel: str) -> Path:
    """``rel`` under ``data_root`` (absolute paths are kept)."""
    p = Path(rel)
    return p if p.is_absolute() else Path(data_root) / p


def data_augment(cfg: DataConfig) -> TrainAugment:
    """The dataset's augmentation steps from the flat config (all steps off when disabled;
    a step with probability 0 is off)."""
    a = cfg.augment
    weights = cfg.use_dataset_keypoint_weights
    if not a.enabled:
        return TrainAugment(padding=cfg.bbox_padding, flip=None, half_body=None,
                            bbox_transform=None, use_dataset_keypoint_weights=weights)
    half = None
    if a.half_body_prob > 0:
        half = T.HalfBodyConfig(min_total_keypoints=a.half_body_min_total_keypoints,
                                padding=a.half_body_padding, prob=a.half_body_prob,
                                upper_prioritized_prob=a.half_body_upper_prioritized_prob)
    bbt = T.BBoxTransformConfig(shift_factor=a.shift_factor, shift_prob=a.shift_prob,
                                scale_factor=tuple(a.scale_factor), scale_prob=a.scale_prob,
                                rotate_factor=a.rotate_factor, rotate_prob=a.rotate_prob)
    return TrainAugment(padding=cfg.bbox_padding, flip=T.FlipConfig(a.flip_prob), half_body=half,
                        bbox_transform=bbt, use_dataset_keypoint_weights=weights,
                        pixel=pixel_augment(a))


def read_records(cfg: DataConfig, data_root: Path, split: str, schema: Any) -> List[Any]:
    """Instance records of the train or val split; checks files exist and keypoint counts.

    Train: the main set plus ``data.extra_train_sets`` (MMPose's CombinedDataset), each mapped
    onto the model's keypoints by its ``keypoint_mapping`` (MMPose's KeypointConverter)."""
    if split == "train":
        sets = [{"dataset": cfg.dataset, "ann_file": cfg.train_ann_file,
                 "img_prefix": cfg.train_img_prefix,
                 "keypoint_mapping": cfg.train_keypoint_mapping,
                 "sample_interval": cfg.train_sample_interval}] + list(cfg.extra_train_sets)
        records: List[Any] = []
        for i, item in enumerate(sets):
            key = "data.train_ann_file" if i == 0 else f"data.extra_train_sets[{i - 1}]"
            records += _read_train_set(item, data_root, schema, key)
        if cfg.max_train_instances:
            records = records[:cfg.max_train_instances]
        if not records:
            raise ConfigError(f"{resolve_path(data_root, cfg.train_ann_file)}: no usable "
                              "instances for train")
        return records
    if not cfg.val_ann_file:
        raise ConfigError("data.val_ann_file is not set")
    bbox = cfg.val_bbox_file
    bbox_path = str(resolve_path(data_root, bbox)) if bbox else None
    if bbox_path and not Path(bbox_path).exists():
        raise ConfigError(f"{bbox_path}: detection file not found (data.val_bbox_file "
                          f"{bbox!r} under --data-root {data_root}; set it to null to "
                          "validate on ground-truth boxes)")
    ann_path = _existing(data_root, cfg.val_ann_file, "data.val_ann_file")
    records = _read_file(cfg.dataset, ann_path, cfg.val_img_prefix, schema.num_keypoints,
                         bbox_path, "data.dataset", score_thr=cfg.val_bbox_score_thr)
    if not records:
        raise ConfigError(f"{ann_path}: no usable instances for val")
    return records


def _existing(data_root: Path, rel: str, key: str) -> Path:
    path = resolve_path(data_root, rel)
    if not path.exists():
        raise ConfigError(f"{path}: annotation file not found ({key} {rel!r} under "
                          f"--data-root {data_root})")
    return path


def _read_file(dataset: str, ann_path: Path, prefix: str, k: Optional[int],
               bbox_path: Optional[str], key: str, score_thr: Optional[float] = None
               ) -> List[Any]:
    """Records of one annotation file; ``k``: read a COCO-format file with a custom schema's
    keypoint count (None: the reader's own count); ``score_thr``: detection boxes scoring
    below it are dropped (:func:`heatpose.data.readers.posetrack_filter.score_threshold`)."""
    from heatpose.data.readers.posetrack_filter import score_threshold

    thr = score_threshold(score_thr)
    from heatpose.data.readers import (DATASET_FORMATS, filter_topdown, read_coco_style,
                                       read_dataset, read_detections)

    if dataset not in DATASET_FORMATS:
        raise ConfigError(f"{key} = {dataset!r}: unknown dataset; known: "
                          f"{', '.join(sorted(DATASET_FORMATS))}")
    fmt, native = DATASET_FORMATS[dataset][0], DATASET_FORMATS[dataset][1]
    if k is not None and fmt == "coco" and native != k:
        return read_detections(bbox_path, str(ann_path), k, prefix, thr) if bbox_path else \
            filter_topdown(read_coco_style(str(ann_path), prefix, k))
    return read_dataset(dataset, str(ann_path), prefix, bbox_file=bbox_path, score_thr=thr)


def _read_train_set(item: Dict[str, Any], data_root: Path, schema: Any, key: str) -> List[Any]:
    """One train set: records with the model's keypoints (mapped when it has a mapping)."""
    unknown = set(item) - {"dataset", "ann_file", "img_prefix", "keypoint_mapping",
                           "sample_interval"}
    if unknown or not item.get("dataset") or not item.get("ann_file"):
        raise ConfigError(f"{key}: a train set needs dataset and ann_file (and may have "
                          f"img_prefix, keypoint_mapping, sample_interval); got keys "
                          f"{sorted(item)}")
    mapping = item.get("keypoint_mapping")
    ann_path = _existing(data_root, item["ann_file"], key)
    k = schema.num_keypoints
    records = _read_file(item["dataset"], ann_path, item.get("img_prefix") or "",
                         None if mapping else k, None, key)
    if item.get("sample_interval", 1) != 1:
        from heatpose.data.readers.ubody_sampling import every_nth_image

        records = every_nth_image(records, item["sample_interval"], str(ann_path))
    if mapping:
        records = convert_records(records, mapping, k, f"{key} ({ann_path})")
    return records


def convert_records(records: Sequence[Any], mapping: Sequence[Sequence[Any]], num_target: int,
                    where: str) -> List[Any]:
    """Records with keypoints mapped by MMPose's ``KeypointConverter``
    (:meth:`heatpose.data.converter.KeypointConverter.convert_records`); a bad mapping is a
    ConfigError naming ``where``."""
    from heatpose.data.converter import converter_from_mapping
    from heatpose.errors import InputError

    try:
        return converter_from_mapping(num_target, mapping).convert_records(records)
    except InputError as exc:
        raise ConfigError(f"{where}: {exc} (model keypoints: {num_target})") from None


def build_dataset(cfg: TrainConfig, data_root: Path, split: str, schema: Any, codec: Any
                  ) -> TopdownDataset:
    """The train (augmented, with targets) or val (test-mode crops) dataset."""
    records = read_records(cfg.data, data_root, split, schema)
    return TopdownDataset(records, str(data_root), schema, codec, train=(split == "train"),
                          augment=data_augment(cfg.data), seed=cfg.train.seed)


def build_loader(dataset: TopdownDataset, info: DistInfo, batch_size: int, shuffle: bool,
                 num_workers: int, seed: int, drop_last: bool, collate_fn: Any = None
                 ) -> Tuple[DataLoader, ResumableSampler]:
    """DataLoader over this process's shard (``ResumableSampler``), collating top-down items
    (``collate_fn``, default :func:`collate_topdown`). Workers persist across epochs (the
    dataset's epoch is in shared memory); batches are pinned when CUDA is available."""
    sampler = ResumableSampler(dataset, info, shuffle=shuffle, seed=seed, drop_last=False)
    workers = max(0, min(int(num_workers), os.cpu_count() or 1))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                        num_workers=workers, collate_fn=collate_fn or collate_topdown,
                        drop_last=drop_last,
                        persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
    return loader, sampler


def iters_per_epoch(num_samples: int, batch_size: int, world_size: int,
                    drop_last: bool) -> int:
    """Iterations in one epoch for each process (shards are padded to equal size)."""
    per_rank = -(-num_samples // world_size)
    return per_rank // batch_size if drop_last else -(-per_rank // batch_size)
