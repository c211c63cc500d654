"""User-defined keypoint schemas: dicts, JSON and YAML files.

Two layouts are accepted.

heatpose layout (what :meth:`KeypointSchema.to_dict` writes; only ``keypoints`` is required)::

    name: my_pose
    keypoints: [nose, left_eye, right_eye, left_wrist, right_wrist]
    flip_pairs: [[left_eye, right_eye], [left_wrist, right_wrist]]   # or flip_indices: [K ints]
    skeleton: [[nose, left_eye], [nose, right_eye]]                  # names or indices
    sigmas: [0.026, 0.025, 0.025, 0.062, 0.062]                      # optional, K values
    joint_weights: [1, 1, 1, 1.5, 1.5]                               # optional, default 1.0
    keypoint_colors: [[51, 153, 255], ...]  # optional: K RGB triples or {name: RGB}
    skeleton_colors: [[0, 255, 0], ...]     # optional: one RGB per link
    upper_body_ids: [nose, left_eye, ...]   # optional, names or indices
    lower_body_ids: []

Missing colours default to green for names containing "left", orange for "right", blue
otherwise (links: the common colour of their two ends, else blue).

MMPose layout: a ``dataset_info`` dict (``dataset_name``, ``keypoint_info``,
``skeleton_info``, ``joint_weights``, ``sigmas``), optionally nested under a
``dataset_info`` key; parsed with MMPose's semantics and defaults.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from heatpose.errors import InputError
from heatpose.schema.base import Color, KeypointSchema
from heatpose.schema.palette import BLUE, DEFAULT_KEYPOINT, DEFAULT_LINK, GREEN, ORANGE

HEATPOSE_KEYS = ("name", "keypoints", "flip_pairs", "flip_indices", "skeleton",
                 "keypoint_colors", "skeleton_colors", "sigmas", "joint_weights",
                 "upper_body_ids", "lower_body_ids")


class _Reader:
    """Field checks that raise InputError naming the source and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> InputError:
        return InputError(f"{self.source}: {field}: {problem}")

    def seq(self, value: Any, field: str) -> list:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise self.fail(field, f"expected a list, got {type(value).__name__}")
        return list(value)

    def names(self, value: Any, field: str) -> List[str]:
        out = self.seq(value, field)
        for i, n in enumerate(out):
            if not isinstance(n, str) or not n:
                raise self.fail(f"{field}[{i}]", f"keypoint names must be non-empty strings, "
                                                 f"got {n!r}")
        dup = sorted({n for n in out if out.count(n) > 1})
        if dup:
            raise self.fail(field, f"duplicate keypoint names {dup}")
        if not out:
            raise self.fail(field, "no keypoints")
        return out

    def ref(self, value: Any, field: str, ids: Mapping[str, int]) -> int:
        """A keypoint given by name or index."""
        if isinstance(value, str):
            if value not in ids:
                raise self.fail(field, f"unknown keypoint {value!r} (known: {', '.join(ids)})")
            return ids[value]
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(ids):
                raise self.fail(field, f"keypoint index {value} outside 0..{len(ids) - 1}")
            return value
        raise self.fail(field, f"expected a keypoint name or index, got {value!r}")

    def pairs(self, value: Any, field: str, ids: Mapping[str, int]) -> List[Tuple[int, int]]:
        out = []
        for i, pair in enumerate(self.seq(value, field)):
            p = self.seq(pair, f"{field}[{i}]")
            if len(p) != 2:
                raise self.fail(f"{field}[{i}]", f"expected two keypoints, got {pair!r}")
            out.append((self.ref(p[0], f"{field}[{i}]", ids), self.ref(p[1], f"{field}[{i}]", ids)))
        return out

    def floats(self, value: Any, field: str, n: int, positive: bool) -> Tuple[float, ...]:
        vals = self.seq(value, field)
        if len(vals) != n:
            raise self.fail(field, f"has {len(vals)} values, expected one per keypoint ({n})")
        out = []
        for i, v in enumerate(vals):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= 0 if positive else v < 0):
                kind = "positive" if positive else "non-negative"
                raise self.fail(f"{field}[{i}]", f"expected a {kind} number, got {v!r}")
            out.append(float(v))
        return tuple(out)

    def color(self, value: Any, field: str) -> Color:
        c = self.seq(value, field)
        if len(c) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                                  for v in c):
            raise self.fail(field, f"expected an [R, G, B] triple of ints 0..255, got {value!r}")
        return (c[0], c[1], c[2])


