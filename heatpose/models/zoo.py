"""The model zoo: one named preset per row of MMPose's topdown-heatmap model-zoo tables.

A preset is the whole recipe for one published model: network (backbone, deconv layers,
keypoint count), input/heatmap sizes (w, h) in pixels, the codec in MMPose's dict form,
flip-test settings, the checkpoint URL, the published results and the training settings.
The data live as plain literals in ``zoo_<family>.py`` modules next to this file.

    >>> from heatpose.models.zoo import get_preset
    >>> p = get_preset("res50_coco_256x192")          # 0.x names, 1.x names, paths, ``.py`` ok
    >>> p.name, p.input_size, p.heatmap_size
    ('td-hm_res50_8xb64-210e_coco-256x192', (192, 256), (48, 64))
"""
from __future__ import annotations

import copy
import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from heatpose.errors import UnknownModelError

DATA_MODULES = ("zoo_coco", "zoo_ochuman", "zoo_body", "zoo_crowdpose", "zoo_posetrack", "zoo_jhmdb",
                "zoo_deepfashion", "zoo_deepfashion2_tops", "zoo_deepfashion2_dresses")
SETTINGS = ("gt_boxes", "det_boxes")
BACKBONES = ("resnet50", "resnet101", "resnet152", "hrnet_w32", "hrnet_w48")
# where the seed tables come from (file name -> MMPose doc it copies)
SEED_SOURCES = {
    "000_e93a900daeba7038.txt": "MMPose 1.x model zoo: COCO, SimpleBaseline ResNet",
    "001_9e6497a4e5423118.txt": "MMPose 0.x model zoo: SimpleBaseline ResNet (all datasets)",
    "002_2fa5e2cbd126bce3.txt": "MMPose 1.x model zoo: PoseTrack18, HRNet",
    "003_ef30819b60faf13d.txt": "MMPose 0.x model zoo: Halpe, HRNet + DARK",
    "004_1380b58fb1271d4d.txt": "MMPose 1.x model zoo: DeepFashion / DeepFashion2",
}


@dataclass(frozen=True)
class ResultRow:
    """One published result: which split, with which boxes, and the metric values as printed."""

    dataset_split: str                  # e.g. "COCO val2017", "Sub-JHMDB Sub1 test"
    setting: str                        # "gt_boxes" or "det_boxes"
    metrics: Mapping[str, float]        # header (``AP<sup>50</sup>`` -> "AP50") -> value as printed
    source: str                         # seed file the row was copied from
    checkpoint_url: str                 # exactly as the table links it
    log_url: Optional[str] = None
    detector: Optional[str] = None      # for det_boxes: which detector produced the boxes
    note: Optional[str] = None          # e.g. the PCK normalisation of a JHMDB table

    def to_dict(self) -> Dict[str, Any]:
        return {"dataset_split": self.dataset_split, "setting": self.setting, "detector": self.detector,
                "metrics": dict(self.metrics), "source": self.source, "checkpoint_url": self.checkpoint_url,
                "log_url": self.log_url, "note": self.note}


@dataclass(frozen=True)
class ModelPreset:
    """A model-zoo entry. Sizes are ``(w, h)`` in pixels; ``heatmap_size = input_size / 4``
    (``/ 8`` for the 2-deconv heads)."""

    name: str                           # MMPose 1.x config name (or a 1.x-style name for 0.x-only rows)
    aliases: Tuple[str, ...]            # MMPose 0.x config names, names as written in the tables
    dataset: str                        # keypoint schema: coco, mpii, deepfashion_upper, ...
    backbone: str                       # resnet50 | resnet101 | resnet152 | hrnet_w32 | hrnet_w48
    num_deconv: int                     # deconv layers in the head: 3, 2 or 0 (HRNet)
    num_keypoints: int
    input_size: Tuple[int, int]         # (w, h) of the network input crop
    heatmap_size: Tuple[int, int]       # (w, h) of the output heatmaps
    codec: Mapping[str, Any]            # MMPose form: {"type": "MSRAHeatmap", "input_size": [w, h], ...}
    flip_test: Mapping[str, Any]        # {"enabled", "mode", "shift_heatmap"}
    visibility_head: bool
    checkpoint_url: str
    key_metric: str                     # metric shown in listings, e.g. "AP", "PCK@0.2"
    results: Tuple[ResultRow, ...]
    training: Mapping[str, Any]
    mmpose_config: Optional[str] = None     # path under mmpose/.mim/configs, None for 0.x-only rows
    category: Optional[str] = None          # DeepFashion2 clothing category
    split: Optional[str] = None             # JHMDB split: sub1 / sub2 / sub3
    checkpoint_from: Optional[str] = None   # preset whose training run produced the checkpoint
    other_checkpoint_urls: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()

    @property
    def uses_udp(self) -> bool:
        return self.codec["type"] == "UDPHeatmap"

    @property
    def key_result(self) -> Tuple[Optional[float], ResultRow]:
        """The first published result and its key metric value."""
        first = self.results[0]
        return first.metrics.get(self.key_metric), first

    def to_dict(self) -> Dict[str, Any]:
        """All fields as JSON-friendly types (lists, dicts, str, numbers, None)."""
        return {
            "name": self.name, "aliases": list(self.aliases), "dataset": self.dataset,
            "category": self.category, "split": self.split, "mmpose_config": self.mmpose_config,
            "backbone": self.backbone, "num_deconv": self.num_deconv, "num_keypoints": self.num_keypoints,
            "input_size": list(self.input_size), "heatmap_size": list(self.heatmap_size),
            "codec": copy.deepcopy(dict(self.codec)), "flip_test": dict(self.flip_test),
            "visibility_head": self.visibility_head, "checkpoint_url": self.checkpoint_url,
            "other_checkpoint_urls": list(self.other_checkpoint_urls), "checkpoint_from": self.checkpoint_from,
            "key_metric": self.key_metric, "results": [r.to_dict() for r in self.results],
            "training": copy.deepcopy(dict(self.training)), "notes": list(self.notes),
        }


