"""Training config files: written by ``heatpose config`` as editable JSON or YAML, read back
(and type-checked) by ``heatpose train FILE``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from heatpose.engine.config_sections import ConfigError, TrainConfig


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
