"""The inputs of the COCO keypoint evaluation, checked and flattened into arrays.

Every record the evaluation uses must be well formed; the first bad one raises
:class:`~heatpose.errors.InputError` naming the file and the record, as
``<file>: annotation #<index> (id <id>): ...`` or ``<file>: result #<index> (image_id <id>): ...``
(index = position in the file's list, 0-based). Nothing is repaired silently:

- annotation file: ``images`` and ``annotations`` lists; every image has an ``id``; every
  annotation an ``image_id`` naming an image of the file. Annotations of a listed category
  (the ones evaluated) need ``keypoints`` (K x 3 finite numbers), ``bbox`` (4 finite numbers),
  ``area`` (finite; with ``use_area``) and ``num_keypoints`` (CrowdPose).
- results: a list of objects with ``image_id`` (an image of the annotation file), ``keypoints``
  (K x 3 finite numbers), ``score`` (finite) and, when the first result has a ``bbox``
  (xtcocotools then takes the area from the boxes), ``bbox`` (4 finite numbers).

What stays as xtcocotools does it: annotations and results of categories the file does not list
are not evaluated, results whose keypoint scores are all <= 0 are dropped.
"""
from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any, Callable, List, Sequence, Tuple, Union

import numpy as np

from heatpose.data.readers.record import load_json
from heatpose.errors import InputError
from heatpose.evaluation.finite import nonfinite_rows

GtLike = Union[dict, str, Path]
_NUMBER_ERRORS = (TypeError, ValueError, OverflowError)


def load_coco_gt(gt: GtLike) -> Tuple[dict, str]:
    """Return ``(dataset_dict, source_name)`` for a COCO dict or a path to a COCO JSON file."""
    if isinstance(gt, (str, Path)):
        data = load_json(gt, "annotation file")
        name = str(gt)
    else:
        data, name = gt, "annotations"
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise InputError(f"{name}: not a COCO annotation file (needs 'images' and 'annotations')")
    if not isinstance(data["images"], list) or not isinstance(data["annotations"], list):
        raise InputError(f"{name}: 'images' and 'annotations' must be lists")
    return data, name


Label = Callable[[int], str]


def column(recs: Sequence[Any], key: str, name: str, label: Label, default: Any = None,
           required: bool = True) -> list:
    """``[rec[key] for rec in recs]``; the first record that is not an object or lacks a
    required key raises InputError naming it."""
    try:
        if required:
            return [r[key] for r in recs]
        return [r.get(key, default) for r in recs]
    except (KeyError, TypeError, AttributeError, IndexError):
        pass
    for i, r in enumerate(recs):
        if not isinstance(r, dict):
            raise InputError(f"{name}: {label(i)} is not a JSON object")
        if required and key not in r:
            raise InputError(f"{name}: {label(i)} has no '{key}'")
    raise AssertionError("unreachable")        # pragma: no cover


def numbers(values: Sequence[Any], length: int, name: str, label: Label, key: str
            ) -> np.ndarray:
    """(N, length) float64 from N JSON lists of ``length`` numbers (``length`` 0: N scalars,
    returned as (N,)); the first record that is not such a list or holds NaN/infinity raises
    InputError naming it."""
    shape = (len(values), length) if length else (len(values),)
    try:
        if length and all(type(v) is list and len(v) == length for v in values):
            # flat lists of the right length (the usual case): twice as fast as np.array
            arr = np.fromiter(chain.from_iterable(values), np.float64,
                              count=len(values) * length).reshape(shape)
        else:
            arr = np.array(values, dtype=np.float64)
        ok = arr.shape == shape
    except _NUMBER_ERRORS:
        ok = False
    if not ok:
        rows = []
        for i, v in enumerate(values):
            try:
                a = np.asarray(v, dtype=np.float64).reshape(-1)
            except _NUMBER_ERRORS:
                raise InputError(f"{name}: {label(i)}: '{key}' is not "
                                 f"{'a list of numbers' if length else 'a number'}") from None
            if a.size != max(length, 1) or (not length and np.ndim(v) != 0):
                want = f"{length} values" if length else "one number"
                raise InputError(f"{name}: {label(i)}: '{key}' has {a.size} values, "
                                 f"expected {want}")
            rows.append(a if length else a[0])
        arr = np.array(rows, dtype=np.float64).reshape(shape)
    bad = nonfinite_rows(arr, len(values))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name}: {label(i)}: '{key}' holds NaN or infinity")
    return arr


def image_ranks(ids: List[Any], name: str, what: str) -> Tuple[list, dict]:
    """Sorted unique image ids and ``{id: rank}``; unhashable or unorderable ids -> InputError."""
    try:
        img_ids = sorted(set(ids))
    except TypeError:
        raise InputError(f"{name}: {what} ids must all be numbers (or all strings)") from None
    return img_ids, {img: i for i, img in enumerate(img_ids)}


def indices(keys: List[Any], table: dict) -> np.ndarray:
    """``table[key]`` for each key as an int64 array, -1 where it is absent (or unhashable)."""
    try:
        return np.array([table.get(k, -1) for k in keys], dtype=np.int64)
    except TypeError:                                    # an unhashable key (a list, a dict)
        return np.array([table.get(k, -1) if isinstance(k, (int, float, str)) else -1
                         for k in keys], dtype=np.int64)


