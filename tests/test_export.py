"""ONNX export: every reference model, exported either with the flip test and decoding inside
the graph or as the default CPU backend (heatmaps graph), runs through ONNX Runtime
(OnnxEstimator.predict) to MMPose 1.3.2's end-to-end outputs within the parity tolerances; the
graph passes onnx.checker; the file alone describes the model.
Small-model tests cover the other graph options (no flip, fixed batch, heatmaps only) against
the PyTorch estimator."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from conftest import REFERENCE
from heatpose.codecs import codec_from_dict
from heatpose.codecs.decode_torch import decode_torch
from heatpose.errors import InputError
from heatpose.export import export_onnx, read_onnx_metadata
from heatpose.inference.backends import as_backend
from heatpose.inference.onnx_backend import OnnxEstimator
from test_parity import FIXTURES, build_from_fixture, check_end_to_end, close

# end-to-end images of each fixture run here (the first three: 4 of its 13 boxes, one of them
# the astronaut) to keep the 6 exports + runs within the test-time budget
E2E_IMAGES = 3


# how each reference model is exported: "graph" = flip test and decoding inside the graph;
# "runtime" = the default CPU backend (as_backend: heatmaps graph, flip and decode around it)
GRAPH_MODELS = ("dark", "udp", "jhmdb")


def _mode(name: str) -> str:
    return "graph" if any(k in name for k in GRAPH_MODELS) else "runtime"


@pytest.fixture(scope="module", params=[p.name for p in FIXTURES] or ["<none>"])
def exported(request, weights_rule, tmp_path_factory):
    path = REFERENCE / request.param
    if not path.is_file():
        pytest.skip(f"no reference fixtures in {REFERENCE}")
    f = dict(np.load(path))
    model = build_from_fixture(f, weights_rule)
    folder = tmp_path_factory.mktemp("onnx")
    if _mode(request.param) == "runtime":
        runner = as_backend(model, "onnxruntime", cache=folder)
        return f, model, runner.path, runner
    out = export_onnx(model, folder / "model.onnx", flip_test=True, decode=True,
                      check=False)      # checked below
    return f, model, out, OnnxEstimator(out, threads=torch.get_num_threads())


def test_graph_passes_checker_and_carries_the_model(exported):
    f, model, path, runner = exported
    onnx.checker.check_model(str(path), full_check=True)
    meta = read_onnx_metadata(path)
    assert meta["codec"] == model.codec.to_dict()
    assert meta["input_size"] == list(model.input_size)
    assert meta["flip_indices"] == json.loads(str(f["meta_json"]))["flip_indices"]
    inside = _mode(str(meta["model_name"])) == "graph"
    assert meta["graph"]["outputs"] == ["heatmaps"] + (["visibility"] if "vis" in f else []) \
        + (["keypoints", "scores"] if inside else [])
    assert (meta["graph"]["flip_test"], meta["graph"]["decode"]) == (inside, inside)
    assert runner.codec.to_dict() == model.codec.to_dict()
    assert (runner.input_size, runner.flip_shift) == (model.input_size, model.flip_shift)


def test_onnx_runtime_matches_mmpose_end_to_end(exported, data_dir):
    f, model, _, runner = exported
    check_end_to_end(runner, f, data_dir, images=E2E_IMAGES)


# ------------------------------------------------------------------ small models
@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    from heatpose.models.build import load_model

    model = load_model(tiny_checkpoint)
    with torch.no_grad():          # heatmaps with clear peaks (the tiny init is nearly flat)
        model.head.final_layer.weight.mul_(1e3)
    return model


def _image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)


BOXES = np.array([[10, 5, 120, 150], [60, 20, 190, 140], [0, 0, 200, 160]], np.float32)


def test_export_leaves_the_model_in_its_mode(tiny, tmp_path):
    """Exporting a model that is training does not switch it to eval mode for good."""
    tiny.train()
    try:
        export_onnx(tiny, tmp_path / "m.onnx")
        assert tiny.training and tiny.backbone.training
    finally:
        tiny.eval()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("dynamic", [True, False])
def test_heatmaps_graph_with_flip_outside_equals_pytorch(tiny, tmp_path, dynamic):
    path = export_onnx(tiny, tmp_path / "m.onnx", dynamic_batch=dynamic, batch_size=2)
    runner = OnnxEstimator(path)
    assert runner.outputs == ["heatmaps"] and runner.flip_test == tiny.flip_test
    for flip in (True, False):
        want = tiny.predict(_image(), BOXES, flip_test=flip, return_heatmaps=True)
        got = runner.predict(_image(), BOXES, flip_test=flip, return_heatmaps=True)
        close(got.heatmaps, want.heatmaps)
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3)
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4)
    # raw graph on a batch of 3 (fixed batch 2: padded chunks)
    x = torch.randn(3, 3, *tiny.input_size[::-1])
    close(runner.run(x.numpy())["heatmaps"], tiny(x).detach().numpy())


def test_flip_inside_graph_cannot_be_switched_off(tiny, tmp_path):
    runner = OnnxEstimator(export_onnx(tiny, tmp_path / "m.onnx", flip_test=True))
    assert runner.flip_test
    with pytest.raises(InputError, match="inside the graph"):
        runner.predict(_image(), BOXES, flip_test=False)


@pytest.mark.parametrize("name", ["msra_s2", "msra_s2_dark", "udp_gaussian", "udp_combined"])
def test_torch_decoders_match_mmpose_codecs(reference_dir, name):
    """The decoders that go into the graph, on MMPose's codec reference heatmaps (including
    its degenerate channels: border peaks, all zero, all negative, near ties)."""
    with np.load(reference_dir / "codecs.npz") as ref:
        codec = codec_from_dict(json.loads(str(ref["codec_params_json"]))[name])
        w, h = codec.heatmap_size
        rnd = ref["random_combined_64x48" if codec.num_channels_per_keypoint == 3
                  else f"random_heatmaps_{h}x{w}"]
        heatmaps = np.concatenate([ref[f"{name}_enc_heatmaps"], rnd])
        want_k, want_s = ref[f"{name}_dec_keypoints"], ref[f"{name}_dec_scores"]
    k, s = decode_torch(codec, torch.from_numpy(heatmaps))
    atol = 1e-4 if name == "msra_s2" else 1e-3
    np.testing.assert_allclose(k.numpy(), want_k, rtol=0, atol=atol, equal_nan=True)
    np.testing.assert_allclose(s.numpy(), want_s, rtol=1e-5, atol=0)


def test_not_a_heatpose_export_is_one_clear_error(tmp_path):
    plain = tmp_path / "plain.onnx"
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                                   [value("x", onnx.TensorProto.FLOAT, [1])],
                                   [value("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), str(plain))
    with pytest.raises(InputError, match="plain.onnx: not a heatpose export"):
        OnnxEstimator(plain)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(InputError, match="junk.onnx"):
        OnnxEstimator(junk)
    with pytest.raises(InputError, match="no such ONNX file"):
        OnnxEstimator(tmp_path / "missing.onnx")


def test_export_command_writes_a_self_describing_file(tiny_checkpoint, tmp_path, capsys):
    from heatpose.cli import main
    from heatpose.models.build import load_model

    out = tmp_path / "tiny.onnx"
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--decode", "--batch-size", "2"]) == 0
    assert "tiny.onnx" in capsys.readouterr().out
    runner = OnnxEstimator(out)
    assert runner.outputs == ["heatmaps", "keypoints", "scores"]
    assert runner.default_batch_size == 2 and runner.name == "tiny-coco"
    assert runner.schema is not None and runner.schema.num_keypoints == 17
    model = load_model(tiny_checkpoint)
    want = model.predict(_image(), BOXES)
    got = runner.predict(_image(), BOXES)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4)
    # bad output name: one line naming it, exit status 2
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--out",
                 str(tmp_path / "m.pt")]) == 2
    assert "m.pt: the output file name must end in .onnx" in capsys.readouterr().err


def test_pipeline_and_infer_run_an_onnx_file(tiny, tmp_path):
    import cv2

    from heatpose.cli import main
    from heatpose.inference.pipeline import Pipeline

    path = export_onnx(tiny, tmp_path / "tiny.onnx", decode=True)
    people = Pipeline(model=str(path), detector=None)(_image(), bboxes=BOXES)
    want = tiny.predict(_image(), BOXES)
    np.testing.assert_allclose(people.scores, want.scores, rtol=1e-4)
    np.testing.assert_allclose(people.keypoints, want.keypoints, atol=1e-3)
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), _image())
    out = tmp_path / "out"
    assert main(["infer", str(image), "--onnx", str(path), "--whole-image", "--no-draw",
                 "--out", str(out), "--quiet"]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert len(records) == 1 and len(records[0]["keypoints"]) == 17 * 3
