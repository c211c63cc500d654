"""Training configuration: dataclasses, an editable JSON/YAML file, and ``KEY=VALUE`` overrides.

A config is four sections (``model``, ``data``, ``optim``, ``train``) plus the preset name it
came from. ``heatpose config NAME`` writes :func:`config_from_preset` as a file; ``heatpose
train FILE --set train.batch_size=8`` reads it back with :func:`load_config` and
:func:`apply_overrides`. Every value is type-checked against the dataclass annotations, and
every error names the file (or ``--set``) and the key.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from heatpose.data.dropout import CoarseDropoutConfig as _Coarse
from heatpose.data.dropout import GridDropoutConfig as _Grid
from heatpose.data.photometric import PhotometricConfig as _Photo
from heatpose.data.transforms import BBOX_PADDING
from heatpose.data.transforms import BBoxTransformConfig as _BBox
from heatpose.data.transforms import FlipConfig as _Flip
from heatpose.data.transforms import HalfBodyConfig as _HalfBody
from heatpose.engine.ranges import prob as _prob
from heatpose.engine.ranges import range_problem, ranged
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
        return _build(cls, d, source, "")


# ------------------------------------------------------------------------- (de)serialisation

def _hints(cls: type) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, d: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(d).__name__}")
    hints = _hints(cls)
    unknown = [k for k in d if k not in hints]
    if unknown:
        raise ConfigError(_unknown_key_message(source, prefix + str(unknown[0]),
                                               [prefix + k for k in hints]))
    kwargs = {name: _coerce(value, hints[name], source, prefix + name)
              for name, value in d.items()}
    obj = cls(**kwargs)
    check_settings(obj, source, prefix)
    if cls is ModelConfig and "codec" in kwargs:
        check_codec(kwargs["codec"], source, prefix + "codec")
    return obj


def check_settings(obj: Any, source: str, prefix: str) -> None:
    """ConfigError naming ``source`` and the key unless every field of the config dataclass
    ``obj`` is inside its ``ranged`` bounds (and, for TrainSettings, fits the rules a range
    cannot say). Run on files and ``--set`` values as they are read, and by the trainer on
    configs built in Python."""
    for f in dataclasses.fields(obj):
        if "range" in f.metadata:
            problem = range_problem(getattr(obj, f.name), f.metadata["range"], prefix + f.name)
            if problem:
                raise ConfigError(f"{source}: {problem}")
    if isinstance(obj, AugmentConfig):
        for f in dataclasses.fields(obj):
            pair = getattr(obj, f.name)
            if isinstance(pair, tuple) and len(pair) == 2 and pair[0] > pair[1]:
                raise ConfigError(f"{source}: {prefix}{f.name} = {list(pair)}: the first value "
                                  "(low end) must not exceed the second")
    if isinstance(obj, DataConfig):
        for i, item in enumerate(obj.extra_train_sets):
            n = item.get("sample_interval", 1) if isinstance(item, dict) else 1
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"{source}: {prefix}extra_train_sets[{i}].sample_interval = "
                                  f"{n!r}: must be an integer >= 1")
    if isinstance(obj, TrainConfig):
        _check_pixel_steps(obj, source)
    if isinstance(obj, ModelConfig) and obj.loss is not None:
        if obj.loss not in LOSSES:
            raise ConfigError(f"{source}: {prefix}loss = {obj.loss!r}: use one of "
                              f"{', '.join(LOSSES)} (or null: the codec's)")
        if obj.loss != codec_loss(obj.codec):
            raise ConfigError(f"{source}: {prefix}loss = {obj.loss!r} does not fit "
                              f"{prefix}codec {obj.codec.get('type')} "
                              f"{obj.codec.get('heatmap_type', '')}: it needs "
                              f"{codec_loss(obj.codec)} (or null)")
    if isinstance(obj, TrainSettings):
        if obj.on_nonfinite not in ("stop", "skip"):
            raise ConfigError(f"{source}: {prefix}on_nonfinite = {obj.on_nonfinite!r}: use "
                              "'stop' or 'skip'")
        if not (obj.divergence_factor == 0 or obj.divergence_factor > 1):
            raise ConfigError(f"{source}: {prefix}divergence_factor = {obj.divergence_factor}: "
                              "must be 0 (off) or above 1")


def _check_pixel_steps(cfg: "TrainConfig", source: str) -> None:
    """CoarseDropout's holes and GridDropout's unit size must fit the crop
    (model.codec.input_size), as albumentations requires."""
    a = cfg.data.augment
    size = cfg.model.codec.get("input_size")
    if a.coarse_dropout and size:
        for key, side, name in (("coarse_dropout_width", 0, "width"),
                                ("coarse_dropout_height", 1, "height")):
            if getattr(a, key)[1] > size[side]:
                raise ConfigError(f"{source}: data.augment.{key} {list(getattr(a, key))}: holes "
                                  f"up to the crop's {name} {size[side]} "
                                  f"(model.codec.input_size {list(size)})")
    if a.grid_dropout and a.grid_dropout_unit_size is not None and size:
        from heatpose.data.dropout import GridDropoutConfig, check_grid

        problem = check_grid(GridDropoutConfig(unit_size=tuple(a.grid_dropout_unit_size),
                                               ratio=a.grid_dropout_ratio), tuple(size))
        if problem:
            raise ConfigError(f"{source}: data.augment.grid_dropout_{problem} "
                              f"(model.codec.input_size {list(size)})")


def check_codec(codec: Dict[str, Any], source: str, key: str = "model.codec") -> None:
    """ConfigError naming ``source`` and ``key`` (with the sub-key when the codec's error names
    one) unless :func:`heatpose.codecs.codec_from_dict` accepts ``codec``."""
    import re

    from heatpose.codecs import codec_from_dict

    try:
        codec_from_dict(codec)
    except InputError as exc:
        msg = str(exc)
        sub = next((k for k in codec if re.match(rf"{re.escape(str(k))}\b", msg)), None)
        if sub is None and msg.startswith("unknown codec type"):
            sub = "type"
        raise ConfigError(f"{source}: {key}{'.' + str(sub) if sub else ''}: {msg}") from None
    except (TypeError, ValueError) as exc:        # a value of the wrong type inside the codec
        raise ConfigError(f"{source}: {key} = {json.dumps(codec, default=str)}: not a valid "
                          f"codec ({exc})") from None


def _unknown_key_message(source: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        f"; known keys here: {', '.join(sorted(known))}"
    return f"{source}: unknown config key {key!r}{hint}"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, source: str, key: str) -> Any:
    """Check/convert ``value`` to annotation ``tp``; ConfigError naming ``key`` otherwise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = ConfigError(f"{source}: {key} = {value!r}: expected {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key + ".")
    if origin is Union:
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, source, key)
            except ConfigError:
                pass
        raise bad
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise ConfigError(f"{source}: {key} = {value!r}: expected {len(args)} values")
        item_types = [args[0]] * len(value) if (origin is list or not args or
                                                 args[-1] is Ellipsis) else list(args)
        items = [_coerce(v, t, source, f"{key}[{i}]")
                 for i, (v, t) in enumerate(zip(value, item_types))]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise bad


