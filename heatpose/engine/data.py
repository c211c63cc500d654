"""Datasets and loaders for training: config -> records -> TopdownDataset -> DataLoader.

Augmentation randomness is a pure function of (seed, epoch, sample index) (see
:class:`heatpose.data.dataset.TopdownDataset`), and the sampler's order of (seed, epoch): so a
run is reproducible for any number of loader workers, and a resumed run continues exactly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Tuple

from torch.utils.data import DataLoader

from heatpose.data import transforms as T
from heatpose.data.dataset import AugmentConfig as DataAugment
from heatpose.data.dataset import TopdownDataset, collate_topdown
from heatpose.engine.config import ConfigError, DataConfig, TrainConfig
from heatpose.engine.distributed import DistInfo, ResumableSampler


def resolve_path(data_root: Path, rel: str) -> Path:
    """``rel`` under ``data_root`` (absolute paths are kept)."""
    p = Path(rel)
    return p if p.is_absolute() else Path(data_root) / p


def data_augment(cfg: DataConfig) -> DataAugment:
    """The dataset's augmentation settings from the config (all steps off when disabled)."""
    a = cfg.augment
    if not a.enabled:
        return DataAugment(padding=cfg.bbox_padding, flip_prob=0.0, half_body=None,
                           bbox_transform=None,
                           use_dataset_keypoint_weights=cfg.use_dataset_keypoint_weights)
    half = None
    if a.half_body_prob > 0:
        half = T.HalfBodyConfig(min_total_keypoints=a.half_body_min_total_keypoints,
                                padding=a.half_body_padding, prob=a.half_body_prob,
                                upper_prioritized_prob=a.half_body_upper_prioritized_prob)
    bbt = T.BBoxTransformConfig(shift_factor=a.shift_factor, shift_prob=a.shift_prob,
                                scale_factor=tuple(a.scale_factor), scale_prob=a.scale_prob,
                                rotate_factor=a.rotate_factor, rotate_prob=a.rotate_prob)
    return DataAugment(padding=cfg.bbox_padding, flip_prob=a.flip_prob, half_body=half,
                       bbox_transform=bbt,
                       use_dataset_keypoint_weights=cfg.use_dataset_keypoint_weights)


def read_records(cfg: DataConfig, data_root: Path, split: str, schema: Any) -> List[Any]:
    """Instance records of the train or val split; checks files exist and keypoint counts."""
    from heatpose.data.readers import DATASET_FORMATS, filter_topdown, read_coco_style, \
        read_dataset, read_detections

    ann = cfg.train_ann_file if split == "train" else cfg.val_ann_file
    prefix = cfg.train_img_prefix if split == "train" else cfg.val_img_prefix
    if not ann:
        raise ConfigError(f"data.{split}_ann_file is not set")
    ann_path = resolve_path(data_root, ann)
    if not ann_path.exists():
        raise ConfigError(f"{ann_path}: annotation file not found (data.{split}_ann_file "
                          f"{ann!r} under --data-root {data_root})")
    bbox = cfg.val_bbox_file if split == "val" else None
    bbox_path = str(resolve_path(data_root, bbox)) if bbox else None
    if bbox_path and not Path(bbox_path).exists():
        raise ConfigError(f"{bbox_path}: detection file not found (data.val_bbox_file "
                          f"{bbox!r} under --data-root {data_root}; set it to null to "
                          "validate on ground-truth boxes)")
    k = schema.num_keypoints
    if cfg.dataset in DATASET_FORMATS:
        fmt = DATASET_FORMATS[cfg.dataset][0]
        if fmt == "coco" and DATASET_FORMATS[cfg.dataset][1] != k:
            # a custom schema on a COCO-format file: read with the schema's keypoint count
            records = read_detections(bbox_path, str(ann_path), k, prefix) if bbox_path else \
                filter_topdown(read_coco_style(str(ann_path), prefix, k))
        else:
            records = read_dataset(cfg.dataset, str(ann_path), prefix, bbox_file=bbox_path)
    else:
        raise ConfigError(f"data.dataset = {cfg.dataset!r}: unknown dataset; known: "
                          f"{', '.join(sorted(DATASET_FORMATS))}")
    if split == "train" and cfg.max_train_instances:
        records = records[:cfg.max_train_instances]
    if not records:
        raise ConfigError(f"{ann_path}: no usable instances for {split}")
    return records


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
    (``collate_fn``, default :func:`collate_topdown`)."""
    sampler = ResumableSampler(dataset, info, shuffle=shuffle, seed=seed, drop_last=False)
    workers = max(0, min(int(num_workers), os.cpu_count() or 1))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                        num_workers=workers, collate_fn=collate_fn or collate_topdown,
                        drop_last=drop_last,
                        persistent_workers=False, pin_memory=False)
    return loader, sampler


def iters_per_epoch(num_samples: int, batch_size: int, world_size: int,
                    drop_last: bool) -> int:
    """Iterations in one epoch for each process (shards are padded to equal size)."""
    per_rank = -(-num_samples // world_size)
    return per_rank // batch_size if drop_last else -(-per_rank // batch_size)
