"""``heatpose test``: the same metrics as MMPose 1.3.2's test loop (tools/dump_mmpose_test_run.py,
fixture tests/fixtures/mmpose_test_runs.json) with the reference's deterministic weights, on
the shared mmpose_tests data; layout rule, zoo-table units, output files and errors.

Random weights put every pose far from the real annotations, so the COCO and DeepFashion
cases score against pseudo ground truth (the fixture's noisy copies of MMPose's predictions,
rebuilt here from the shared annotation files) to keep AP / PCK / AUC away from 0."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from heatpose.cli import main
from heatpose.evaluation.api import evaluate_keypoint_file
from heatpose.evaluation.coco_eval import short_names
from heatpose.evaluation.dataset_metrics import (TABLE_PERCENT, evaluate_dataset, family,
                                                 seed_table, table_columns)
from heatpose.evaluation.testing import resolve_test_data
from heatpose.models.zoo import get_preset, list_presets

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_test_runs.json"
RUNS = json.loads(FIXTURE.read_text())
COCO = "td-hm_res50_8xb64-210e_coco-256x192"
JHMDB = "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"
FLD = "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_full-256x192"


@pytest.fixture(scope="module")
def tests_dir(data_dir) -> Path:
    return data_dir / "mmpose_tests"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, weights_rule):
    """name -> a heatpose checkpoint of the model with the reference's deterministic weights."""
    from heatpose.models.build import RandomWeightsWarning, build_model, save_model

    made = {}

    def make(name: str) -> str:
        if name not in made:
            with pytest.warns(RandomWeightsWarning):     # replaced by the reference's weights
                model = build_model(name)
            sd = model.state_dict()
            model.load_state_dict(weights_rule([(k, tuple(v.shape)) for k, v in sd.items()]),
                                  strict=True)
            made[name] = str(save_model(model, tmp_path_factory.mktemp("ckpt") / "model.pth"))
        return made[name]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make
    torch.set_num_threads(old)              # not left at 1 for the tests that follow


def pseudo_gt(tests_dir: Path, key: str, out: Path) -> Path:
    """The fixture's pseudo ground truth: the shared file with keypoints replaced (as the
    tools script's with_pseudo_gt)."""
    src = key.split(":", 1)[1]
    ann = json.loads((tests_dir / src).read_text())
    pseudo = RUNS["pseudo_gt"][key]
    for a in ann["annotations"]:
        for j, (x, y) in enumerate(pseudo.get(str(a["id"]), [])):
            if a["keypoints"][3 * j + 2] > 0:
                a["keypoints"][3 * j], a["keypoints"][3 * j + 1] = x, y
    out.write_text(json.dumps(ann))
    return out


