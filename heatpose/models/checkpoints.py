"""Reading and writing checkpoints safely, in every layout the model zoo ships.

Readable layouts (all mapped onto MMPose 1.x state_dict names ``backbone.*`` / ``head.*``):

* MMPose 1.x (Runner and ``publish_model`` files, zip or legacy serialisation);
* MMPose 0.x (``keypoint_head.*``; old head layouts with intermediate convs in ``final_layer``);
* the official SimpleBaseline / HRNet repositories (bare names, ``module.`` prefixes);
* bare state dicts, and heatpose's own files (``state_dict`` + JSON-friendly ``meta``).

Nothing in a file can run code: see :mod:`heatpose.models.torch_formats` (containers) and
:mod:`heatpose.models.safe_pickle` (the restricted unpickler).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from heatpose.errors import CheckpointError
from heatpose.models.safe_pickle import OpaqueObject
from heatpose.models.torch_formats import read_torch_file

PathLike = Union[str, Path]
FORMAT_VERSION = 1
_STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "net", "weights")
_MAX_LISTED = 20


def read_checkpoint(path: PathLike) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Load ``path`` safely; return (state_dict with its original names, meta dict)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    obj = read_torch_file(path)             # CheckpointError naming the file if unreadable
    meta: Dict[str, Any] = {}
    state = obj
    if isinstance(obj, Mapping):
        for key in _STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
        if isinstance(obj.get("meta"), Mapping):
            meta = dict(obj["meta"])
    if isinstance(state, OpaqueObject):       # e.g. torch.save(model): objects are not rebuilt
        raise CheckpointError(f"{path}: holds a pickled {state.name} object, not a state_dict "
                              "(heatpose reads weights only: save model.state_dict())")
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: no state_dict found (top-level type "
                              f"{type(obj).__name__})")
    tensors: Dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if isinstance(v, torch.Tensor):
            if v.is_meta or v.layout != torch.strided:
                raise CheckpointError(f"{path}: state_dict entry {k!r} holds no data "
                                      f"({'meta' if v.is_meta else v.layout} tensor)")
            tensors[str(k)] = v.cpu()          # a numpy-rebuilt tensor may name a GPU
        elif not isinstance(v, OpaqueObject):
            raise CheckpointError(f"{path}: state_dict entry {k!r} is a {type(v).__name__}, "
                                  "not a tensor")
    if not tensors:
        raise CheckpointError(f"{path}: the state_dict holds no tensors")
    return tensors, meta


def _strip_prefix(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _convert_old_final_layer(key: str, n_conv_layers: int) -> str:
    """0.x ``head.final_layer.<i>.<leaf>`` (intermediate convs + final conv in one Sequential)."""
    parts = key.split(".")
    if len(parts) == 4 and parts[1] == "final_layer" and parts[2].isdigit():
        idx = int(parts[2])
        if idx < n_conv_layers:
            return f"head.conv_layers.{idx}.{parts[3]}"
        return f"head.final_layer.{parts[3]}"
    return key


def to_mmpose_names(state: Mapping[str, torch.Tensor],
                    target_keys: Optional[set] = None) -> Dict[str, torch.Tensor]:
    """Map any supported layout onto MMPose 1.x names (``backbone.*``, ``head.*``)."""
    out = dict(state)
    for prefix in ("module.", "model."):
        out = _strip_prefix(out, prefix)
    out = {k: v for k, v in out.items()
           if k not in ("data_preprocessor.mean", "data_preprocessor.std")}
    renamed: Dict[str, torch.Tensor] = {}
    for k, v in out.items():
        if k.startswith("keypoint_head."):                       # MMPose 0.x
            k = "head." + k[len("keypoint_head."):]
        elif not k.startswith(("backbone.", "head.", "neck.")):   # official repos: bare names
            if k.startswith(("deconv_layers.", "final_layer.")):
                k = "head." + k
            else:
                k = "backbone." + k
        renamed[k] = v
    if target_keys is not None:
        n_conv = len({k.split(".")[2] for k in target_keys if k.startswith("head.conv_layers.")})
        renamed = {_convert_old_final_layer(k, n_conv) if k not in target_keys else k: v
                   for k, v in renamed.items()}
        # a visibility model whose file holds only the pose head under ``head.``
        if any(k.startswith("head.pose_head.") for k in target_keys) and \
                not any(k.startswith("head.pose_head.") for k in renamed):
            renamed = {("head.pose_head." + k[5:] if k.startswith("head.") and
                        ("head.pose_head." + k[5:]) in target_keys else k): v
                       for k, v in renamed.items()}
    return renamed


def _listing(keys, what: str) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
    return f"{len(keys)} {what}: " + ", ".join(keys[:_MAX_LISTED]) + more


def load_state_dict_checked(model: nn.Module, state: Mapping[str, torch.Tensor],
                            source: str = "state_dict", strict: bool = True) -> None:
    """Copy ``state`` into ``model``; CheckpointError listing missing/unexpected/mismatched keys."""
    own = model.state_dict()
    state = to_mmpose_names(state, set(own))
    # BatchNorm counters only exist since torch 0.4.1: files from before keep the model's own
    missing = {k for k in set(own) - set(state) if not k.endswith(".num_batches_tracked")}
    unexpected = set(state) - set(own)
    mismatched = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if mismatched:
        problems.append(_listing(mismatched, "keys with mismatched shapes"))
    if strict and missing:
        problems.append(_listing(missing, "missing keys"))
    if strict and unexpected:
        problems.append(_listing(unexpected, "unexpected keys"))
    if problems:
        name = getattr(model, "name", None) or type(model).__name__
        raise CheckpointError(f"{source} does not fit model {name}: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in state.items():
            if k in own:
                own[k].copy_(v.to(own[k].dtype))


def load_checkpoint(model: nn.Module, path: PathLike, strict: bool = True) -> Dict[str, Any]:
    """Load weights from any supported checkpoint layout into ``model``; return its meta."""
    state, meta = read_checkpoint(path)
    load_state_dict_checked(model, state, source=str(path), strict=strict)
    return meta


def save_checkpoint(path: PathLike, state_dict: Mapping[str, torch.Tensor],
                    meta: Optional[Dict[str, Any]] = None, **extra: Any) -> Path:
    """Write ``{'state_dict', 'meta', **extra}`` atomically (temp file, fsync, rename).

    ``meta`` must be JSON-friendly (it is what makes the file self-describing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
               "meta": {"heatpose_format": FORMAT_VERSION, **(meta or {})}, **extra}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
