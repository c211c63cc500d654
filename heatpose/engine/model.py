"""The network a training config describes, and the module computing its training loss.

``model.backbone``/``backbone_kwargs``/``deconv_*`` choose the architecture (so a CPU-sized
ResNet-18 with 8 base channels comes from the same code as the zoo's ResNet-50), and
``model.schema`` (a built-in name or a JSON/YAML schema file) sets the output channels.

The saved model's name (:func:`training_model_name`) is the zoo preset's only while the config
keeps the preset's architecture; otherwise the file must not claim to be the preset (loading
would attach the zoo's metadata to a different network), so it gets ``<preset>+custom``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from heatpose.data.transforms import normalize_batch
from heatpose.engine.config import ConfigError, ModelConfig, TrainConfig, codec_loss
from heatpose.recipes.recipe import plain

# ModelConfig fields that define the network, its input/target encoding and its keypoints
ARCHITECTURE_FIELDS = ("backbone", "backbone_kwargs", "deconv_out_channels",
                       "deconv_kernel_sizes", "visibility_head", "schema", "codec")
CUSTOM_SUFFIX = "+custom"


def load_config_schema(cfg: ModelConfig) -> Any:
    """The KeypointSchema of ``cfg.schema``: a schema file (.json/.yaml/.yml) or a built-in name."""
    from heatpose.schema import get_schema, load_schema

    name = str(cfg.schema)
    if Path(name).suffix.lower() in (".json", ".yaml", ".yml"):
        return load_schema(name)
    return get_schema(name)


def _zoo_preset(name: Optional[str]) -> Any:
    """The zoo preset called ``name`` (1.x name or alias), or None."""
    from heatpose.recipes import find_recipe

    return find_recipe(str(name)) if name else None


def architecture_overrides(cfg: ModelConfig, preset: Any,
                           ref: Optional[ModelConfig] = None) -> Tuple[str, ...]:
    """The :data:`ARCHITECTURE_FIELDS` in which ``cfg`` differs from ``preset``'s own config
    (``ref``: that config's model section, when the caller has already built it)."""
    if ref is None:
        from heatpose.engine.presets import config_from_preset

        ref = config_from_preset(preset).model
    return tuple(f for f in ARCHITECTURE_FIELDS
                 if plain(getattr(cfg, f)) != plain(getattr(ref, f)))


def check_start_weights(cfg: ModelConfig, recipe: Optional[str] = None) -> None:
    """ConfigError (one line, before any download) when the config still starts from the
    recipe's own weights file but overrides what that file was made for: the recipe's
    ``pretrained_backbone`` with another ``backbone``/``backbone_kwargs``, or its
    ``init_checkpoint`` (MMPose ``load_from``) with another network or keypoint count.
    ``recipe``: the zoo recipe the config came from (default ``cfg.name``)."""
    preset = _zoo_preset(recipe or cfg.name)
    if preset is None:
        return
    from heatpose.engine.presets import config_from_preset

    ref = config_from_preset(preset).model
    overridden = architecture_overrides(cfg, preset, ref)
    checks = (("pretrained_backbone", ("backbone", "backbone_kwargs"), "the new backbone"),
              ("init_checkpoint", ("backbone", "backbone_kwargs", "deconv_out_channels",
                                   "deconv_kernel_sizes", "visibility_head", "schema"),
               "the new network"))
    for key, fields, what in checks:
        own = getattr(ref, key)
        if not own or getattr(cfg, key) != own:
            continue
        changed = [f for f in overridden if f in fields and (f != "schema" or (
            load_config_schema(cfg).num_keypoints != load_config_schema(ref).num_keypoints))]
        if changed:
            now = ", ".join(f"model.{f}={json.dumps(plain(getattr(cfg, f)))}" for f in changed)
            was = ", ".join(json.dumps(plain(getattr(ref, f))) for f in changed)
            raise ConfigError(
                f"{now} overrides recipe {preset.name} ({was}) but model.{key} is still the "
                f"recipe's file {own}, made for the recipe's network; set model.{key}=null "
                f"or to a file for {what}")


def training_model_name(cfg: TrainConfig) -> Optional[str]:
    """The name the trained model is saved under: ``model.name`` (else ``preset``), unless that
    names a zoo preset whose architecture the config overrides (:data:`ARCHITECTURE_FIELDS`):
    then ``<name>+custom``, which :func:`heatpose.models.build.load_model` does not resolve to
    the zoo preset, so it rebuilds the network from the file's own architecture/codec/schema."""
    name = cfg.model.name or cfg.preset
    preset = _zoo_preset(name)
    if preset is not None and architecture_overrides(cfg.model, preset):
        return f"{preset.name}{CUSTOM_SUFFIX}"
    return name


def build_training_model(cfg: ModelConfig, schema: Optional[Any] = None,
                         name: Optional[str] = None,
                         report: Optional[Callable[[str], None]] = None) -> Any:
    """A TopdownEstimator (train mode) built from the config; self-describing when saved.
    ``name``: the saved model name (default ``cfg.name``; see :func:`training_model_name`).
    Starting weights (``pretrained_backbone``, ``init_checkpoint``): :func:`load_start_weights`;
    ``flip_shift`` (None = the codec's rule) is kept by the model and saved with it."""
    from heatpose.codecs import codec_from_dict
    from heatpose.models.build import Architecture, build_estimator
    from heatpose.models.estimator import check_output_indices

    schema = schema if schema is not None else load_config_schema(cfg)
    if len(cfg.deconv_out_channels) != len(cfg.deconv_kernel_sizes):
        raise ConfigError(f"model.deconv_out_channels {list(cfg.deconv_out_channels)} and "
                          f"model.deconv_kernel_sizes {list(cfg.deconv_kernel_sizes)} must have "
                          "the same length")
    check_start_weights(cfg)
    codec = codec_from_dict(cfg.codec)
    arch = Architecture(backbone=cfg.backbone, num_keypoints=schema.num_keypoints,
                        deconv_out_channels=tuple(cfg.deconv_out_channels),
                        deconv_kernel_sizes=tuple(cfg.deconv_kernel_sizes),
                        visibility_head=cfg.visibility_head,
                        backbone_kwargs=dict(cfg.backbone_kwargs))
    try:                    # the estimator's own check, named as the config key
        idx = check_output_indices(cfg.output_keypoint_indices, schema.num_keypoints,
                                   "model.output_keypoint_indices")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        model = build_estimator(arch, codec, schema.flip_indices, name=name or cfg.name,
                                schema=schema, flip_test=cfg.flip_test,
                                flip_shift=cfg.flip_shift, output_keypoint_indices=idx)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"model: cannot build {cfg.backbone} with backbone_kwargs "
                          f"{cfg.backbone_kwargs}: {exc}") from None
    if cfg.visibility_head and hasattr(model.head, "vis_loss_module"):
        model.head.vis_loss_module.loss_weight = cfg.vis_loss_weight
    set_heatmap_loss(model, cfg)
    check_output_size(model, codec)
    load_start_weights(model, cfg, report)
    return model.train()


