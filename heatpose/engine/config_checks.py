"""The rules a config section's values must follow beyond their types: ``ranged`` bounds, low <=
high pairs, the loss fitting the codec, pixel-step sizes fitting the crop, a codec
:func:`heatpose.codecs.codec_from_dict` accepts. Each failure is one ConfigError naming the
source (file or ``--set``) and the key.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

from heatpose.engine.config_sections import (LOSSES, AugmentConfig, ConfigError, DataConfig,
                                             ModelConfig, TrainConfig, TrainSettings,
                                             codec_loss)
from heatpose.engine.ranges import range_problem
from heatpose.errors import InputError


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


def check_config(cfg: TrainConfig, source: str) -> None:
    """:func:`check_settings` on every section of ``cfg`` and on ``cfg`` itself (the rules
    between sections), for a config built in Python rather than read from a file or ``--set``."""
    for obj, prefix in ((cfg.model, "model."), (cfg.data.augment, "data.augment."),
                        (cfg.data, "data."), (cfg.optim, "optim."), (cfg.train, "train."),
                        (cfg, "")):
        check_settings(obj, source, prefix)


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
