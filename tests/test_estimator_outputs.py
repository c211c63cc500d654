"""MMPose's test_cfg ``output_keypoint_indices`` (the COCO+AIC 'combine' recipes report COCO's 17
of their 19 keypoints): predictions of every path (``model.predict``, the ONNX Runtime backend,
an exported file, Pipeline) hold the selected keypoints, scores and heatmaps exactly as MMPose
1.3.2's ``inference_topdown`` returns them (tests/fixtures/mmpose_output_keypoints.json, written
by tools/dump_output_keypoints.py with the peer); drawing, names, flips and sigmas follow the
output keypoints; checkpoints and ONNX files keep the setting."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from heatpose.errors import CheckpointError
from heatpose.models.build import Architecture, build_estimator, load_model, save_model
from heatpose.schema import get_schema

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests/fixtures/mmpose_output_keypoints.json").read_text())


def _tool():
    spec = importlib.util.spec_from_file_location("dump_output_keypoints",
                                                  ROOT / "tools/dump_output_keypoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model():
    """The fixture's network and weights, with its output_keypoint_indices."""
    net = FIXTURE["network"]
    schema = get_schema("coco_aic")
    arch = Architecture(f"resnet{net['depth']}", net["num_keypoints"], tuple(net["deconv"]),
                        (4,) * len(net["deconv"]),
                        backbone_kwargs={"stem_channels": net["stem_channels"],
                                         "base_channels": net["base_channels"]})
    m = build_estimator(arch, FIXTURE["codec"], schema.flip_indices, name="tiny-combine",
                        schema=schema, output_keypoint_indices=FIXTURE["output_keypoint_indices"])
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    m.load_state_dict({k: torch.from_numpy(v) for k, v in _tool().fixed_weights(shapes).items()})
    return m.eval()


@pytest.fixture(scope="module")
def image(data_dir):
    return cv2.imread(str(data_dir / "images" / FIXTURE["image"]))


def _check_mmpose(result):
    keep = FIXTURE["output_keypoint_indices"]
    assert result.keypoints.shape == (len(FIXTURE["boxes_xyxy"]), len(keep), 2)
    np.testing.assert_allclose(result.keypoints, FIXTURE["keypoints"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(result.scores, FIXTURE["keypoint_scores"], rtol=1e-4, atol=1e-5)
    if result.heatmaps is not None:
        want = np.reshape(FIXTURE["heatmaps"], FIXTURE["heatmaps_shape"])
        np.testing.assert_allclose(result.heatmaps, want, rtol=0,
                                   atol=2e-6 + 1e-5 * np.abs(want).max())


def test_predict_and_onnx_report_mmposes_output_keypoints(model, image, tmp_path):
    from heatpose.inference.backends import _RUNNERS, as_backend, load_runner

    boxes = FIXTURE["boxes_xyxy"]
    _check_mmpose(model.predict(image, boxes, return_heatmaps=True))
    full = build_estimator(model.architecture, model.codec.to_dict(), model.flip_indices)
    full.load_state_dict(model.state_dict())
    everything = full.eval().predict(image, boxes)           # no selection: all 19
    assert everything.keypoints.shape[1] == 19
    np.testing.assert_array_equal(everything.keypoints[:, FIXTURE["output_keypoint_indices"]],
                                  model.predict(image, boxes).keypoints)
    runner = as_backend(model, "onnxruntime", cache=tmp_path)  # exported; metadata read back
    assert runner.output_keypoint_indices == FIXTURE["output_keypoint_indices"]
    _check_mmpose(runner.predict(image, boxes, return_heatmaps=True))
    again = load_runner(runner.path)
    assert again.output_schema == model.output_schema
    assert again.predict(image, boxes[:0]).keypoints.shape == (0, 7, 2)
    _RUNNERS.clear()


def test_pipeline_draws_and_names_the_output_keypoints(model, image):
    from heatpose.inference.pipeline import Pipeline

    pipe = Pipeline(model, detector="whole-image", backend="torch")
    people = pipe(image, bboxes=FIXTURE["boxes_xyxy"], return_heatmaps=True)
    _check_mmpose(people)
    keep = FIXTURE["output_keypoint_indices"]
    names = get_schema("coco_aic").keypoint_names
    assert people.schema.keypoint_names == tuple(names[i] for i in keep)
    assert people.draw().shape == image.shape
    assert len(people.to_records(1)[0]["keypoints"]) == 3 * len(keep)


def test_output_schema_follows_the_selection():
    """Flip partners and links renumbered, dropped partners flip onto themselves; the combine
    recipe's 17 outputs are COCO's schema (what MMPose evaluates them with)."""
    from heatpose.models.build import build_model
    from heatpose.models.estimator import select_schema

    full = get_schema("coco_aic")
    keep = FIXTURE["output_keypoint_indices"]                 # nose, shoulders, head_top...
    out = select_schema(full, keep)
    assert out.keypoint_names == tuple(full.keypoint_names[i] for i in keep)
    for pos, old in enumerate(keep):
        partner = full.flip_indices[old]
        assert out.flip_indices[pos] == (keep.index(partner) if partner in keep else pos)
    assert set(out.skeleton) == {(keep.index(a), keep.index(b)) for a, b in full.skeleton
                                 if a in keep and b in keep}
    assert out.sigmas == tuple(full.sigmas[i] for i in keep)
    with pytest.warns(UserWarning, match="random weights"):
        combine = build_model("td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine")
    assert combine.num_keypoints == 19 and combine.output_keypoint_indices == list(range(17))
    coco = get_schema("coco")
    for field in ("keypoint_names", "flip_indices", "skeleton", "keypoint_colors",
                  "skeleton_colors", "sigmas", "joint_weights", "upper_body_ids",
                  "lower_body_ids"):
        assert getattr(combine.output_schema, field) == getattr(coco, field), field


def test_checkpoints_keep_the_output_keypoints(model, image, tmp_path):
    path = save_model(model, tmp_path / "tiny.pth")
    loaded = load_model(path)
    assert loaded.output_keypoint_indices == FIXTURE["output_keypoint_indices"]
    _check_mmpose(loaded.predict(image, FIXTURE["boxes_xyxy"]))
    from heatpose.models.build import model_from_checkpoint
    from heatpose.models.checkpoints import read_checkpoint

    state, meta = read_checkpoint(path)
    meta["output_keypoint_indices"] = [0, 19]
    with pytest.raises(CheckpointError, match=r"output_keypoint_indices \[0, 19\]"):
        model_from_checkpoint(state, meta, path)


@pytest.mark.parametrize("bad", ["0123", [0.5, 1.7], [True, False], 3])
def test_checkpoint_output_keypoints_must_be_integers(bad, model, tmp_path):
    """A stray value in a checkpoint's metadata is one error line, never read as other
    keypoints (the string '0123' as [0, 1, 2, 3], 1.7 as 1, True as 1)."""
    from heatpose.models.build import model_from_checkpoint
    from heatpose.models.checkpoints import read_checkpoint

    path = save_model(model, tmp_path / "tiny.pth")
    state, meta = read_checkpoint(path)
    meta["output_keypoint_indices"] = bad
    with pytest.raises(CheckpointError, match="expected a list of keypoint indices"):
        model_from_checkpoint(state, meta, path)
