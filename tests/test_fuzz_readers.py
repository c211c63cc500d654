"""Property-based fuzzing (hypothesis) of the annotation readers and the detection-file reader:
whatever a file holds, a reader either returns well-formed records or raises one InputError
naming the file (never another exception, never NaN in a record).

Mutations start from small valid files and replace, delete or add fields with arbitrary JSON
values (NaN, infinity, huge integers, strings, nested lists and objects). Example counts are
bounded and derandomized so that the run is fast and repeatable; nothing is written into the
repository (no example database)."""
from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from heatpose.data.readers import (read_coco_style, read_detections, read_mpii, read_mpii_trb)
from heatpose.data.readers.record import SkippedRecordsWarning
from heatpose.errors import InputError

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "heatpose-hypothesis"))  # not the repo
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4))
JSON = st.recursive(SCALARS, lambda c: st.lists(c, max_size=5)
                    | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=12)
# number lists of a near-right length holding special values
NUMBERS = st.lists(st.one_of(st.floats(-1e3, 1e3), st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), -1.0, 0.0, 1e30])), min_size=0, max_size=60)
VALUES = st.one_of(JSON, NUMBERS)


def _mutations(fields):
    """(record kind, record index, field, new value or None = delete) lists."""
    return st.lists(st.tuples(st.sampled_from(sorted(fields)), st.integers(0, 2),
                              st.one_of(st.sampled_from(sorted({f for v in fields.values()
                                                               for f in v})),
                                        st.text(max_size=3)),
                              st.one_of(st.none(), VALUES)), min_size=1, max_size=3)


def _apply(data, muts, where):
    data = copy.deepcopy(data)
    for kind, idx, key, value in muts:
        recs = where(data, kind)
        if not isinstance(recs, list) or not recs:
            continue
        rec = recs[idx % len(recs)]
        if not isinstance(rec, dict):
            continue
        if value is None:
            rec.pop(key, None)
        else:
            rec[key] = value
    return data