def _preset_from_literal(d: Dict[str, Any], module: str) -> ModelPreset:
    """Build a preset from a data-module dict (the codec there omits the sizes; they are added here)."""
    try:
        w, h = d["input_size"]
        hw, hh = d["heatmap_size"]
        codec = {"type": d["codec"]["type"], "input_size": [w, h], "heatmap_size": [hw, hh],
                 **{k: v for k, v in d["codec"].items() if k != "type"}}
        results = tuple(ResultRow(**r) for r in d["results"])
        return ModelPreset(
            name=d["name"], aliases=tuple(d.get("aliases", ())), dataset=d["dataset"], backbone=d["backbone"],
            num_deconv=int(d["num_deconv"]), num_keypoints=int(d["num_keypoints"]), input_size=(w, h),
            heatmap_size=(hw, hh), codec=codec, flip_test=dict(d["flip_test"]),
            visibility_head=bool(d["visibility_head"]), checkpoint_url=d["checkpoint_url"],
            key_metric=d["key_metric"], results=results, training=copy.deepcopy(d["training"]),
            mmpose_config=d.get("mmpose_config"), category=d.get("category"), split=d.get("split"),
            checkpoint_from=d.get("checkpoint_from"),
            other_checkpoint_urls=tuple(d.get("other_checkpoint_urls", ())), notes=tuple(d.get("notes", ())))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"heatpose/models/{module}.py: bad preset {d.get('name')!r}: {exc!r}") from exc


_REGISTRY: Optional[Dict[str, ModelPreset]] = None
_LOOKUP: Dict[str, str] = {}


def _registry() -> Dict[str, ModelPreset]:
    global _REGISTRY
    if _REGISTRY is None:
        presets: Dict[str, ModelPreset] = {}
        lookup: Dict[str, str] = {}
        for module in DATA_MODULES:
            mod = importlib.import_module(f"heatpose.models.{module}")
            for literal in mod.PRESETS:
                p = _preset_from_literal(literal, module)
                for key in (p.name, *p.aliases):
                    if key in lookup:
                        raise ValueError(f"heatpose/models/{module}.py: name {key!r} of {p.name!r} is already "
                                         f"used by {lookup[key]!r}")
                    lookup[key] = p.name
                presets[p.name] = p
        # checkpoint file names ("res50_coco_256x192-ec54d7f3_20200709.pth") find the preset that trained them
        # (primary URLs first: a table may link another model's checkpoint, see the presets' notes)
        owners = [p for p in presets.values() if p.checkpoint_from is None]
        for url, owner in [(p.checkpoint_url, p) for p in owners] + [
                (u, p) for p in owners for u in p.other_checkpoint_urls]:
            lookup.setdefault(url.rsplit("/", 1)[-1], owner.name)
        _LOOKUP.update(lookup)
        _REGISTRY = presets
    return _REGISTRY


def _normalise(name: str) -> str:
    key = str(name).strip().replace("\\", "/").rsplit("/", 1)[-1]
    return key[:-3] if key.endswith(".py") else key


def get_preset(name_or_alias: str) -> ModelPreset:
    """The preset for a 1.x name, a 0.x config name, a config path (``.../res50_coco_256x192.py``)
    or a checkpoint file name. Raises UnknownModelError with close matches otherwise."""
    presets = _registry()
    key = _normalise(name_or_alias)
    if key in _LOOKUP:
        return presets[_LOOKUP[key]]
    close = difflib.get_close_matches(key, list(_LOOKUP), n=5, cutoff=0.6)
    hint = ("; did you mean: " + ", ".join(close)) if close else "; run `heatpose zoo` to list the models"
    raise UnknownModelError(f"unknown model {name_or_alias!r}{hint}")


def list_presets() -> List[ModelPreset]:
    """All presets, sorted by name."""
    return [p for _, p in sorted(_registry().items())]


def list_models(filter: Optional[str] = None) -> List[str]:  # noqa: A002 (the documented argument name)
    """Sorted 1.x names; ``filter`` keeps those whose name, alias or dataset contains it (case-insensitive)."""
    needle = (filter or "").lower()
    out = []
    for p in list_presets():
        hay = [p.name, p.dataset, p.backbone, *p.aliases] + ([p.category] if p.category else [])
        if not needle or any(needle in h.lower() for h in hay):
            out.append(p.name)
    return out


def aggregate_results() -> List[Dict[str, Any]]:
    """Table rows that summarise several presets (the JHMDB 'Average' rows), as plain dicts."""
    from heatpose.models import zoo_jhmdb
    return copy.deepcopy(zoo_jhmdb.AGGREGATES)