def _side_color(name: str) -> Color:
    n = name.lower()
    return GREEN if "left" in n else ORANGE if "right" in n else BLUE


def _heatpose_layout(d: Mapping[str, Any], r: _Reader, default_name: str) -> KeypointSchema:
    unknown = [k for k in d if k not in HEATPOSE_KEYS]
    if unknown:
        raise r.fail(", ".join(map(str, unknown)),
                     f"unknown field; allowed: {', '.join(HEATPOSE_KEYS)}")
    if "keypoints" not in d:
        raise r.fail("keypoints", "missing (a list of keypoint names)")
    names = r.names(d["keypoints"], "keypoints")
    k = len(names)
    ids = {n: i for i, n in enumerate(names)}
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise r.fail("name", f"expected a non-empty string, got {name!r}")

    if "flip_pairs" in d and "flip_indices" in d:
        raise r.fail("flip_pairs", "give either flip_pairs or flip_indices, not both")
    flip = list(range(k))
    if "flip_indices" in d:
        vals = r.seq(d["flip_indices"], "flip_indices")
        if len(vals) != k:
            raise r.fail("flip_indices", f"has {len(vals)} entries, expected {k}")
        flip = [r.ref(v, f"flip_indices[{i}]", ids) for i, v in enumerate(vals)]
    elif "flip_pairs" in d:
        seen: Dict[int, int] = {}
        for i, (a, b) in enumerate(r.pairs(d["flip_pairs"], "flip_pairs", ids)):
            if a == b:
                raise r.fail(f"flip_pairs[{i}]", f"pairs {names[a]!r} with itself")
            for x in (a, b):
                if x in seen:
                    raise r.fail(f"flip_pairs[{i}]", f"keypoint {names[x]!r} already appears in "
                                 f"flip_pairs[{seen[x]}]: flip pairs must form a permutation")
                seen[x] = i
            flip[a], flip[b] = b, a

    skeleton = r.pairs(d.get("skeleton", []), "skeleton", ids)

    # a field that is absent gets defaults; one given as [] means "none" (as to_dict writes)
    kc = d.get("keypoint_colors")
    if kc is None:
        kcolors = [_side_color(n) for n in names]
    elif isinstance(kc, Mapping):
        kcolors = [_side_color(n) for n in names]
        for key, c in kc.items():
            kcolors[r.ref(key, "keypoint_colors", ids)] = r.color(c, f"keypoint_colors[{key!r}]")
    else:
        vals = r.seq(kc, "keypoint_colors")
        if vals and len(vals) != k:
            raise r.fail("keypoint_colors", f"has {len(vals)} colours, expected {k}")
        kcolors = [r.color(c, f"keypoint_colors[{i}]") for i, c in enumerate(vals)]

    sc = d.get("skeleton_colors")
    if sc is None:
        scolors = [kcolors[a] if kcolors[a] == kcolors[b] else BLUE for a, b in skeleton]
    else:
        vals = r.seq(sc, "skeleton_colors")
        if vals and len(vals) != len(skeleton):
            raise r.fail("skeleton_colors", f"has {len(vals)} colours, expected one per "
                                            f"skeleton link ({len(skeleton)})")
        scolors = [r.color(c, f"skeleton_colors[{i}]") for i, c in enumerate(vals)]

    sig = d.get("sigmas")
    sigmas = r.floats(sig, "sigmas", k, positive=True) if sig else ()
    jw = d.get("joint_weights")
    weights = ((1.0,) * k if jw is None else
               r.floats(jw, "joint_weights", k, positive=False) if len(r.seq(jw, "joint_weights"))
               else ())

    def id_list(field: str) -> List[int]:
        vals = r.seq(d.get(field, []), field)
        return [r.ref(v, f"{field}[{i}]", ids) for i, v in enumerate(vals)]

    return KeypointSchema(name=name, keypoint_names=tuple(names), flip_indices=tuple(flip),
                          skeleton=tuple(skeleton), keypoint_colors=tuple(kcolors),
                          skeleton_colors=tuple(scolors), sigmas=sigmas, joint_weights=weights,
                          upper_body_ids=tuple(id_list("upper_body_ids")),
                          lower_body_ids=tuple(id_list("lower_body_ids")))