def lookup(keys: List[Any], table: dict, name: str, label: Label, message: str) -> np.ndarray:
    """:func:`indices`; the first missing key -> InputError."""
    out = indices(keys, table)
    missing = out < 0
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(f"{name}: {label(i)}: image_id {keys[i]!r} {message}")
    return out


def annotation_label(anns: Sequence[Any]) -> Label:
    """``annotation #i (id N)`` for messages about annotation ``i`` (any JSON value)."""
    def label(i: int) -> str:
        a = anns[i]
        return f"annotation #{i} (id {a.get('id', '?') if isinstance(a, dict) else '?'})"
    return label


def result_label(results: Sequence[Any]) -> Label:
    """``result #i (image_id N)`` for messages about result ``i`` (any JSON value)."""
    def label(i: int) -> str:
        r = results[i]
        return f"result #{i} (image_id {r.get('image_id', '?')!r})" if isinstance(
            r, dict) else f"result #{i}"
    return label


class GtArrays:
    """Ground truth of the listed categories as arrays, rows ordered by (category, image id,
    file order). ``kpts`` (N, K, 3) pixels; ``bbox`` (N, 4) xywh pixels; ``area`` (N,) the OKS
    denominator; ``range_area`` (N,) the area compared with the medium/large ranges;
    ``ignore`` crowd or unlabelled; ``rank`` (N,) image rank; ``cat`` (N,) category index."""

    def __init__(self, data: dict, name: str, num_kpts: int, iou_type: str, use_area: bool):
        images, anns = data["images"], data["annotations"]
        self.name = name
        img_label: Label = lambda i: f"image #{i}"                          # noqa: E731
        self.img_ids, rank = image_ranks(column(images, "id", name, img_label), name, "image")
        self.rank_of = rank
        self.images = [None] * len(self.img_ids)
        for im in images:
            self.images[rank[im["id"]]] = im
        cats = data.get("categories") or []
        self.cat_ids, self.cat_of = image_ranks(
            column(cats, "id", name, lambda i: f"category #{i}"), name, "category")

        all_label = annotation_label(anns)
        ann_rank = lookup(column(anns, "image_id", name, all_label), rank, name, all_label,
                          "is not an image of the file")
        cat = indices(column(anns, "category_id", name, all_label, required=False), self.cat_of)
        keep = np.flatnonzero(cat >= 0)
        order = keep[np.lexsort((keep, ann_rank[keep], cat[keep]))]
        rows = [anns[i] for i in order]
        label: Label = lambda i: all_label(int(order[i]))                   # noqa: E731
        self.rank, self.cat = ann_rank[order], cat[order]
        n = len(rows)
        self.kpts = numbers(column(rows, "keypoints", name, label), num_kpts * 3, name, label,
                            "keypoints").reshape(n, num_kpts, 3)
        self.bbox = numbers(column(rows, "bbox", name, label), 4, name, label, "bbox")
        crowd = column(rows, "iscrowd", name, label, 0, required=False)
        try:
            self.iscrowd = np.array(crowd, dtype=bool).reshape(n)
        except (TypeError, ValueError):
            self.iscrowd = np.array([bool(c) for c in crowd], dtype=bool)
        if iou_type == "keypoints_crowd":
            labelled = numbers(column(rows, "num_keypoints", name, label), 0, name, label,
                               "num_keypoints")
        else:
            labelled = np.count_nonzero(self.kpts[:, :, 2] > 0, axis=1)
        self.ignore = self.iscrowd | (labelled == 0)
        if use_area:
            try:
                areas = [r["area"] for r in rows]
            except KeyError:
                first = next(i for i, r in enumerate(rows) if "area" not in r)
                raise InputError(f"{name}: {label(first)} has no 'area' "
                                 "(evaluate with use_area=False)") from None
            self.area = numbers(areas, 0, name, label, "area")
            self.range_area = self.area
        else:
            self.area = self.bbox[:, 2] * self.bbox[:, 3] * 0.53
            self.range_area = self.area


class DtArrays:
    """Results as arrays, in result order (xtcocotools numbers them 1..N): ``kpts`` (N, K, 3),
    ``score`` (N,), ``area`` (N,) (box w·h when the first result has a box, else the keypoint
    extent), ``rank`` (N,) image rank, ``cat`` (N,) category index (-1: not evaluated)."""

    def __init__(self, results: Sequence[Any], gt: GtArrays, num_kpts: int, name: str):
        if not isinstance(results, (list, tuple)):
            raise InputError(f"{name}: results must be a list of objects")

        label = result_label(results)
        self.rank = lookup(column(results, "image_id", name, label), gt.rank_of, name, label,
                           "is not an image of the annotation file")
        n = len(results)
        self.cat = indices(column(results, "category_id", name, label, 1, required=False),
                           gt.cat_of)
        self.kpts = numbers(column(results, "keypoints", name, label), num_kpts * 3, name, label,
                            "keypoints").reshape(n, num_kpts, 3)
        self.score = numbers(column(results, "score", name, label), 0, name, label, "score")
        first_box = results[0].get("bbox") if n else None
        if first_box is not None and not (isinstance(first_box, (list, tuple))
                                          and len(first_box) == 0):     # xtcocotools' rule
            box = numbers(column(results, "bbox", name, label), 4, name, label, "bbox")
            self.area = box[:, 2] * box[:, 3]
        else:
            x, y = self.kpts[:, :, 0], self.kpts[:, :, 1]
            self.area = ((x.max(1) - x.min(1)) * (y.max(1) - y.min(1)) if n else np.zeros(0))
