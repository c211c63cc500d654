"""``--set KEY=VALUE`` overrides of a training config (dotted keys, JSON values) and the list of
every key they can name.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, List, Sequence

from heatpose.engine.config_build import section_hints, unknown_key_message
from heatpose.engine.config_sections import ConfigError, TrainConfig


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
                hints = section_hints(cls)
                if part not in hints:
                    raise ConfigError(unknown_key_message(
                        "--set", ".".join(parts[:i + 1]),
                        [".".join(parts[:i] + [k]) for k in hints]))
                cls = hints[part] if dataclasses.is_dataclass(hints[part]) else None
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a section")
            node = node[part]
        last = parts[-1]
        if cls is not None:
            hints = section_hints(cls)
            if last not in hints:
                raise ConfigError(unknown_key_message(
                    "--set", key, [".".join(parts[:-1] + [k]) for k in hints]))
        node[last] = parse_value(text)
    return TrainConfig.from_dict(d, source="--set")


def known_keys(cls: type = TrainConfig, prefix: str = "") -> List[str]:
    """All dotted keys of the config (for help texts and error hints)."""
    out: List[str] = []
    for name, tp in section_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out += known_keys(tp, prefix + name + ".")
        else:
            out.append(prefix + name)
    return out