def _mmpose_layout(d: Mapping[str, Any], r: _Reader, default_name: str) -> KeypointSchema:
    info = d["keypoint_info"]
    if isinstance(info, Mapping):
        try:
            entries = sorted(((int(key), v) for key, v in info.items()), key=lambda t: t[0])
        except (TypeError, ValueError):
            raise r.fail("keypoint_info", "keys must be keypoint ids 0..K-1") from None
        if [key for key, _ in entries] != list(range(len(entries))):
            raise r.fail("keypoint_info", f"ids must be 0..{len(entries) - 1}, got "
                                          f"{[key for key, _ in entries]}")
        kpts = [v for _, v in entries]
    else:
        kpts = r.seq(info, "keypoint_info")
    for i, kp in enumerate(kpts):
        if not isinstance(kp, Mapping) or "name" not in kp:
            raise r.fail(f"keypoint_info[{i}]", f"expected a dict with a 'name', got {kp!r}")
    names = r.names([kp["name"] for kp in kpts], "keypoint_info")
    k = len(names)
    ids = {n: i for i, n in enumerate(names)}
    flip, upper, lower, kcolors = [], [], [], []
    for i, kp in enumerate(kpts):
        swap = kp.get("swap", "") or ""
        flip.append(i if swap in ("", names[i]) else r.ref(swap, f"keypoint_info[{i}].swap", ids))
        kind = kp.get("type", "")
        if kind == "upper":
            upper.append(i)
        elif kind == "lower":
            lower.append(i)
        kcolors.append(r.color(kp.get("color", DEFAULT_KEYPOINT), f"keypoint_info[{i}].color"))

    links, scolors = [], []
    sk = d.get("skeleton_info") or {}
    sk_items = list(sk.values()) if isinstance(sk, Mapping) else r.seq(sk, "skeleton_info")
    for i, link in enumerate(sk_items):
        if not isinstance(link, Mapping) or "link" not in link:
            raise r.fail(f"skeleton_info[{i}]", f"expected a dict with a 'link', got {link!r}")
        field = f"skeleton_info[{i}].link"
        ends = r.seq(link["link"], field)
        if len(ends) != 2:
            raise r.fail(field, f"expected two keypoints, got {link['link']!r}")
        links.append((r.ref(ends[0], field, ids), r.ref(ends[1], field, ids)))
        scolors.append(r.color(link.get("color", DEFAULT_LINK), f"skeleton_info[{i}].color"))

    sig = d.get("sigmas")
    sigmas = r.floats(sig, "sigmas", k, positive=True) if sig else ()
    jw = d.get("joint_weights")
    weights = r.floats(jw, "joint_weights", k, positive=False) if jw else (1.0,) * k
    name = d.get("dataset_name") or default_name
    return KeypointSchema(name=str(name), keypoint_names=tuple(names), flip_indices=tuple(flip),
                          skeleton=tuple(links), keypoint_colors=tuple(kcolors),
                          skeleton_colors=tuple(scolors), sigmas=sigmas, joint_weights=weights,
                          upper_body_ids=tuple(upper), lower_body_ids=tuple(lower))


def schema_from_dict(d: Mapping[str, Any], source: str = "<dict>",
                     default_name: str = "custom") -> KeypointSchema:
    """Schema from a heatpose-layout or MMPose-layout dict (see module docstring).

    ``source`` (a file name) prefixes every error message."""
    r = _Reader(source)
    if not isinstance(d, Mapping):
        raise InputError(f"{source}: expected a mapping of schema fields, got {type(d).__name__}")
    if "keypoint_info" not in d and isinstance(d.get("dataset_info"), Mapping):
        d = d["dataset_info"]
    if "keypoint_info" in d:
        return _mmpose_layout(d, r, default_name)
    return _heatpose_layout(d, r, default_name)


def load_schema(path: Union[str, Path]) -> KeypointSchema:
    """Read a schema from a ``.json``, ``.yaml`` or ``.yml`` file (YAML needs pyyaml).

    The schema name defaults to the file's stem. Raises InputError naming the file (and the
    field) for a missing, unreadable or invalid file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: keypoint schema file not found")
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read keypoint schema file ({e})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}: invalid JSON at line {e.lineno} column {e.colno}: "
                             f"{e.msg}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(f"{p}: reading YAML schema files needs PyYAML "
                             f"(pip install pyyaml); or write the schema as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"{p}: invalid YAML: {e}") from None
    else:
        raise InputError(f"{p}: unsupported schema file type {suffix!r} "
                         f"(use .json, .yaml or .yml)")
    return schema_from_dict(data, source=str(p), default_name=p.stem)


__all__ = ["load_schema", "schema_from_dict"]