def run_cli(capsys, *argv) -> dict:
    assert main(["test", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_metrics(ours: dict, ref: dict) -> None:
    """``ours`` (short names: AP50, APm, ...) equal MMPose's ``ref`` (AP .5, AP (M), ...)."""
    ref = short_names(ref)
    assert set(ours) == set(ref)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, abs=1e-6), (k, ours[k], v)


def check_coco_results(path: str, ann: Path, n_max: int) -> list:
    """The predictions file is a valid COCO keypoint result list for ``ann``."""
    res = json.loads(Path(path).read_text())
    images = {im["id"] for im in json.loads(ann.read_text())["images"]}
    assert isinstance(res, list) and 0 < len(res) <= n_max
    for r in res:
        assert r["image_id"] in images and r["category_id"] == 1
        assert len(r["keypoints"]) == 17 * 3 and all(np.isfinite(r["keypoints"]))
        assert isinstance(r["score"], float) and len(r["bbox"]) == 4
    return res


def test_coco_gt_boxes_match_mmpose(capsys, tmp_path, tests_dir, checkpoint):
    ann = pseudo_gt(tests_dir, "pgt:coco/test_coco.json", tmp_path / "gt.json")
    out = run_cli(capsys, COCO, "--checkpoint", checkpoint(COCO), "--ann-file", ann,
                  "--img-prefix", tests_dir / "coco", "--out", tmp_path / "out")
    assert out["setting"] == "gt_boxes" and out["num_instances"] == 12
    assert_metrics(out["metrics"], RUNS["coco_pgt"]["metrics"])
    assert 0.2 < out["metrics"]["AP"] < 0.9                  # the pseudo GT keeps it informative
    res = check_coco_results(out["files"]["predictions"], ann, 12)
    # the written file is what was scored
    _, stats = evaluate_keypoint_file(ann, out["files"]["predictions"], "coco")
    assert stats["AP"] == pytest.approx(out["metrics"]["AP"], abs=1e-12)
    # kept poses are MMPose's per-instance predictions (matched by image and box)
    ref = {(p["img_id"], tuple(np.round(p["bbox"], 2))): p for p in RUNS["coco_gt"]["predictions"]}
    for r in res:
        x, y, w, h = r["bbox"]
        p = ref[(r["image_id"], tuple(np.round([x, y, x + w, y + h], 2)))]
        kpt = np.asarray(r["keypoints"]).reshape(17, 3)
        np.testing.assert_allclose(kpt[:, :2], p["keypoints"], atol=1e-2)
        np.testing.assert_allclose(kpt[:, 2], p["keypoint_scores"], atol=1e-5)
    row = out["table"][0]
    assert row["columns"] == ["AP", "AP50", "AP75", "AR", "AR50"]
    assert row["zoo"] == [None] * 5       # the zoo publishes det-box results only for this model


def test_coco_det_boxes_match_mmpose(capsys, tmp_path, tests_dir, checkpoint):
    ann = pseudo_gt(tests_dir, "pgtd:coco/test_coco.json", tmp_path / "gt.json")
    dets = json.loads((tests_dir / "coco/test_coco_det_AP_H_56.json").read_text())
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets[::RUNS["det_stride"]]))
    out = run_cli(capsys, COCO, "--checkpoint", checkpoint(COCO), "--ann-file", ann,
                  "--img-prefix", tests_dir / "coco", "--det-file", det_file,
                  "--out", tmp_path / "out", "--batch-size", 7)
    assert out["setting"] == "det_boxes" and out["num_instances"] == 20
    assert_metrics(out["metrics"], RUNS["coco_pgtd_det_subset"]["metrics"])
    assert out["metrics"]["AP"] > 0.1
    tested = check_coco_results(out["files"]["predictions"], ann, 20)
    assert out["table"][0]["zoo"][0] == get_preset(COCO).results[0].metrics["AP"]

    # `heatpose infer` with the same boxes writes what `test` scored: `eval` on it agrees
    infer_out = tmp_path / "infer"
    assert main(["infer", str(tests_dir / "coco"), "--checkpoint", checkpoint(COCO),
                 "--det-file", str(det_file), "--det-thr", "0", "--no-draw", "--quiet",
                 "--out", str(infer_out)]) == 0
    inferred = json.loads((infer_out / "predictions.json").read_text())
    assert len(inferred) == len(tested)
    by_box = {(r["image_id"], tuple(np.round(r["bbox"], 2))): r for r in tested}
    for ours in inferred:
        theirs = by_box[(ours["image_id"], tuple(np.round(ours["bbox"], 2)))]
        assert ours["file_name"] == theirs["file_name"] == f"{theirs['image_id']:012d}.jpg"
        np.testing.assert_allclose(ours["keypoints"], theirs["keypoints"], atol=2e-3)
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)
    _, stats = evaluate_keypoint_file(ann, infer_out / "predictions.json", "coco")
    for k, v in out["metrics"].items():
        assert stats[k] == pytest.approx(v, abs=1e-6), k


@pytest.mark.slow      # 118 detections, ~1 min on CPU
@pytest.mark.parametrize("case", ["coco_pgtd_det_full", "coco_det_full"])
def test_coco_full_detection_file_matches_mmpose(case, capsys, tmp_path, tests_dir, checkpoint):
    ann = tests_dir / "coco/test_coco.json"
    if RUNS[case]["ann_file"].startswith("pgtd:"):
        ann = pseudo_gt(tests_dir, RUNS[case]["ann_file"], tmp_path / "gt.json")
    out = run_cli(capsys, COCO, "--checkpoint", checkpoint(COCO), "--ann-file", ann,
                  "--img-prefix", tests_dir / "coco", "--det-file",
                  tests_dir / "coco/test_coco_det_AP_H_56.json", "--out", tmp_path / "out")
    assert out["num_instances"] == 118
    assert_metrics(out["metrics"], RUNS[case]["metrics"])