def parse_value(text: str) -> Any:
    """An override's value: JSON when it parses (``8``, ``0.1``, ``true``, ``[32, 32]``,
    ``{"a": 1}``, ``null``), else the text itself (``resnet18``); ``none`` means null."""
    if text.strip().lower() in ("none", "null"):
        return None
    low = text.strip().lower()
    if low in ("true", "false", "yes", "no", "on", "off"):
        return low in ("true", "yes", "on")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(cfg: TrainConfig, overrides: Sequence[str]) -> TrainConfig:
    """Apply ``KEY=VALUE`` strings (dotted keys such as ``model.backbone=resnet18``,
    ``data.augment.enabled=false``, ``model.backbone_kwargs={"base_channels": 8}``,
    ``model.codec.sigma=3``: keys inside a dict-valued field are set as-is).

    Returns a new, type-checked config; ConfigError for bad keys or values."""
    d = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (e.g. train.batch_size=8)")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise ConfigError(f"--set {item!r}: empty key")
        node: Any = d
        cls: Any = TrainConfig
        for i, part in enumerate(parts[:-1]):
            if cls is not None:                       # still inside dataclasses
                hints = _hints(cls)
                if part not in hints:
                    raise ConfigError(_unknown_key_message(
                        "--set", ".".join(parts[:i + 1]),
                        [".".join(parts[:i] + [k]) for k in hints]))
                cls = hints[part] if dataclasses.is_dataclass(hints[part]) else None
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a section")
            node = node[part]
        last = parts[-1]
        if cls is not None:
            hints = _hints(cls)
            if last not in hints:
                raise ConfigError(_unknown_key_message(
                    "--set", key, [".".join(parts[:-1] + [k]) for k in hints]))
        node[last] = parse_value(text)
    return TrainConfig.from_dict(d, source="--set")


# ----------------------------------------------------------------------------- files
def save_config(cfg: TrainConfig, path: Union[str, Path]) -> Path:
    """Write ``cfg`` as JSON, or YAML when ``path`` ends in .yaml/.yml (needs pyyaml)."""
    path = Path(path)
    path.write_text(dump_config(cfg, yaml=path.suffix.lower() in (".yaml", ".yml")),
                    encoding="utf-8")
    return path


def dump_config(cfg: TrainConfig, yaml: bool = False) -> str:
    """The config as editable text (JSON, or YAML when ``yaml`` and pyyaml is installed)."""
    data = cfg.to_dict()
    if yaml:
        try:
            import yaml as _yaml
        except ImportError:
            raise ConfigError("writing YAML needs pyyaml (pip install pyyaml); "
                              "use a .json file instead") from None
        return _yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    return json.dumps(data, indent=2) + "\n"


def load_config(path: Union[str, Path]) -> TrainConfig:
    """Read a JSON or YAML config file written by ``heatpose config`` (and edited)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml as _yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs pyyaml (pip install pyyaml)") from None
        try:
            data = _yaml.safe_load(text)
        except _yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return TrainConfig.from_dict(data, source=str(path))


def is_config_file(name: str) -> bool:
    """Whether ``heatpose train NAME`` names a config file rather than a zoo preset."""
    return Path(name).suffix.lower() in (".json", ".yaml", ".yml") and Path(name).is_file()


def known_keys(cls: type = TrainConfig, prefix: str = "") -> List[str]:
    """All dotted keys of the config (for help texts and error hints)."""
    out: List[str] = []
    for name, tp in _hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out += known_keys(tp, prefix + name + ".")
        else:
            out.append(prefix + name)
    return out
