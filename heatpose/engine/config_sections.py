"""The training config's sections as dataclasses (``model``, ``data`` with ``augment``,
``optim``, ``train``; :class:`TrainConfig` holds them), their defaults and ``ranged`` bounds,
and :class:`ConfigError`. Reading them from dicts: :mod:`heatpose.engine.config_build`; the
rules a range cannot say: :mod:`heatpose.engine.config_checks`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from heatpose.data.dropout import CoarseDropoutConfig as _Coarse
from heatpose.data.dropout import GridDropoutConfig as _Grid
from heatpose.data.photometric import PhotometricConfig as _Photo
from heatpose.data.transforms import BBOX_PADDING
from heatpose.data.transforms import BBoxTransformConfig as _BBox
from heatpose.data.transforms import FlipConfig as _Flip
from heatpose.data.transforms import HalfBodyConfig as _HalfBody
from heatpose.engine.ranges import prob as _prob
from heatpose.engine.ranges import ranged
from heatpose.errors import InputError
from heatpose.recipes.recipe import plain


class ConfigError(InputError):
    """A config file or ``--set`` override that does not fit the config's schema."""


# model.loss values (MMPose's heatmap losses; heatpose.models.losses); the second is the UDP
# 'combined' codec's (3 channels per keypoint), the first every other codec's
LOSSES = ("KeypointMSELoss", "CombinedTargetMSELoss")


def codec_loss(codec: Dict[str, Any]) -> str:
    """The loss a codec's targets need: CombinedTargetMSELoss for UDP 'combined', else
    KeypointMSELoss."""
    combined = codec.get("type") == "UDPHeatmap" and codec.get("heatmap_type") == "combined"
    return LOSSES[1] if combined else LOSSES[0]


@dataclass
class AugmentConfig:
    """MMPose's top-down train pipeline (RandomFlip, RandomHalfBody, RandomBBoxTransform, and
    where a recipe has them PhotometricDistortion and Albumentation's CoarseDropout /
    GridDropout). ``enabled=False`` turns every random step off (plain box crops). The
    ``(lo, hi)`` pairs are ranges (lo <= hi; the dropout ones in pixels, both ends included)."""

    # defaults are the transforms' own (MMPose 1.3.2's), flattened for ``--set augment.KEY=...``
    enabled: bool = True
    flip_prob: float = _prob(_Flip.prob)
    half_body_prob: float = _prob(_HalfBody.prob)
    half_body_min_total_keypoints: int = ranged(_HalfBody.min_total_keypoints, 0)
    half_body_upper_prioritized_prob: float = _prob(_HalfBody.upper_prioritized_prob)
    half_body_padding: float = ranged(_HalfBody.padding, 0, lo_open=True)
    shift_factor: float = ranged(_BBox.shift_factor, 0)
    shift_prob: float = _prob(_BBox.shift_prob)
    scale_factor: Tuple[float, float] = ranged(_BBox.scale_factor, 0, lo_open=True)
    scale_prob: float = _prob(_BBox.scale_prob)
    rotate_factor: float = ranged(_BBox.rotate_factor, 0)
    rotate_prob: float = _prob(_BBox.rotate_prob)
    # pixel steps on the crop (heatpose.data.pixel_augment), off unless a recipe has them:
    # MMPose's PhotometricDistortion, albumentations' CoarseDropout / GridDropout
    photometric: bool = False
    photometric_brightness_delta: float = ranged(_Photo.brightness_delta, 0, 255)
    photometric_contrast_range: Tuple[float, float] = ranged(_Photo.contrast_range, 0)
    photometric_saturation_range: Tuple[float, float] = ranged(_Photo.saturation_range, 0)
    photometric_hue_delta: int = ranged(_Photo.hue_delta, 0, 90)
    coarse_dropout: bool = False
    coarse_dropout_prob: float = _prob(_Coarse.prob)
    coarse_dropout_holes: Tuple[int, int] = ranged(_Coarse.num_holes, 1)
    coarse_dropout_height: Tuple[int, int] = ranged(_Coarse.hole_height, 1)
    coarse_dropout_width: Tuple[int, int] = ranged(_Coarse.hole_width, 1)
    grid_dropout: bool = False
    grid_dropout_prob: float = _prob(_Grid.prob)
    grid_dropout_unit_size: Optional[Tuple[int, int]] = ranged(_Grid.unit_size, 2)
    grid_dropout_ratio: float = ranged(_Grid.ratio, 0, 1, lo_open=True)
    grid_dropout_random_offset: bool = _Grid.random_offset