def test_jhmdb_table_matches_mmpose(capsys, tmp_path, tests_dir, checkpoint):
    args = ["test", JHMDB, "--checkpoint", checkpoint(JHMDB), "--quiet",
            "--ann-file", str(tests_dir / "jhmdb/test_jhmdb_sub1.json"), "--out", str(tmp_path)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "normalised by torso size" in text and "96.10" in text      # the zoo's bbox Mean
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert_metrics(saved["metrics"], RUNS["jhmdb_gt"]["metrics"])
    pck, tpck = saved["table"]
    assert pck["values"][-1] == pytest.approx(100 * RUNS["jhmdb_gt"]["metrics"]["PCK"])
    assert tpck["zoo"][-1] == 79.2 and tpck["unit"] == "percent"


def test_deepfashion_udp_matches_mmpose(capsys, tmp_path, tests_dir, checkpoint):
    ann = pseudo_gt(tests_dir, "pgt:fld/test_fld.json", tmp_path / "gt.json")
    out = run_cli(capsys, FLD, "--checkpoint", checkpoint(FLD), "--ann-file", ann,
                  "--img-prefix", tests_dir / "fld", "--out", tmp_path / "out")
    assert_metrics(out["metrics"], RUNS["fld_pgt"]["metrics"])
    assert 0 < out["metrics"]["PCK"] < 1 and 0 < out["metrics"]["AUC"] < 1
    res = json.loads(Path(out["files"]["predictions"]).read_text())
    assert len(res) == 2 and {r["image_id"] for r in res} == {128, 132}


# ----------------------------------------------------------------------- errors, layout
def test_bad_checkpoint_is_one_line_error(capsys, tmp_path, tests_dir):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    code = main(["test", JHMDB, "--checkpoint", str(bad), "--out", str(tmp_path),
                 "--ann-file", str(tests_dir / "jhmdb/test_jhmdb_sub1.json")])
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in lines if "error" in ln]
    assert code == 2 and len(errors) == 1 and str(bad) in errors[0]
    assert errors[0].startswith("heatpose test: error: ") and lines[0].startswith("heatpose test: "
                                                                                   "device cpu")


@pytest.mark.parametrize("name, file", [
    (COCO, "person_keypoints_val2017.json"),
    ("td-hm_res50_8xb64-210e_coco-wholebody-256x192", "coco_wholebody_val_v1.0.json")])
def test_missing_annotation_file_is_one_line_error(name, file, capsys, tmp_path):
    code = main(["test", name, "--checkpoint", str(tmp_path / "x.pth"),
                 "--data-root", str(tmp_path / "coco")])
    err = capsys.readouterr().err.strip()
    expected = tmp_path / "coco" / "annotations" / file
    assert code == 2 and "\n" not in err and str(expected) in err and "not found" in err
    assert "--ann-file" in err


