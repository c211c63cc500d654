"""Starting weights of a training run, loaded the way MMPose 1.3.2 loads them.

* ``model.pretrained_backbone`` (the backbone's ``init_cfg=dict(type='Pretrained',
  checkpoint=..., prefix=...)``): mmengine's ``PretrainedInit`` loads the file into the
  *backbone* with ``strict=False``: the file's state_dict (its ``state_dict`` entry if it has
  one), ``module.`` stripped from each key, and with ``prefix`` only the keys starting with it,
  the prefix removed. So torchvision's ``conv1.weight``, ``layer1.0.conv1.weight`` become
  ``backbone.conv1.weight``... and ``fc.*`` is unused; HRNet ImageNet files likewise.
* ``model.init_checkpoint`` (MMPose ``load_from``): the whole model, ``strict=False``, with the
  0.x -> 1.x name conversion MMPose's load hooks do (:func:`heatpose.models.checkpoints.
  to_mmpose_names`).

Keys whose shapes differ are skipped (mmengine warns and skips them too). Each load returns a
:class:`LoadReport` (matched / missing / unused / mis-shaped keys); a file that fits less than
:data:`MIN_MATCHED` of the target's tensors is an error, not a silent no-op. URLs are fetched
with :func:`heatpose.inference.download.download` (cache, hash check, offline message).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import torch
from torch import nn

from heatpose.errors import CheckpointError

MIN_MATCHED = 0.5      # share of the target's tensors a file must fill
_COUNTER = "num_batches_tracked"


@dataclass
class LoadReport:
    """What a weight file filled. Key names are relative to the loaded module."""

    source: str
    target: str                      # "backbone" or "model"
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)      # in the module, not in the file
    unused: List[str] = field(default_factory=list)       # in the file, not in the module
    mis_shaped: List[str] = field(default_factory=list)   # "key (file s1, model s2)"
    total: int = 0                   # the module's tensors (BN counters not counted)

    def summary(self) -> str:
        """One line: ``<source> -> backbone: 318/320 tensors loaded; 2 missing: ...``."""
        def listing(keys: List[str], what: str) -> str:
            shown = ", ".join(keys[:5]) + (f" ... (+{len(keys) - 5})" if len(keys) > 5 else "")
            return f"; {len(keys)} {what}: {shown}" if keys else ""
        return (f"{self.source} -> {self.target}: {len(self.matched)}/{self.total} tensors "
                f"loaded" + listing(self.missing, "not in the file")
                + listing(self.unused, "in the file but unused")
                + listing(self.mis_shaped, "with other shapes (skipped)"))


def fetch_weights(source: str, key: str) -> str:
    """Local path of ``source`` (path or URL; URLs go through the download cache). In a
    distributed run rank 0 downloads first, the others then find the cached file."""
    from heatpose.engine.distributed import env_dist_info
    from heatpose.errors import DownloadError
    from heatpose.inference.download import download

    dist = torch.distributed.is_available() and torch.distributed.is_initialized()
    try:
        if dist and torch.distributed.get_rank() != 0:
            torch.distributed.barrier()
        try:
            return str(download(str(source), progress=env_dist_info().is_main))
        except DownloadError as exc:
            raise DownloadError(f"{key}: {exc}") from None
    finally:
        if dist and torch.distributed.get_rank() == 0:
            torch.distributed.barrier()


def select_prefix(state: Mapping[str, torch.Tensor], prefix: Optional[str]
                  ) -> Dict[str, torch.Tensor]:
    """mmengine's key handling: drop ``module.`` from each key; with ``prefix`` keep only the
    keys starting with it, without it (CheckpointError if none does)."""
    out = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    if not prefix:
        return out
    prefix = prefix if prefix.endswith(".") else prefix + "."
    out = {k[len(prefix):]: v for k, v in out.items() if k.startswith(prefix)}
    if not out:
        raise CheckpointError(f"no key of the file starts with the prefix {prefix!r}")
    return out


def load_matching(module: nn.Module, state: Mapping[str, torch.Tensor], source: str,
                  target: str, key: str = "the weights") -> LoadReport:
    """Copy the tensors of ``state`` whose names and shapes fit ``module`` (``strict=False``);
    CheckpointError when fewer than :data:`MIN_MATCHED` of the module's tensors are filled."""
    own = module.state_dict()
    counted = [k for k in own if not k.endswith(_COUNTER)]
    report = LoadReport(source=source, target=target, total=len(counted))
    with torch.no_grad():
        for k, v in state.items():
            if k not in own:
                report.unused.append(k)
            elif tuple(v.shape) != tuple(own[k].shape):
                report.mis_shaped.append(f"{k} (file {tuple(v.shape)}, model "
                                         f"{tuple(own[k].shape)})")
            else:
                own[k].copy_(v.to(own[k].dtype))
                if not k.endswith(_COUNTER):
                    report.matched.append(k)
    report.missing = [k for k in counted if k not in state]
    if len(report.matched) < MIN_MATCHED * max(report.total, 1):
        raise CheckpointError(
            f"{source} does not fit the {target}: only {len(report.matched)} of its "
            f"{report.total} tensors have a same-named, same-shaped entry in the file "
            f"({len(state)} entries, e.g. {', '.join(list(state)[:3])}; {target} keys look "
            f"like {', '.join(counted[:3])}). Is it the right file? (set {key}=null to start from "
            "random weights)")
    return report


def load_pretrained_backbone(model: nn.Module, source: str, prefix: Optional[str] = None,
                             key: str = "model.pretrained_backbone") -> LoadReport:
    """Load ``source`` into ``model.backbone`` as MMPose's ``init_cfg`` Pretrained does."""
    from heatpose.models.checkpoints import read_checkpoint

    path = fetch_weights(source, key)
    state, _ = read_checkpoint(path)
    try:
        state = select_prefix(state, prefix)
    except CheckpointError as exc:
        raise CheckpointError(f"{path} ({key}): {exc}") from None
    return load_matching(model.backbone, state, path, "backbone", key)


def load_init_checkpoint(model: nn.Module, source: str,
                         key: str = "model.init_checkpoint") -> LoadReport:
    """Load ``source`` into the whole model as MMPose's ``load_from`` (``strict=False``)."""
    from heatpose.models.checkpoints import read_checkpoint, to_mmpose_names

    path = fetch_weights(source, key)
    state, _ = read_checkpoint(path)
    state = to_mmpose_names(select_prefix(state, None), set(model.state_dict()))
    return load_matching(model, state, path, "model", key)
