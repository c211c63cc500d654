"""Property-based fuzzing (hypothesis) of ``model.predict``: whatever boxes and images it is given
(degenerate, NaN, infinite, outside the image, huge, wrong shapes and dtypes), it returns finite
keypoints for every box or raises one InputError naming the bad box / image — never another
exception, never NaN in the output. A tiny ResNet-18 (random weights, 64x64 input) keeps it fast.
"""
from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from heatpose.errors import InputError

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "heatpose-hypothesis"))  # not the repo
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model():
    from heatpose.models.build import Architecture, build_estimator
    from heatpose.schema import get_schema

    torch.manual_seed(0)
    schema = get_schema("coco")
    codec = {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [8, 8], "sigma": 2}
    arch = Architecture("resnet18", 17, (8, 8), (4, 4),
                        backbone_kwargs={"stem_channels": 4, "base_channels": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # random weights: that is the point
        return build_estimator(arch, codec, schema.flip_indices, name="fuzz", schema=schema).eval()


COORD = st.one_of(st.floats(-1e4, 1e4), st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 63.0, 64.0, 1e30, 1e-30]))
BOX = st.lists(COORD, min_size=4, max_size=4)
BOXES = st.one_of(
    st.lists(BOX, min_size=0, max_size=4),
    BOX,                                                 # one box as a flat list
    st.lists(st.lists(COORD, min_size=0, max_size=5), min_size=1, max_size=2),   # ragged
    st.lists(COORD, min_size=0, max_size=6),
    st.none())


def _check(model, image, boxes):
    try:
        out = model.predict(image, boxes)
    except InputError as err:
        assert "\n" not in str(err) and str(err)
        return None
    k = model.num_keypoints
    n = len(out.keypoints)
    assert out.keypoints.shape == (n, k, 2) and out.scores.shape == (n, k)
    assert np.isfinite(out.keypoints).all() and np.isfinite(out.scores).all()
    assert len(out.bboxes) == n
    return out


@FUZZ
@given(BOXES)
def test_fuzz_predict_boxes(model, boxes):
    image = np.full((48, 64, 3), 127, np.uint8)
    out = _check(model, image, boxes)
    if out is not None and boxes is not None:
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        assert len(out.keypoints) == len(arr)
        assert np.isfinite(arr).all()                    # a NaN/inf box is never accepted


@FUZZ
@given(st.sampled_from([np.uint8, np.float32, np.int64, np.bool_]),
       st.sampled_from([(48, 64, 3), (48, 64), (48, 64, 1), (48, 64, 4), (0, 64, 3), (1, 1, 3),
                        (48, 64, 2), (2, 48, 64, 3)]))
def test_fuzz_predict_images(model, dtype, shape):
    image = np.zeros(shape, dtype)
    out = _check(model, image, [[0, 0, 10, 10]])
    if out is not None:
        assert dtype is np.uint8 and len(shape) in (2, 3) and min(shape[:2]) > 0


def test_predict_edge_boxes_give_finite_keypoints(model):
    """Boxes at the image border, sub-pixel, partly or far outside, huge: all accepted, every
    keypoint finite (the fuzz tests above would pass vacuously if nothing were accepted)."""
    image = np.full((48, 64, 3), 127, np.uint8)
    boxes = [[0, 0, 10, 10], [63, 47, 64, 48], [10, 10, 10.000001, 20], [-1e4, -1e4, 1, 1],
             [0, 0, 1e30, 1e30], [63.9, 0, 70, 1]]
    out = _check(model, image, boxes)
    assert out is not None and len(out.keypoints) == len(boxes)


def test_predict_overflowing_box_is_rejected(model):
    """A finite float32 box whose padded crop size overflows is an error, not NaN keypoints."""
    image = np.full((48, 64, 3), 127, np.uint8)
    with pytest.raises(InputError, match=r"bboxes\[0\] = .*too large"):
        model.predict(image, [[0, 0, 3.4e38, 3.4e38]])