def test_unknown_model_and_det_file_for_pck_dataset(capsys, tmp_path, tests_dir):
    assert main(["test", "no-such-model", "--data-root", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
    code = main(["test", JHMDB, "--ann-file", str(tests_dir / "jhmdb/test_jhmdb_sub1.json"),
                 "--det-file", str(tests_dir / "coco/test_coco_det_AP_H_56.json")])
    assert code == 2 and "ground-truth boxes only" in capsys.readouterr().err


def test_det_thr_without_det_file_is_one_line_error(capsys, tmp_path, tests_dir):
    """--det-thr only filters --det-file boxes: without them it would be silently ignored."""
    code = main(["test", COCO, "--ann-file", str(tests_dir / "coco/test_coco.json"),
                 "--det-thr", "0.5", "--checkpoint", str(tmp_path / "x.pth")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "--det-thr" in err and "--det-file" in err


def test_layout_rule(tmp_path):
    coco = get_preset(COCO)
    d = resolve_test_data(coco, tmp_path / "coco")
    assert d.ann_file == str(tmp_path / "coco/annotations/person_keypoints_val2017.json")
    assert d.img_prefix == str(tmp_path / "coco/val2017") and d.setting == "gt_boxes"
    (tmp_path / "coco").mkdir()                  # data root = MMPose's data/ folder
    assert resolve_test_data(coco, tmp_path).ann_file == d.ann_file
    halpe = get_preset("td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288")
    det = halpe.training["test_data"]["bbox_file"]
    from heatpose.evaluation.testing import under_root
    assert under_root(det, tmp_path / "halpe", "halpe") == str(
        tmp_path / "coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json")
    mpii = resolve_test_data(get_preset("td-hm_res101_8xb64-210e_mpii-256x256"), tmp_path / "m")
    assert mpii.headbox_file == str(tmp_path / "m/annotations/mpii_gt_val.mat")
    only_ann = resolve_test_data(coco, None, ann_file=tmp_path / "a" / "val.json")
    assert only_ann.img_prefix == str(tmp_path / "a")


def test_zoo_tables_use_the_documented_columns_and_units():
    """Every published zoo number has a table column, in the unit TABLE_PERCENT says."""
    for p in list_presets():
        rows = table_columns(p.dataset)
        for r in p.results:
            cols = next(c for _, c, note in rows if note is None or note in (r.note or ""))
            names = [c for c, _ in cols]
            assert set(r.metrics) <= set(names), (p.name, r.metrics)
            acc = [v for k, v in r.metrics.items() if k != "EPE"]
            if p.dataset in TABLE_PERCENT:
                assert all(v > 1 for v in acc), p.name
            else:
                assert all(v <= 1 for v in acc), p.name


def test_evaluate_dataset_mpii_pckh_units():
    """MPII: PCKh in percent (MMPose's unit), shown as a fraction in the zoo's table."""
    from heatpose.data.readers import InstanceRecord
    from heatpose.evaluation.dataset_metrics import InstancePredictions

    rng = np.random.default_rng(0)
    gt = rng.uniform(50, 150, (4, 16, 2)).astype(np.float32)
    recs = [InstanceRecord("a.jpg", 1, i, np.array([0, 0, 200, 200], np.float32), gt[i],
                           np.ones(16, np.float32), extras={"head_size": 10.0})
            for i in range(4)]
    pred = gt - 1.0                                  # MPII adds 1 px back: exact hits
    pred[0] += 20.0                                  # one person misses every joint
    preds = InstancePredictions(pred, np.ones((4, 16), np.float32))
    m = evaluate_dataset("mpii", recs, preds)
    assert m["PCK"] == pytest.approx(75.0) and m["Head PCK"] == pytest.approx(75.0)
    row = seed_table(get_preset("td-hm_res101_8xb64-210e_mpii-256x256"), m, "gt_boxes")[0]
    assert row.values[row.columns.index("Mean")] == pytest.approx(0.75)
    assert family("mpii") == "mpii"
    # validation-style dicts (any order) align to the records
    from heatpose.evaluation.dataset_metrics import predictions_from_dicts
    dicts = [{"img_id": 1, "ann_id": i, "keypoints": pred[i], "scores": np.ones(16)}
             for i in (3, 1, 0, 2)]
    assert evaluate_dataset("mpii", recs, predictions_from_dicts(recs, dicts)) == m
    del recs[0].extras["head_size"]
    with pytest.raises(Exception, match="head_size"):
        evaluate_dataset("mpii", recs, preds)


class OracleModel:
    """Stands in for a zoo network in `heatpose test`: for each crop it returns the ground
    truth of the record with that box in the keypoints ``truth`` maps it to (score 1), in
    the model's layout (``output_keypoint_indices`` choose the real ones, the others are far
    away), scored 1 where labelled and 0 elsewhere (so a part with no labelled keypoint is no
    result of that part), and reports the output keypoints as TopdownPredictor.predict_crops
    does. A test loop that reads and scores correctly gets AP 1."""

    def __init__(self, name: str, truth: dict, output_indices=None) -> None:
        from heatpose.codecs import codec_from_dict
        from heatpose.recipes import get_recipe
        from heatpose.schema import get_schema

        recipe = get_recipe(name)
        self.schema = get_schema(recipe.dataset)
        self.codec = codec_from_dict({"type": "MSRAHeatmap", "input_size": [32, 48],
                                      "heatmap_size": [8, 12], "sigma": 2})
        self.flip_indices = list(self.schema.flip_indices)
        self.output_keypoint_indices = output_indices
        self.truth = truth

    @property
    def output_schema(self):
        from heatpose.models.estimator import select_schema

        return select_schema(self.schema, self.output_keypoint_indices)

    def predict_crops(self, crops, centers, scales, bboxes, batch_size=None):
        from types import SimpleNamespace

        k = len(self.flip_indices)
        kpts = np.full((len(bboxes), k, 2), -1e4, np.float32)
        scores = np.ones(kpts.shape[:2], np.float32)
        keep = self.output_keypoint_indices or list(range(k))
        for i, box in enumerate(bboxes):
            kpts[i, keep], scores[i, keep] = self.truth[tuple(np.round(box, 3))]
        return SimpleNamespace(keypoints=kpts[:, keep], scores=scores[:, keep], visibility=None)


@pytest.mark.parametrize("name, ann, dataset", [
    ("td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine", "test_coco.json", "coco"),
    ("td-hm_res50_8xb64-210e_coco-wholebody-256x192", "test_coco_wholebody.json",
     "coco_wholebody"),
    ("td-hm_hrnet-w32_8xb64-210e_ubody-256x192", "test_coco_wholebody.json", "coco_wholebody"),
])
def test_combined_and_wholebody_recipes(name, ann, dataset, capsys, tmp_path, tests_dir,
                                        monkeypatch):
    """COCO+AIC 'combine' (19 keypoints, tested on COCO with MMPose's output_keypoint_indices:
    the first 17) and COCO-WholeBody / UBody (133, per-part AP) run through `heatpose test`;
    with perfect keypoints every AP is 1. Also: the recipe's data layout for these."""
    from heatpose.data.readers import read_dataset
    from heatpose.models import build
    from heatpose.recipes import get_recipe

    recipe = get_recipe(name)
    records = read_dataset(dataset, str(tests_dir / "coco" / ann), str(tests_dir / "coco"))
    truth = {tuple(np.round(r.bbox, 3)): (r.keypoints, r.keypoints_visible > 0)
             for r in records}
    idx = recipe.test.output_keypoint_indices
    assert (idx is not None) == name.endswith("-combine")
    monkeypatch.setattr(build, "build_model",
                        lambda *a, **k: OracleModel(name, truth, idx and list(idx)))
    out = run_cli(capsys, name, "--ann-file", tests_dir / "coco" / ann, "--img-prefix",
                  tests_dir / "coco", "--out", tmp_path / "out")
    assert out["num_instances"] == len(records) > 0
    metrics = out["metrics"]
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)
    if dataset == "coco_wholebody":
        for part in ("Body", "Foot", "Face", "Lefthand", "Righthand"):
            assert metrics[f"{part} AP"] in (pytest.approx(1.0), -1.0), part
    results = json.loads((tmp_path / "out" / "predictions.keypoints.json").read_text())
    assert {len(r["keypoints"]) for r in results} == {3 * records[0].keypoints.shape[0]}
    d = resolve_test_data(recipe, tmp_path / "coco")       # MMPose's data/coco layout
    assert d.dataset == dataset and d.img_prefix == str(tmp_path / "coco" / "val2017")


# ------------------------------------------------ PoseTrack18 detection boxes: filter_cfg
POSETRACK = "td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192"
FILTERS = json.loads((FIXTURE.parent / "mmpose_dataset_filters.json").read_text())


@pytest.mark.parametrize("thr", sorted(FILTERS["bbox_score_thr"]))
def test_posetrack18_det_boxes_are_the_ones_mmpose_tests(thr, tests_dir):
    """The recipe's test data filter_cfg (bbox_score_thr 0.4) applies to --det-file boxes as
    MMPose's PoseTrack18Dataset (test mode) keeps them (tools/dump_dataset_filters.py); other
    thresholds through ``bbox_score_thr`` (--det-thr); None: no filter_cfg, every box."""
    import dataclasses

    from heatpose.evaluation.testing import read_test_records

    root = tests_dir / "posetrack18"
    data = resolve_test_data(get_preset(POSETRACK), ann_file=root / "annotations" /
                             "test_posetrack18_val.json", img_prefix=root,
                             det_file=root / "annotations" /
                             "test_posetrack18_human_detections.json",
                             bbox_score_thr=None if thr in ("None", "0.4") else float(thr))
    assert data.bbox_score_thr == (0.4 if thr in ("None", "0.4") else float(thr))
    if thr == "None":
        data = dataclasses.replace(data, bbox_score_thr=None)
    got = [[r.img_id, r.ann_id, r.bbox_score] for r in read_test_records(data)]
    want = FILTERS["bbox_score_thr"][thr]
    assert [g[:2] for g in got] == [w[:2] for w in want] and len(got) > 0
    np.testing.assert_array_equal([g[2] for g in got], [w[2] for w in want])


def test_only_posetrack18_recipes_filter_test_boxes():
    """Every recipe's test-data filter_cfg reaches resolve_test_data (today PoseTrack18's 0.4
    only: the HRNet configs test on detections; the ResNet-50 one on ground-truth boxes,
    with no filter_cfg); without one every box is kept."""
    from heatpose.recipes import list_recipes

    seen = {}
    for recipe in list_recipes():
        test = recipe.train.test_data or {}
        data = resolve_test_data(recipe, ann_file="a.json", img_prefix="i", det_file="d.json")
        assert data.bbox_score_thr == (test.get("filter_cfg") or {}).get("bbox_score_thr")
        seen.setdefault(recipe.dataset, set()).add(data.bbox_score_thr)
    assert seen.pop("posetrack18") == {0.4, None}
    assert all(v == {None} for v in seen.values())


def test_det_thr_on_the_command_line(capsys, tmp_path, tests_dir, monkeypatch):
    """`heatpose test` on PoseTrack18 with --det-file scores MMPose's 88 boxes (0.4), and
    --det-thr overrides it; the summary says which threshold applied."""
    from collections import defaultdict

    from heatpose.models import build
    from heatpose.schema import get_schema

    k = get_schema("posetrack18").num_keypoints
    anywhere = defaultdict(lambda: (np.zeros((k, 2), np.float32), np.ones(k, bool)))
    monkeypatch.setattr(build, "build_model", lambda *a, **kw: OracleModel(POSETRACK, anywhere))
    root = tests_dir / "posetrack18"
    args = [POSETRACK, "--ann-file", root / "annotations" / "test_posetrack18_val.json",
            "--img-prefix", root, "--det-file",
            root / "annotations" / "test_posetrack18_human_detections.json"]
    for extra, n, thr in (([], 88, 0.4), (["--det-thr", "0.9"], 8, 0.9)):
        out = run_cli(capsys, *args, *extra, "--out", tmp_path / str(thr))
        assert out["num_instances"] == n == len(FILTERS["bbox_score_thr"][repr(thr)])
        assert out["det_thr"] == thr and out["setting"] == "det_boxes"
    assert main(["test", *map(str, args), "--det-thr", "1.5"]) == 2
    assert "expected a number in [0, 1]" in capsys.readouterr().err


# ------------------------------------------- the keypoints the model reports (output_schema)
@pytest.mark.parametrize("indices", [list(range(17)), None])
def test_combine_model_is_scored_on_its_output_keypoints(indices, capsys, tmp_path, tests_dir,
                                                         monkeypatch):
    """A real (tiny) 19-keypoint COCO+AIC network tested on COCO through the 'combine' recipe:
    with MMPose's output_keypoint_indices (the first 17) it reports COCO-17 records scored
    with COCO's sigmas; without them its 19 keypoints do not fit COCO's 17: one line."""
    from heatpose.models import build
    from heatpose.schema import get_schema

    torch.manual_seed(0)
    aic = get_schema("coco_aic")
    model = build.build_estimator(
        build.Architecture("resnet18", aic.num_keypoints, (16, 16), (4, 4),
                           backbone_kwargs={"stem_channels": 8, "base_channels": 8}),
        {"type": "MSRAHeatmap", "input_size": [64, 96], "heatmap_size": [8, 12], "sigma": 2},
        aic.flip_indices, schema=aic, output_keypoint_indices=indices).eval()
    monkeypatch.setattr(build, "build_model", lambda *a, **kw: model)
    name = "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine"
    argv = ["test", name, "--ann-file", str(tests_dir / "coco" / "test_coco.json"),
            "--img-prefix", str(tests_dir / "coco"), "--out", str(tmp_path), "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    if indices is None:
        err = captured.err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "has 17 keypoints but the model reports 19" in err[0]
        return
    assert code == 0, captured.err
    out = json.loads(captured.out)
    coco = get_schema("coco")
    assert model.output_schema.sigmas == coco.sigmas
    assert list(model.output_schema.flip_indices) == list(coco.flip_indices)
    results = check_coco_results(out["files"]["predictions"], tests_dir / "coco" / "test_coco.json",
                                 out["num_instances"])
    assert {len(r["keypoints"]) for r in results} == {17 * 3}
    assert set(out["metrics"]) >= {"AP", "AP50", "AR"}
