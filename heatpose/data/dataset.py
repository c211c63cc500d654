"""Top-down samples for training and testing: records -> (crop, targets, meta) as torch tensors.

Train: load image -> box_to_center_scale -> random_flip -> random_half_body ->
random_bbox_transform -> topdown_affine -> generate_target (MMPose 1.x ``train_pipeline``).
Test: load image -> box_to_center_scale -> topdown_affine (``val_pipeline``); the meta keeps the
crop centre/scale and box score the decoder needs to map keypoints back to the image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from heatpose.data import transforms as T
from heatpose.data.converter import VIS_WEIGHTS
from heatpose.data.readers.record import InstanceRecord
from heatpose.data.images import read_image
from heatpose.data.pixel_augment import PixelAugment, random_pixel_augment
from heatpose.errors import InputError


@dataclass(frozen=True)
class TrainAugment:
    """The training pipeline's random steps, each the transform's own config (whose defaults are
    MMPose 1.3.2's); None turns a step off (DeepFashion2 configs have no half-body step).
    ``padding`` (box -> crop window) also applies in test mode."""
    padding: float = T.BBOX_PADDING
    flip: Optional[T.FlipConfig] = field(default_factory=T.FlipConfig)
    half_body: Optional[T.HalfBodyConfig] = field(default_factory=T.HalfBodyConfig)
    bbox_transform: Optional[T.BBoxTransformConfig] = field(
        default_factory=T.BBoxTransformConfig)
    use_dataset_keypoint_weights: bool = False
    # pixel steps on the crop (PhotometricDistortion, CoarseDropout, GridDropout); None = none
    pixel: Optional[PixelAugment] = None


class TopdownDataset(Dataset):
    """torch Dataset of top-down samples.

    Args:
        records: instance records (``heatpose.data.readers``).
        image_root: folder that record ``img_path`` values are relative to.
        schema: KeypointSchema (flip indices, half-body ids, joint weights, K).
        codec: heatmap codec (``input_size``, ``use_udp``, ``encode``).
        train: augment and build targets; otherwise only the crop and the decoding meta.
        augment: TrainAugment for training (padding is used in test mode too).
        seed: base seed; sample ``i`` of epoch ``e`` draws from ``default_rng([seed, e, i])``, so
            results do not depend on worker count or order.

    Items: ``(image (3, h, w) uint8 BGR, heatmaps (K, hh, hw) float32 | None,
    weights (K,) float32 | None, meta dict)``; use :func:`collate_topdown` as ``collate_fn``.
    """

    def __init__(self, records: Sequence[InstanceRecord], image_root: str, schema: Any,
                 codec: Any, train: bool, augment: TrainAugment = TrainAugment(),
                 seed: int = 0) -> None:
        self.records = list(records)
        self.image_root = os.fspath(image_root)
        self.schema = schema
        self.codec = codec
        self.train = train
        self.augment = augment
        self.seed = int(seed)
        # in shared memory, so that persistent DataLoader workers see set_epoch
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        k = schema.num_keypoints
        for rec in self.records:
            if len(rec.keypoints) != k:
                raise InputError(f"record ann_id {rec.ann_id} ({rec.img_path}) has "
                                 f"{len(rec.keypoints)} keypoints, schema '{schema.name}' "
                                 f"has {k}")

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws per epoch (call from the training loop before iterating the
        loader; workers, persistent ones too, read it from shared memory)."""
        self._epoch[0] = int(epoch)

    def build_sample(self, index: int, rng: Optional[np.random.Generator] = None
                     ) -> T.TopdownSample:
        """The transformed sample of record ``index`` (numpy; see ``__getitem__``)."""
        rec = self.records[index]
        path = os.path.join(self.image_root, rec.img_path)
        image = read_image(path, f"ann_id {rec.ann_id}, image id {rec.img_id}")
        sample = T.TopdownSample(image=image, bbox=rec.bbox.astype(np.float32).copy(),
                                 keypoints=rec.keypoints.astype(np.float32).copy(),
                                 keypoints_visible=rec.keypoints_visible.astype(np.float32))
        cfg = self.augment
        T.box_to_center_scale(sample, cfg.padding, rec.bbox_center, rec.bbox_scale)
        if self.train:
            if rng is None:
                rng = np.random.default_rng([self.seed, self.epoch, index])
            if cfg.flip is not None:
                T.random_flip(sample, self.schema.flip_indices, rng, cfg.flip.prob)
            if cfg.half_body is not None:
                T.random_half_body(sample, self.schema.upper_body_ids,
                                   self.schema.lower_body_ids, rng, cfg.half_body)
            if cfg.bbox_transform is not None:
                T.random_bbox_transform(sample, rng, cfg.bbox_transform)
        T.topdown_affine(sample, tuple(self.codec.input_size), bool(self.codec.use_udp))
        if self.train and cfg.pixel is not None:
            sample.image = random_pixel_augment(sample.image, rng, cfg.pixel)
        if self.train:
            weights = self.schema.joint_weights if cfg.use_dataset_keypoint_weights else None
            T.generate_target(sample, self.codec, weights)
        return sample

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Optional[torch.Tensor],
                                               Optional[torch.Tensor], Dict[str, Any]]:
        rec = self.records[index]
        sample = self.build_sample(index)
        meta: Dict[str, Any] = {
            "ann_id": rec.ann_id, "img_id": rec.img_id, "img_path": rec.img_path,
            "center": sample.center, "scale": sample.scale,
            "rotation": np.float32(sample.rotation), "flipped": sample.flipped,
            "bbox": rec.bbox, "bbox_score": np.float32(rec.bbox_score),
            "keypoints_visible": sample.keypoints_visible,
        }
        if self.train:
            # MMPose's keypoints_visible_weights (vis-head loss weights; KeypointConverter: 0
            # where unmapped), reordered with the keypoints when the sample was flipped
            vis_w = np.asarray(rec.extras.get(VIS_WEIGHTS, np.ones(len(rec.keypoints))),
                               dtype=np.float32)
            meta[VIS_WEIGHTS] = vis_w[list(self.schema.flip_indices)] if sample.flipped else vis_w
        if not self.train:
            meta["keypoints"] = rec.keypoints     # ground truth in image pixels
            for key in ("head_size", "headbox"):  # PCKh normalisers where known
                if key in rec.extras:
                    meta[key] = np.asarray(rec.extras[key], dtype=np.float32)
        image = torch.from_numpy(T.hwc_to_chw(sample.image))
        if not self.train:
            return image, None, None, meta
        return (image, torch.from_numpy(sample.heatmaps),
                torch.from_numpy(sample.keypoint_weights), meta)


def collate_topdown(batch: List[Tuple[torch.Tensor, Optional[torch.Tensor],
                                      Optional[torch.Tensor], Dict[str, Any]]]
                    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor],
                               Dict[str, Any]]:
    """Stack images (N, 3, h, w), heatmaps (N, K, hh, hw), weights (N, K); meta values that are
    numbers or arrays become stacked tensors, others (paths, ids) lists."""
    images = torch.stack([b[0] for b in batch])
    heatmaps = torch.stack([b[1] for b in batch]) if batch[0][1] is not None else None
    weights = torch.stack([b[2] for b in batch]) if batch[0][2] is not None else None
    meta: Dict[str, Any] = {}
    for key in batch[0][3]:
        values = [b[3].get(key) for b in batch]
        if all(isinstance(v, (np.ndarray, np.generic, float, bool)) for v in values):
            meta[key] = torch.from_numpy(np.stack([np.asarray(v) for v in values]))
        else:
            meta[key] = values
    return images, heatmaps, weights, meta
