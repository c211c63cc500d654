"""heatpose.data.converter equals MMPose 1.3.2's KeypointConverter on real annotations, with the
mappings of the COCO+AIC recipes (fixture: tools/dump_mmpose_converter.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heatpose.data.converter import KeypointConverter, converter_from_mapping
from heatpose.data.readers import read_dataset
from heatpose.errors import InputError
from heatpose.recipes import get_recipe

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "mmpose_keypoint_converter.json").read_text())
READER = {"AicDataset": "aic", "CocoDataset": "coco"}


@pytest.mark.parametrize("case", sorted(FIXTURE))
def test_converter_equals_mmpose(case, data_dir):
    ref = FIXTURE[case]
    recipe = get_recipe(ref["config"])
    sets = recipe.train.datasets
    assert ref["mapping"] in [d["keypoint_converter"]["mapping"] for d in sets if d.get("keypoint_converter")]
    conv = converter_from_mapping(ref["num_keypoints"], ref["mapping"])
    ann = data_dir / "mmpose_tests" / ref["ann_file"]
    records = read_dataset(READER[ref["dataset"]], str(ann), filter_invalid=False)
    by_id = {r.ann_id: r for r in records}
    assert len(ref["instances"]) >= 2 and {i["ann_id"] for i in ref["instances"]} <= set(by_id)
    for inst in ref["instances"]:
        out = conv.convert_record(by_id[inst["ann_id"]])
        want_vis = np.asarray(inst["keypoints_visible"])
        np.testing.assert_allclose(out.keypoints, inst["keypoints"], atol=1e-3)
        np.testing.assert_array_equal(out.keypoints_visible, want_vis[:, 0])
        np.testing.assert_array_equal(out.extras["keypoints_visible_weights"], want_vis[:, 1])


def test_paired_sources_average_and_bad_mappings_fail():
    k = np.arange(12, dtype=np.float64).reshape(1, 6, 2)
    vis = np.array([[1, 1, 0, 1, 1, 1]], np.float64)
    kpts, v, w = KeypointConverter(3, ([[0, 1], 0], [2, 1]))(k, vis)
    np.testing.assert_array_equal(kpts[0], [[1, 2], [4, 5], [0, 0]])
    np.testing.assert_array_equal(v[0], [1, 0, 0]) and np.testing.assert_array_equal(w[0], [1, 1, 0])
    assert converter_from_mapping(3, [[3, 2]])(k, vis)[0][0, 2].tolist() == [6, 7]
    with pytest.raises(InputError, match="target 5 outside"):
        KeypointConverter(3, ([0, 5],))
    with pytest.raises(InputError, match="annotation has 6 keypoints"):
        KeypointConverter(3, ([9, 0],))(k, vis)
