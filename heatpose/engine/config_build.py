"""Reading config sections from plain dicts (a JSON/YAML file, ``--set`` overrides): every value
converted to its dataclass annotation (``int``, ``Optional[float]``, ``Tuple[int, int]``...),
unknown keys named with the closest known ones, then the value rules of
:func:`~heatpose.engine.config_checks.check_settings`.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, Dict, Sequence, Union

from heatpose.engine.config_checks import check_codec, check_settings
from heatpose.engine.config_sections import ConfigError, ModelConfig


def section_hints(cls: type) -> Dict[str, Any]:
    """Field name -> type annotation of the config dataclass ``cls``."""
    return typing.get_type_hints(cls)


def build_section(cls: type, d: Any, source: str, prefix: str) -> Any:
    """The config dataclass ``cls`` from the mapping ``d`` (keys under ``prefix``), every
    value type-checked and range-checked; ConfigError names ``source`` and the key."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(d).__name__}")
    hints = section_hints(cls)
    unknown = [k for k in d if k not in hints]
    if unknown:
        raise ConfigError(unknown_key_message(source, prefix + str(unknown[0]),
                                              [prefix + k for k in hints]))
    kwargs = {name: _coerce(value, hints[name], source, prefix + name)
              for name, value in d.items()}
    obj = cls(**kwargs)
    check_settings(obj, source, prefix)
    if cls is ModelConfig and "codec" in kwargs:
        check_codec(kwargs["codec"], source, prefix + "codec")
    return obj


def unknown_key_message(source: str, key: str, known: Sequence[str]) -> str:
    """The unknown-key error line, with the close known keys (or all of them) as a hint."""
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
        return build_section(tp, value, source, key + ".")
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
