"""Building estimators: from a recipe name, from an architecture description, from a checkpoint."""
from __future__ import annotations

import warnings

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from heatpose.codecs import codec_from_dict
from heatpose.errors import CheckpointError
from heatpose.models.backbones import build_backbone
from heatpose.models.checkpoints import load_checkpoint, read_checkpoint, load_state_dict_checked
from heatpose.models.estimator import TopdownEstimator
from heatpose.models.heads import HeatmapHead, VisPredictHead

PathLike = Union[str, Path]


@dataclass
class Architecture:
    """What the network looks like; enough, with a codec and flip indices, to rebuild it.

    backbone: 'resnet18'..'resnet152', 'hrnet_w32', 'hrnet_w48'; backbone_kwargs go to its
    constructor (e.g. ``stem_channels``); deconv_* describe the SimpleBaseline head (empty for
    HRNet's 1x1-conv head); visibility_head adds MMPose's VisPredictHead."""

    backbone: str
    num_keypoints: int
    deconv_out_channels: Tuple[int, ...] = (256, 256, 256)
    deconv_kernel_sizes: Tuple[int, ...] = (4, 4, 4)
    visibility_head: bool = False
    backbone_kwargs: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["deconv_out_channels"] = list(self.deconv_out_channels)
        d["deconv_kernel_sizes"] = list(self.deconv_kernel_sizes)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Architecture":
        d = dict(d)
        d["deconv_out_channels"] = tuple(d.get("deconv_out_channels", ()))
        d["deconv_kernel_sizes"] = tuple(d.get("deconv_kernel_sizes", ()))
        return cls(**d)

    @classmethod
    def from_preset(cls, preset: Any) -> "Architecture":
        """The network of a :class:`~heatpose.recipes.Recipe`."""
        m = preset.model
        return cls(backbone=m.backbone, num_keypoints=int(m.num_keypoints),
                   deconv_out_channels=tuple(m.deconv_out_channels),
                   deconv_kernel_sizes=tuple(m.deconv_kernel_sizes),
                   visibility_head=bool(m.visibility_head))


def build_estimator(arch: Architecture, codec: Any, flip_indices: Sequence[int],
                    name: Optional[str] = None, schema: Any = None, preset: Any = None,
                    flip_test: bool = True, flip_shift: Optional[bool] = None,
                    output_keypoint_indices: Optional[Sequence[int]] = None
                    ) -> TopdownEstimator:
    """Assemble backbone + head + codec. ``codec`` is a codec object or its dict form;
    ``output_keypoint_indices``: the keypoints ``predict`` reports (see TopdownEstimator)."""
    if isinstance(codec, dict):
        codec = codec_from_dict(codec)
    if len(flip_indices) != arch.num_keypoints:
        raise ValueError(f"flip_indices has {len(flip_indices)} entries for "
                         f"{arch.num_keypoints} keypoints")
    backbone = build_backbone(arch.backbone, **arch.backbone_kwargs)
    # UDP 'combined' codecs predict 3 maps per keypoint (class map, x and y offsets)
    out_channels = arch.num_keypoints * int(getattr(codec, "num_channels_per_keypoint", 1))
    head: torch.nn.Module = HeatmapHead(backbone.out_channels, out_channels,
                                        deconv_out_channels=arch.deconv_out_channels,
                                        deconv_kernel_sizes=arch.deconv_kernel_sizes)
    if arch.visibility_head:
        head = VisPredictHead(head, backbone.out_channels, arch.num_keypoints)
    model = TopdownEstimator(backbone, head, codec, flip_indices, name=name, schema=schema,
                             preset=preset, flip_test=flip_test, flip_shift=flip_shift,
                             output_keypoint_indices=output_keypoint_indices)
    model.architecture = arch
    return model


def list_models(filter: Optional[str] = None) -> List[str]:
    """Names (MMPose 1.x config names) of every recipe, optionally filtered by substring."""
    from heatpose.recipes import list_names

    return list_names(filter)


class RandomWeightsWarning(UserWarning):
    """``build_model`` was given neither ``pretrained=True`` nor a ``checkpoint``."""


class InferredSettingsWarning(UserWarning):
    """``build_model`` built a model from a config name that is not a recipe."""


def build_model(name: str, checkpoint: Optional[PathLike] = None, pretrained: bool = False,
                device: Union[str, torch.device] = "cpu", flip_test: Optional[bool] = None
                ) -> TopdownEstimator:
    """Build the model of recipe ``name`` (MMPose 1.x config name, 0.x alias, config path or
    checkpoint file name; see :mod:`heatpose.recipes`), in eval mode.

    ``checkpoint``: a file to load (any supported layout); ``pretrained=True`` downloads the
    recipe's published checkpoint into the cache (HEATPOSE_HOME) and loads it. With neither,
    the weights are random and a :class:`RandomWeightsWarning` says so. An MMPose ``td-hm*``
    config name that is not a recipe is built from what its name says, with an
    :class:`InferredSettingsWarning`."""
    model = build_named_model(name)
    if flip_test is not None:
        model.flip_test = flip_test
    if checkpoint is None and pretrained:
        from heatpose.inference.download import download

        url = model.preset.checkpoint_url if model.preset is not None else None
        if not url:
            raise CheckpointError(f"{name}: no published checkpoint for this model")
        checkpoint = download(url)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    else:
        warnings.warn(f"{model.name}: built with random weights (pass pretrained=True for the "
                      "published checkpoint, or checkpoint=PATH)", RandomWeightsWarning, stacklevel=2)
    return model.to(device).eval()


