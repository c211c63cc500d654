"""Keypoint schemas: what each output channel of a model means.

``get_schema("coco")`` gives a built-in schema (equal to MMPose 1.3.2's dataset metainfo),
``load_schema(path)`` reads a user's JSON/YAML file, ``schema_for_dataset("coco-aic")`` maps
a model-zoo dataset name to its schema.
"""
from __future__ import annotations

import importlib
import re
from typing import Dict, List, Tuple

from heatpose.errors import InputError
from heatpose.schema.base import KeypointSchema
from heatpose.schema.parse import load_schema

__all__ = ["KeypointSchema", "get_schema", "list_schemas", "load_schema", "schema_for_dataset"]

# schema name -> (module under heatpose.schema, attribute); modules are imported on demand
_BUILTIN: Dict[str, Tuple[str, str]] = {
    "coco": ("coco", "COCO"),
    "ochuman": ("coco", "OCHUMAN"),
    "humanart": ("coco", "HUMANART"),
    "coco_aic": ("coco", "COCO_AIC"),
    "coco_wholebody": ("coco_wholebody", "COCO_WHOLEBODY"),
    "ubody2d": ("coco_wholebody", "UBODY2D"),
    "aic": ("aic", "AIC"),
    "mhp": ("mpii", "MHP"),
    "mpii": ("mpii", "MPII"),
    "mpii_trb": ("mpii_trb", "MPII_TRB"),
    "crowdpose": ("crowdpose", "CROWDPOSE"),
    "exlpose": ("exlpose", "EXLPOSE"),
    "posetrack18": ("posetrack18", "POSETRACK18"),
    "jhmdb": ("jhmdb", "JHMDB"),
    "halpe": ("halpe", "HALPE"),
    "deepfashion_upper": ("deepfashion", "DEEPFASHION_UPPER"),
    "deepfashion_lower": ("deepfashion", "DEEPFASHION_LOWER"),
    "deepfashion_full": ("deepfashion", "DEEPFASHION_FULL"),
    "deepfashion2": ("deepfashion2", "DEEPFASHION2"),
}


def list_schemas() -> List[str]:
    """Names accepted by :func:`get_schema`, sorted."""
    return sorted(_BUILTIN)


def _builtin(key: str) -> KeypointSchema:
    module, attr = _BUILTIN[key]
    return getattr(importlib.import_module(f"heatpose.schema.{module}"), attr)


def get_schema(name: str) -> KeypointSchema:
    """The built-in schema called ``name`` (see :func:`list_schemas`); model-zoo dataset
    names that :func:`schema_for_dataset` knows (``coco-aic``, ``jhmdb-sub1``...) also work.

    Raises InputError listing the known names when ``name`` is unknown."""
    key = str(name).strip().lower().replace("-", "_")
    if key in _BUILTIN:
        return _builtin(key)
    try:
        return schema_for_dataset(name)
    except InputError:
        pass
    raise InputError(f"unknown keypoint schema {name!r}; known schemas: "
                     f"{', '.join(list_schemas())} (or pass a JSON/YAML schema file)")


DEEPFASHION2_CATEGORIES = (
    "short_sleeved_shirt", "long_sleeved_shirt", "short_sleeved_outwear",
    "long_sleeved_outwear", "vest", "sling", "shorts", "trousers", "skirt",
    "short_sleeved_dress", "long_sleeved_dress", "vest_dress", "sling_dress")

# model-zoo dataset name (after normalisation: lower case, '_' -> '-', input size removed)
# -> schema. Combined COCO+AIC models come in two kinds: "merge" (and plain "coco-aic")
# models predict COCO's 17 keypoints; "combine" and cspnext's "aic-coco" models have 19
# output channels (COCO + AIC's head_top and neck) of which COCO's 17 are reported.
_DATASET_ALIASES: Dict[str, str] = {
    "coco": "coco",
    "coco-aic": "coco",
    "coco-aic-merge": "coco",
    "coco-aic-combine": "coco_aic",
    "aic-coco": "coco_aic",
    "ochuman": "ochuman",
    "coco-wholebody": "coco_wholebody",
    "ubody": "ubody2d",
    "ubody2d": "ubody2d",
    "humanart": "humanart",
    "human-art": "humanart",
    "aic": "aic",
    "mhp": "mhp",
    "mpii": "mpii",
    "mpii-trb": "mpii_trb",
    "crowdpose": "crowdpose",
    "crowpose": "crowdpose",   # upstream config-name typo (cspnext-m_udp_..._crowpose-256x192)
    "exlpose": "exlpose",
    "posetrack18": "posetrack18",
    "jhmdb": "jhmdb",
    "halpe": "halpe",
    "deepfashion-upper": "deepfashion_upper",
    "deepfashion-lower": "deepfashion_lower",
    "deepfashion-full": "deepfashion_full",
    "deepfashion2": "deepfashion2",
}


def _normalise_dataset(dataset: str) -> str:
    d = str(dataset).strip().lower()
    if d.endswith(".py"):
        d = d[:-3]
    # a full MMPose config name: the dataset follows the schedule field "8xb64-210e_"
    m = re.search(r"\d+xb\d+-\d+e_", d)
    if m:
        d = d[m.end():]
    d = d.replace("_", "-")
    d = re.sub(r"-\d+x\d+", "", d)                       # input size: -256x192
    return d.replace("deepfasion2", "deepfashion2")       # upstream spelling in config names


def schema_for_dataset(dataset: str) -> KeypointSchema:
    """The schema of a model-zoo dataset name.

    Accepts the dataset part of a zoo / MMPose config name, with or without input size:
    ``coco``, ``coco-aic`` (-> coco), ``coco-aic-combine`` / ``aic-coco`` (-> coco_aic, 19
    channels), ``ochuman`` (COCO keypoints), ``jhmdb-sub1``, ``deepfashion_upper``,
    ``deepfasion2-short-sleeved-shirt`` / ``deepfashion2_vest_dress`` (-> deepfashion2), a
    full config name such as ``td-hm_res50_8xb64-210e_coco-256x192``, or any built-in
    schema name. Raises InputError for names it does not know."""
    d = _normalise_dataset(dataset)
    if d in _DATASET_ALIASES:
        return _builtin(_DATASET_ALIASES[d])
    if re.fullmatch(r"jhmdb-sub[123]", d):
        return _builtin("jhmdb")
    if d.startswith("deepfashion2-"):
        category = d[len("deepfashion2-"):].replace("-", "_")
        if category not in DEEPFASHION2_CATEGORIES:
            raise InputError(f"unknown DeepFashion2 category {category!r} in dataset "
                             f"{dataset!r}; known: {', '.join(DEEPFASHION2_CATEGORIES)}")
        return _builtin("deepfashion2")
    if d.replace("-", "_") in _BUILTIN:
        return _builtin(d.replace("-", "_"))
    raise InputError(f"no keypoint schema for dataset {dataset!r}; known datasets: "
                     f"{', '.join(sorted(_DATASET_ALIASES))}, jhmdb-sub1..3, "
                     f"deepfashion2-<category>")