@dataclass
class ModelConfig:
    """The network. ``schema``: a built-in schema name or a JSON/YAML schema file (its keypoint
    count sets the output channels). ``codec``: MMPose codec dict (``type``, ``input_size``
    (w, h), ``heatmap_size`` (w, h), ``sigma``...). ``init_checkpoint``: weights to start from."""

    name: Optional[str] = None
    backbone: str = "resnet50"
    backbone_kwargs: Dict[str, Any] = field(default_factory=dict)
    deconv_out_channels: Tuple[int, ...] = (256, 256, 256)
    deconv_kernel_sizes: Tuple[int, ...] = (4, 4, 4)
    visibility_head: bool = False
    vis_loss_weight: float = ranged(1e-3, 0)
    schema: str = "coco"
    codec: Dict[str, Any] = field(default_factory=lambda: {
        "type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2})
    loss: Optional[str] = None                 # MMPose head loss (LOSSES); None = the codec's
    flip_test: bool = True
    flip_shift: Optional[bool] = None          # shift flipped heatmaps by 1 px; None = the codec's rule
    init_checkpoint: Optional[str] = None      # MMPose ``load_from``: path or URL of full-model weights
    pretrained_backbone: Optional[str] = None  # backbone ``init_cfg`` checkpoint: path or URL
    pretrained_backbone_prefix: Optional[str] = None  # ``init_cfg`` prefix (e.g. 'backbone.')
    # MMPose test_cfg output_keypoint_indices: the model keypoints validation scores, read in
    # data.dataset's own schema (COCO's 17 of the COCO+AIC 19); None = all, in model.schema
    output_keypoint_indices: Optional[List[int]] = None


@dataclass
class DataConfig:
    """Dataset files relative to ``--data-root`` (as the MMPose configs lay them out).
    ``dataset``: a reader name of :data:`heatpose.data.readers.DATASET_FORMATS`.
    ``val_headbox_file``: MPII's ``mpii_gt_val.mat`` (head sizes for PCKh validation)."""

    dataset: str = "coco"
    train_ann_file: str = "annotations/person_keypoints_train2017.json"
    train_img_prefix: str = "train2017/"
    val_ann_file: Optional[str] = "annotations/person_keypoints_val2017.json"
    val_img_prefix: str = "val2017/"
    val_bbox_file: Optional[str] = None
    # MMPose filter_cfg bbox_score_thr: validation on val_bbox_file keeps boxes scoring at least
    # this (compared in float32, as MMPose); None = all
    val_bbox_score_thr: Optional[float] = ranged(None, 0, 1)
    val_headbox_file: Optional[str] = None
    bbox_padding: float = ranged(BBOX_PADDING, 0, lo_open=True)
    use_dataset_keypoint_weights: bool = False
    num_workers: int = ranged(2, 0)
    val_batch_size: int = ranged(32, 1)
    max_train_instances: Optional[int] = ranged(None, 1)
    # MMPose KeypointConverter for the main train set: [[source, target], ...], a source being an
    # index or a pair [s1, s2] (their midpoint); None = as is
    train_keypoint_mapping: Optional[List[List[Any]]] = None
    # MMPose sample_interval of the main train set: only images whose id is a multiple of it
    train_sample_interval: int = ranged(1, 1)
    # further train sets of a CombinedDataset recipe: dicts with keys dataset, ann_file, img_prefix,
    # keypoint_mapping ([[source, target], ...] into the model's keypoints, or None) and optionally
    # sample_interval (as train_sample_interval)
    extra_train_sets: List[Dict[str, Any]] = field(default_factory=list)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class OptimConfig:
    """Adam + MMPose's schedule: linear warm-up over ``warmup_iters`` iterations from
    ``warmup_start_factor``, then x ``gamma`` at each epoch in ``milestones``. With
    ``auto_scale_lr`` the lr is multiplied by (batch per process x processes) / base_batch_size."""

    type: str = "Adam"
    lr: float = ranged(5e-4, 0, lo_open=True)
    weight_decay: float = ranged(0.0, 0)
    warmup_iters: int = ranged(500, 0)
    warmup_start_factor: float = ranged(0.001, 0, 1, lo_open=True)
    milestones: Tuple[int, ...] = ranged((170, 200), 0)
    gamma: float = ranged(0.1, 0, lo_open=True)
    base_batch_size: int = ranged(512, 1)
    auto_scale_lr: bool = False                # MMPose scales only with --auto-scale-lr
    grad_clip_norm: Optional[float] = ranged(None, 0, lo_open=True)


@dataclass
class TrainSettings:
    """Loop settings. ``batch_size`` is per process; ``max_iters`` (if set) stops early;
    intervals are in epochs; ``val_metric``/``val_rule`` choose ``best_<metric>.pth``:
    ``val_metric`` is a metric validation reports or a zoo key metric (``Mean``, ``Total``...;
    see :mod:`heatpose.engine.validate`), None = the dataset's key metric; ``val_rule``
    'greater' or 'less', None = 'less' for EPE, else 'greater'."""

    epochs: int = ranged(210, 1)
    batch_size: int = ranged(64, 1)
    max_iters: Optional[int] = ranged(None, 1)
    val_interval: int = ranged(10, 1)
    checkpoint_interval: int = ranged(10, 1)
    val_metric: Optional[str] = None
    val_rule: Optional[str] = None
    seed: int = ranged(0, 0)
    amp: bool = False                          # MMPose trains in fp32; --amp turns it on
    log_interval: int = ranged(50, 1)
    log_seconds: float = ranged(20.0, 0, lo_open=True)  # also log when this long since the last line
    skip_bad_samples: bool = True              # unreadable samples: skip and count (false: stop)
    on_nonfinite: str = "stop"                 # non-finite loss/gradient: 'stop' or 'skip' the step
    divergence_factor: float = ranged(100.0, 0)  # stop when the loss runs away (0 = off; health.py)


@dataclass
class TrainConfig:
    """Everything ``heatpose train`` needs besides ``--data-root`` and ``--work-dir``."""

    preset: Optional[str] = None
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly nested dict (tuples become lists)."""
        return plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: Dict[str, Any], source: str = "<dict>") -> "TrainConfig":
        """Build and type-check; ConfigError names ``source`` and the bad key."""
        from heatpose.engine.config_build import build_section

        return build_section(cls, d, source, "")