def _read(fn, data, *args):
    """Write ``data`` (NaN allowed, as Python's json writes it), run the reader; return its
    records, or None after checking the one-line InputError names the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ann.json")
        with open(path, "w") as f:
            json.dump(data, f)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SkippedRecordsWarning)
                return fn(path, *args)
        except InputError as err:
            msg = str(err)
            assert path in msg and "\n" not in msg, msg
            return None


def _check_records(recs, k):
    for r in recs:
        assert r.bbox.shape == (4,) and np.isfinite(r.bbox).all()
        assert r.keypoints.shape == (k, 2) and np.isfinite(r.keypoints).all()
        assert r.keypoints_visible.shape == (k,) and np.isfinite(r.keypoints_visible).all()
        assert r.area is None or np.isfinite(r.area)
        assert isinstance(r.img_path, str)


COCO = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64}],
        "annotations": [{"id": 7, "image_id": 1, "bbox": [10, 10, 30, 40], "category_id": 1,
                         "keypoints": [20, 20, 2] * 17, "num_keypoints": 17, "iscrowd": 0,
                         "area": 900.0},
                        {"id": 8, "image_id": 2, "bbox": [0, 0, 10, 10], "category_id": 1,
                         "keypoints": [5, 5, 1] * 17, "num_keypoints": 17, "iscrowd": 0},
                        {"id": 9, "image_id": 1, "bbox": [50, 5, 20, 20], "category_id": 1,
                         "keypoints": [0, 0, 0] * 17, "num_keypoints": 0, "iscrowd": 1}],
        "categories": [{"id": 1, "name": "person"}]}
COCO_FIELDS = {"images": ["id", "file_name", "width", "height"],
               "annotations": ["id", "image_id", "bbox", "keypoints", "category_id",
                               "num_keypoints", "iscrowd", "area"], "top": ["images"]}


def _coco_where(data, kind):
    return [data] if kind == "top" else data.get(kind)


@FUZZ
@given(_mutations(COCO_FIELDS))
def test_fuzz_coco_style_reader(muts):
    recs = _read(read_coco_style, _apply(COCO, muts, _coco_where), "", 17)
    if recs is not None:
        _check_records(recs, 17)
        for r in recs:                                   # boxes are clipped into the image
            h, w = r.img_shape
            assert 0 <= r.bbox[0] <= r.bbox[2] or r.bbox[2] < r.bbox[0]
            assert r.bbox[2] <= w - 1 and r.bbox[3] <= h - 1


MPII = [{"image": "001.jpg", "center": [50, 60], "scale": 1.2, "joints": [[10, 20]] * 16,
         "joints_vis": [1] * 16},
        {"image": "002.jpg", "center": [-1, -1], "scale": 0.5, "joints": [[-1, -1]] * 16,
         "joints_vis": [0] * 16}]
MPII_FIELDS = {"ann": ["image", "center", "scale", "joints", "joints_vis", "category_id"]}


@FUZZ
@given(_mutations(MPII_FIELDS))
def test_fuzz_mpii_reader(muts):
    recs = _read(read_mpii, _apply(MPII, muts, lambda d, kind: d), "", 16)
    if recs is not None:
        _check_records(recs, 16)
        assert all((r.bbox_scale > 0).all() for r in recs)


TRB = {"images": [{"id": 3, "file_name": "c.jpg"}],
       "annotations": [{"id": 1, "image_id": 3, "center": [30, 40], "scale": 1.0,
                        "keypoints": [5, 6, 2] * 40, "num_joints": 40, "iscrowd": 0,
                        "headbox": [1, 2, 30, 40]}]}
TRB_FIELDS = {"images": ["id", "file_name"],
              "annotations": ["id", "image_id", "center", "scale", "keypoints", "num_joints",
                              "iscrowd", "headbox", "category_id"]}


@FUZZ
@given(_mutations(TRB_FIELDS))
def test_fuzz_mpii_trb_reader(muts):
    recs = _read(read_mpii_trb, _apply(TRB, muts, _coco_where), "", 40)
    if recs is not None:
        _check_records(recs, 40)


DETS = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 40], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.2},
        {"image_id": 1, "category_id": 2, "bbox": [1, 1, 3, 3], "score": 0.5}]
DET_FIELDS = {"det": ["image_id", "category_id", "bbox", "score"]}


@FUZZ
@given(_mutations(DET_FIELDS), st.sampled_from([0.0, 0.3]))
def test_fuzz_detection_file_reader(muts, thr):
    dets = _apply(DETS, muts, lambda d, kind: d)
    with tempfile.TemporaryDirectory() as tmp:
        ann = os.path.join(tmp, "gt.json")
        with open(ann, "w") as f:
            json.dump(COCO, f)
        recs = _read(read_detections, dets, ann, 17, "", thr)
    if recs is not None:
        _check_records(recs, 17)
        assert all(r.bbox[2] > r.bbox[0] or r.bbox[3] > r.bbox[1] for r in recs)
        assert all(r.bbox[2] >= r.bbox[0] and r.bbox[3] >= r.bbox[1] for r in recs)
        assert all(np.isfinite(r.bbox_score) and r.bbox_score >= thr for r in recs)
        ids = [r.ann_id for r in recs]
        assert ids == sorted(set(ids))


@pytest.mark.parametrize("text", ["", "[", "{\"images\": 5, \"annotations\": []}", "null",
                                  "\ufeff{}", "[1, 2, 3]", "{\"a\": NaN}"])
def test_garbage_files_are_one_line_errors(text, tmp_path):
    path = tmp_path / "ann.json"
    path.write_text(text, encoding="utf-8")
    for fn, args in ((read_coco_style, ("", 17)), (read_mpii, ("", 16)),
                     (read_mpii_trb, ("", 40))):
        with pytest.raises(InputError, match="ann.json"):
            fn(path, *args)


def _encoded_images():
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    return [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".bmp")]


@FUZZ
@given(st.integers(0, 2), st.integers(0, 400), st.binary(max_size=64), st.booleans())
def test_fuzz_read_image(kind, cut, junk, truncate):
    """Truncated, spliced or random bytes: a BGR uint8 image or one InputError naming it."""
    from heatpose.data.images import read_image

    data = _encoded_images()[kind]
    data = data[:cut] if truncate else data[:cut] + junk + data[cut + len(junk):]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.png")
        with open(path, "wb") as f:
            f.write(data)
        try:
            img = read_image(path, "record 3")
        except InputError as err:
            assert path in str(err) and "record 3" in str(err)
            return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
