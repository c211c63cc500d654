"""Training configuration: dataclasses, an editable JSON/YAML file, and ``KEY=VALUE`` overrides.

A config is four sections (``model``, ``data``, ``optim``, ``train``) plus the preset name it
came from. ``heatpose config NAME`` writes :func:`config_from_preset` as a file; ``heatpose
train FILE --set train.batch_size=8`` reads it back with :func:`load_config` and
:func:`apply_overrides`. Every value is type-checked against the dataclass annotations, and
every error names the file (or ``--set``) and the key.

The config lives in small modules, re-exported here (import from ``heatpose.engine.config``):
:mod:`~heatpose.engine.config_sections` (the dataclasses, ConfigError),
:mod:`~heatpose.engine.config_build` (dicts -> type-checked sections),
:mod:`~heatpose.engine.config_checks` (value rules), :mod:`~heatpose.engine.config_overrides`
(``--set``) and :mod:`~heatpose.engine.config_files` (JSON/YAML files).
"""
from __future__ import annotations

from heatpose.engine.config_build import build_section, section_hints, unknown_key_message
from heatpose.engine.config_checks import check_codec, check_config, check_settings
from heatpose.engine.config_files import dump_config, is_config_file, load_config, save_config
from heatpose.engine.config_overrides import apply_overrides, known_keys, parse_value
from heatpose.engine.config_sections import (LOSSES, AugmentConfig, ConfigError, DataConfig,
                                             ModelConfig, OptimConfig, TrainConfig,
                                             TrainSettings, codec_loss)

__all__ = ["AugmentConfig", "ConfigError", "DataConfig", "LOSSES", "ModelConfig",
           "OptimConfig", "TrainConfig", "TrainSettings", "apply_overrides", "build_section",
           "check_codec", "check_config", "check_settings", "codec_loss", "dump_config",
           "is_config_file", "known_keys", "load_config", "parse_value", "save_config",
           "section_hints", "unknown_key_message"]
