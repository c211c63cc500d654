"""The model zoo: the recipes of :mod:`heatpose.recipes` under their historical names.

``get_preset``/``list_presets``/``list_models`` are kept for callers; a preset *is* a
:class:`~heatpose.recipes.Recipe` (``ModelPreset`` is an alias of that class).

    >>> from heatpose.models.zoo import get_preset
    >>> get_preset("res50_coco_256x192").name
    'td-hm_res50_8xb64-210e_coco-256x192'
"""
from __future__ import annotations

from heatpose.recipes import Recipe as ModelPreset
from heatpose.recipes import ResultRow, aggregate_results
from heatpose.recipes import get_recipe as get_preset
from heatpose.recipes import list_names as list_models
from heatpose.recipes import list_recipes as list_presets

__all__ = ["ModelPreset", "ResultRow", "aggregate_results", "get_preset", "list_models", "list_presets"]