def build_named_model(name: str) -> TopdownEstimator:
    """The network of recipe ``name`` with random weights, silently (for training and for
    loading a checkpoint into it); a non-recipe ``td-hm*`` name is read from the name, with an
    :class:`InferredSettingsWarning`. Raises UnknownModelError for other names."""
    from heatpose.recipes import find_recipe, get_recipe
    from heatpose.schema import get_schema

    recipe = find_recipe(name)
    if recipe is None:
        model = _build_from_config_name(name)       # an MMPose config name that is not a recipe
        if model is None:
            get_recipe(name)                        # raises UnknownModelError with close matches
        return model
    schema = get_schema(recipe.dataset)
    return build_estimator(Architecture.from_preset(recipe), recipe.codec, schema.flip_indices,
                           name=recipe.name, schema=schema, preset=recipe,
                           flip_shift=recipe.test.shift_heatmap, flip_test=recipe.test.flip_test,
                           output_keypoint_indices=recipe.test.output_keypoint_indices)


def _build_from_config_name(name: str) -> Optional[TopdownEstimator]:
    """A model for an MMPose top-down heatmap config name that is not a recipe, read from the
    name alone (with a warning saying what was inferred); None if the name does not say enough
    (backbone, dataset, input size)."""
    import re

    from heatpose.errors import HeatposeError
    from heatpose.models.names import parse_config_name
    from heatpose.schema import schema_for_dataset

    base = re.sub(r"\.py$", "", str(name).replace("\\", "/").rsplit("/", 1)[-1])
    m = re.match(r"td-hm(?:-vis)?_.+?\d+e_(.+?)-\d+x\d+", base)
    if not m:
        return None
    try:
        parsed = parse_config_name(base)
        schema = schema_for_dataset(m.group(1))
        codec = parsed.codec_dict()
    except (HeatposeError, ValueError):
        return None
    if any(v % 32 for v in parsed.input_size):      # backbones need multiples of 32
        return None
    n = parsed.num_deconv
    arch = Architecture(parsed.backbone, schema.num_keypoints, (256,) * n, (4,) * n,
                        parsed.visibility_head)
    model = build_estimator(arch, codec, schema.flip_indices, name=base, schema=schema)
    warnings.warn(
        f"{base}: not an MMPose 1.3.2 recipe; settings inferred from the name: {parsed.backbone}, "
        f"{n} deconv layers, {schema.name} keypoints ({schema.num_keypoints}), codec {codec} "
        f"(sigma 2, or 3 from 288 px wide; other codec arguments at their defaults), flip test on "
        f"with the codec's flip shift ({model.flip_shift}). Use a recipe name (`heatpose zoo`) for "
        "exact settings", InferredSettingsWarning, stacklevel=3)
    return model


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> TopdownEstimator:
    """Rebuild a model from a heatpose checkpoint alone (its meta says what to build)."""
    state, meta = read_checkpoint(path)
    return model_from_checkpoint(state, meta, path, device)


def is_self_describing(meta: Dict[str, Any]) -> bool:
    """Whether checkpoint metadata names the model to build (heatpose files do)."""
    return isinstance(meta.get("architecture"), dict) or bool(meta.get("model_name"))


def model_from_checkpoint(state: Dict[str, torch.Tensor], meta: Dict[str, Any], path: PathLike,
                          device: Union[str, torch.device] = "cpu") -> TopdownEstimator:
    """The model that checkpoint ``meta`` describes, loaded with ``state`` (see load_model)."""
    arch = meta.get("architecture")
    if not isinstance(arch, dict) or "codec" not in meta or "flip_indices" not in meta:
        name = meta.get("model_name")
        if name:                                   # a recipe model saved without full metadata
            model = build_named_model(str(name))
            load_state_dict_checked(model, state, source=str(path))
            return model.to(device).eval()
        raise CheckpointError(f"{path}: no heatpose metadata (architecture, codec, flip_indices); "
                              "use build_model(NAME, checkpoint=...) for MMPose/official files")
    schema = None
    if isinstance(meta.get("schema"), dict):
        from heatpose.schema import KeypointSchema

        schema = KeypointSchema.from_dict(meta["schema"])
    preset = None
    if meta.get("model_name"):
        from heatpose.recipes import find_recipe

        preset = find_recipe(str(meta["model_name"]))  # None for a custom model: its meta is enough
    keep = meta.get("output_keypoint_indices")
    if keep is None and preset is not None:
        keep = preset.test.output_keypoint_indices
    try:
        model = build_estimator(Architecture.from_dict(arch), meta["codec"],
                                meta["flip_indices"], name=meta.get("model_name"), schema=schema,
                                preset=preset, flip_test=bool(meta.get("flip_test", True)),
                                flip_shift=meta.get("flip_shift"), output_keypoint_indices=keep)
    except ValueError as exc:                      # e.g. output_keypoint_indices out of range
        raise CheckpointError(f"{path}: metadata does not describe a model: {exc}") from None
    load_state_dict_checked(model, state, source=str(path))
    return model.to(device).eval()


def save_model(model: TopdownEstimator, path: PathLike, **extra: Any) -> Path:
    """Write a self-describing heatpose checkpoint (state_dict + JSON metadata), atomically."""
    from heatpose.models.checkpoints import save_checkpoint

    meta = model.metadata()
    meta["architecture"] = model.architecture.to_dict()
    return save_checkpoint(path, model.state_dict(), meta, **extra)