def set_heatmap_loss(model: Any, cfg: ModelConfig) -> None:
    """The pose head's loss: ``model.loss`` (MMPose's head loss of the recipe), None = the
    codec's (:func:`heatpose.engine.config.codec_loss`: CombinedTargetMSELoss for UDP
    'combined', else the head's own KeypointMSELoss); ConfigError when it does not fit."""
    from heatpose.engine.config import check_settings
    from heatpose.models.losses import heatmap_loss

    check_settings(cfg, "config", "model.")
    name = cfg.loss or codec_loss(cfg.codec)
    pose_head = getattr(model.head, "pose_head", model.head)
    if type(pose_head.loss_module).__name__ != name:
        pose_head.loss_module = heatmap_loss(name)


def load_start_weights(model: Any, cfg: ModelConfig,
                       report: Optional[Callable[[str], None]] = None) -> List[Any]:
    """MMPose's order: the backbone's pretrained weights (``init_cfg``), then ``load_from``
    over the whole model. ``report`` gets one line per file (default: stderr, main process)."""
    from heatpose.engine.pretrained import load_init_checkpoint, load_pretrained_backbone

    report = report or _report_main
    done = []
    if cfg.pretrained_backbone:
        done.append(load_pretrained_backbone(model, cfg.pretrained_backbone,
                                             cfg.pretrained_backbone_prefix))
    if cfg.init_checkpoint:
        done.append(load_init_checkpoint(model, cfg.init_checkpoint))
    for r in done:
        report(r.summary())
    return done


def _report_main(line: str) -> None:
    from heatpose.engine.distributed import env_dist_info

    if env_dist_info().is_main:
        print(line, file=sys.stderr, flush=True)


def check_output_size(model: Any, codec: Any) -> None:
    """ConfigError when the network's heatmaps do not have the codec's heatmap size."""
    w, h = codec.input_size
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, h, w))
    model.train(was)
    got = (out.shape[-1], out.shape[-2])
    if tuple(got) != tuple(codec.heatmap_size):
        raise ConfigError(f"model: input {w}x{h} gives {got[0]}x{got[1]} heatmaps but "
                          f"model.codec.heatmap_size is {list(codec.heatmap_size)}; set "
                          f"model.codec.heatmap_size=[{got[0]},{got[1]}]")


class TrainStep(nn.Module):
    """Wraps the estimator so that one ``forward`` (the call DDP synchronises) gives the losses.

    forward(images (N, 3, H, W) uint8 BGR, heatmaps (N, K, h, w), weights (N, K),
    vis_weights (N, K) or None) -> dict of scalar losses: ``loss_kpt`` (the head's
    KeypointMSELoss with target weights) and, for visibility models, ``loss_vis`` (BCE against
    the target weights, weighted by ``vis_weights``: MMPose's ``keypoints_visible_weights``, 0
    for keypoints a KeypointConverter did not map; None = ones), plus ``loss``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, heatmaps: torch.Tensor, weights: torch.Tensor,
                vis_weights: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        x = normalize_batch(images)
        pred, vis = self.model.forward_all(x)
        head = self.model.head
        pose_head = getattr(head, "pose_head", head)
        with torch.autocast(x.device.type, enabled=False):     # losses in float32 (BCE must)
            losses = {"loss_kpt": pose_head.loss(pred.float(), heatmaps.float(), weights)}
            if vis is not None:
                losses["loss_vis"] = head.vis_loss(vis.float(), weights, vis_weights)
            losses["loss"] = sum(losses.values())
        return losses


def unpack_batch(batch: Tuple[Any, ...], device: torch.device) -> Tuple[torch.Tensor, ...]:
    """The :class:`TrainStep` arguments of a collated train batch, on ``device``: (images,
    heatmaps, weights) and, when the batch has them, the visibility-loss weights."""
    images, heatmaps, weights, meta = batch
    out = [images, heatmaps, weights]
    if isinstance(meta, dict) and meta.get("keypoints_visible_weights") is not None:
        out.append(meta["keypoints_visible_weights"])
    return tuple(t.to(device, non_blocking=True) for t in out)
