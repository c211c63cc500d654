"""COCO-style evaluation: every CocoMetric run of the MMPose reference (metrics.json), randomised
sets checked against xtcocotools (tests/fixtures/coco_eval_random.json, made by
tools/make_coco_eval_fixtures.py), OKS-NMS against MMPose, and hand-checkable cases."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heatpose.errors import InputError
from heatpose.evaluation import (TopdownCocoEvaluator, evaluate_coco, evaluate_keypoint_file,
                                 oks_nms, rescore, short_names, soft_oks_nms)
from heatpose.evaluation.coco_eval import COCO_STAT_NAMES, compute_oks_pairs
from heatpose.schema import get_schema

FIXTURE = Path(__file__).parent / "fixtures" / "coco_eval_random.json"
RUN_DATASET = {"coco_gt_boxes": "coco", "coco_det_boxes": "coco", "crowdpose_gt_boxes": "crowdpose",
               "aic_gt_boxes": "aic", "ochuman_gt_boxes": "ochuman", "mhp_gt_boxes": "mhp",
               "halpe_gt_boxes": "halpe"}


@pytest.fixture(scope="module")
def reference_runs(reference_dir):
    runs = json.loads((reference_dir / "metrics.json").read_text())["runs"]
    return {r["name"]: r for r in runs}


def _evaluator_for(run, data_dir):
    m = run["metric"]
    return TopdownCocoEvaluator(
        data_dir / run["ann_file"], get_schema(RUN_DATASET[run["name"]]).sigmas,
        use_area=m.get("use_area", True), iou_type=m.get("iou_type", "keypoints"),
        score_mode=m.get("score_mode", "bbox_keypoint"), nms_mode=m.get("nms_mode", "oks_nms"),
        nms_thr=m.get("nms_thr", 0.9))


def _feed(ev, run):
    """As the reference fed CocoMetric: one sample per call, float32 arrays."""
    for p in run["predictions"]:
        k = np.array(p["keypoints"], dtype=np.float32).reshape(-1, 3)
        ev.process(p["id"], p["image_id"], k[None, :, :2], k[None, :, 2],
                   bboxes=np.array([p["bbox_xyxy"]], np.float32),
                   bbox_scores=np.array([p["bbox_score"]], np.float32),
                   bbox_scales=np.array([p["bbox_scale"]], np.float32),
                   category_id=p["category_id"])


@pytest.mark.parametrize("name", sorted(RUN_DATASET))
def test_reference_cocometric_runs(name, reference_runs, data_dir):
    run = reference_runs[name]
    ev = _evaluator_for(run, data_dir)
    _feed(ev, run)
    assert len(ev) == run["n_samples"]
    # the written keypoint results after rescoring and NMS
    got, want = ev.results(), run["metric_results_json"]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["image_id"] == w["image_id"] and g["category_id"] == w["category_id"]
        np.testing.assert_array_equal(np.float32(g["keypoints"]), np.float32(w["keypoints"]))
        np.testing.assert_array_equal(np.float32(g["bbox"]), np.float32(w["bbox"]))
        assert g["score"] == w["score"]
    # the metric values
    prefix = run["metric"].get("prefix") or "coco"
    stats = ev.evaluate()
    want_stats = short_names({k.split("/", 1)[1]: v for k, v in run["metrics"].items()})
    assert list(stats) == list(want_stats)
    for k, v in want_stats.items():
        assert abs(stats[k] - v) <= 1e-9, (prefix, k, stats[k], v)


def test_det_run_nms_removes_duplicates(reference_runs, data_dir):
    run = reference_runs["coco_det_boxes"]
    ev = _evaluator_for(run, data_dir)
    _feed(ev, run)
    assert len(ev.results()) < run["n_samples"]          # 118 detections -> 110 after OKS-NMS
    ev.nms_mode = "none"
    assert len(ev.results()) == run["n_samples"]


@pytest.fixture(scope="module")
def random_cases():
    return json.loads(FIXTURE.read_text())


def test_random_sets_match_xtcocotools(random_cases):
    for case in random_cases["coco_eval"]:
        stats = evaluate_coco(case["gt"], case["results"], case["sigmas"],
                              use_area=case["use_area"], iou_type=case["iou_type"])
        np.testing.assert_allclose(list(stats.values()), case["stats"], rtol=0, atol=1e-12,
                                   err_msg=case["name"])


def test_nms_matches_mmpose(random_cases):
    sig = get_schema("coco").sigmas
    for case in random_cases["nms"]:
        kpts = np.array(case["keypoints"], np.float32)
        scores = np.array(case["scores"], np.float32)
        areas = np.array(case["areas"], np.float32)
        assert oks_nms(kpts, scores, areas, case["thr"], sig).tolist() == case["oks_keep"]
        assert soft_oks_nms(kpts, scores, areas, case["thr"], sig).tolist() == case["soft_keep"]


def _gt(kpts_list, areas=None):
    anns = []
    for i, k in enumerate(kpts_list):
        k = np.asarray(k, float)
        x, y = k[:, 0], k[:, 1]
        anns.append({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "keypoints": np.c_[k, np.full(len(k), 2)].ravel().tolist(),
                     "bbox": [x.min(), y.min(), np.ptp(x), np.ptp(y)],
                     "area": float(areas[i] if areas else 10000.0)})
    return {"images": [{"id": 1}], "annotations": anns, "categories": [{"id": 1}]}


def test_perfect_and_missing_predictions():
    rng = np.random.default_rng(0)
    sig = get_schema("coco").sigmas
    people = [rng.uniform(100, 300, (17, 2)) for _ in range(4)]
    gt = _gt(people)
    res = [{"image_id": 1, "category_id": 1, "score": 0.9 - 0.1 * i,
            "keypoints": np.c_[p, np.ones(17)].ravel().tolist()} for i, p in enumerate(people)]
    stats = evaluate_coco(gt, res, sig)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    assert stats["APm"] == -1.0                      # area 10000 is 'large' only
    stats = evaluate_coco(gt, res[:3], sig)             # one person missed: recall 3/4
    assert stats["AR"] == pytest.approx(0.75)
    assert stats["AP"] == pytest.approx(76 / 101)       # precision 1 up to recall 0.75
    fp = dict(res[0], score=0.95, keypoints=(np.array(res[0]["keypoints"]) + 500).tolist())
    assert evaluate_coco(gt, res + [fp], sig)["AP"] < 1.0  # a confident false positive


def test_bad_inputs_name_file_and_record(tmp_path):
    sig = get_schema("coco").sigmas
    gt = _gt([np.ones((17, 2)) * 50])
    with pytest.raises(InputError, match="result #0.*expected 51"):
        evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 3],
                            "score": 1}], sig)
    with pytest.raises(InputError, match="image_id 7"):
        evaluate_coco(gt, [{"image_id": 7, "category_id": 1, "keypoints": [0] * 51,
                            "score": 1}], sig)
    bad = tmp_path / "gt.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="gt.json"):
        evaluate_coco(bad, [], sig)
    del gt["annotations"][0]["area"]
    with pytest.raises(InputError, match=r"annotation #0 \(id 1\) has no 'area'"):
        evaluate_coco(gt, [], sig)
    assert evaluate_coco(gt, [], sig, use_area=False)["AP"] == 0.0


def test_rescore_modes():
    s = np.array([0.1, 0.5, 0.9, 0.3], np.float32)
    b = np.float32(0.8)
    assert rescore(s, b, "bbox") == b
    assert rescore(s, b, "keypoint") == np.mean(s)
    assert rescore(s, b, "bbox_keypoint") == b * ((np.float32(0.5) + np.float32(0.9)
                                                   + np.float32(0.3)) / np.float32(3))
    assert rescore(np.zeros(4, np.float32), b, "bbox_keypoint") == 0
    assert rescore(s, b, "bbox_rle") == pytest.approx(0.8 + 0.45 + 0.9)


def _one_person():
    gt = _gt([np.linspace(60, 140, 34).reshape(17, 2), np.linspace(200, 300, 34).reshape(17, 2)])
    gt["annotations"][1]["id"] = 42
    res = [{"image_id": 1, "category_id": 1, "score": 0.8,
            "keypoints": np.c_[np.linspace(60, 140, 34).reshape(17, 2), np.ones(17)]
            .ravel().tolist()} for _ in range(2)]
    return gt, res


@pytest.mark.parametrize("where, change, pattern", [
    ("gt", lambda a: a.update(keypoints=a["keypoints"][:-1] + [float("nan")]),
     r"annotations: annotation #1 \(id 42\): 'keypoints' holds NaN or infinity"),
    ("gt", lambda a: a.update(bbox=[0, 0, float("inf"), 5]),
     r"annotation #1 \(id 42\): 'bbox' holds NaN"),
    ("gt", lambda a: a.update(area=float("nan")), r"annotation #1 \(id 42\): 'area' holds NaN"),
    ("gt", lambda a: a.update(image_id=99),
     r"annotation #1 \(id 42\): image_id 99 is not an image of the file"),
    ("gt", lambda a: a.update(keypoints=a["keypoints"][:48]),
     r"annotation #1 \(id 42\): 'keypoints' has 48 values, expected 51"),
    ("res", lambda r: r["keypoints"].__setitem__(4, float("nan")),
     r"results: result #1 \(image_id 1\): 'keypoints' holds NaN or infinity"),
    ("res", lambda r: r.update(score=float("nan")), r"result #1 \(image_id 1\): 'score' holds NaN"),
    ("res", lambda r: r.update(score="high"), r"result #1 \(image_id 1\): 'score' is not a number"),
    ("res", lambda r: r.update(image_id=5),
     r"result #1 \(image_id 5\): image_id 5 is not an image of the annotation file"),
    ("res", lambda r: r.pop("keypoints"), r"result #1 \(image_id 1\) has no 'keypoints'"),
])
def test_non_finite_and_dangling_records_are_errors(where, change, pattern):
    """NaN/Inf or dangling ids never change AP silently: the first bad record is named."""
    gt, res = _one_person()
    change(gt["annotations"][1] if where == "gt" else res[1])
    with pytest.raises(InputError, match=pattern):
        evaluate_coco(gt, res, get_schema("coco").sigmas)


def test_eval_blames_the_odd_annotation_not_the_healthy_ones(tmp_path):
    """The first annotation has 16 keypoints, the rest 17: the dataset is told from the
    majority, so the message names annotation #0 (it used to name #1, a healthy record)."""
    gt, res = _one_person()
    gt["annotations"].append(dict(gt["annotations"][1], id=43))
    gt["annotations"][0]["keypoints"] = gt["annotations"][0]["keypoints"][:48]
    ann, pred = tmp_path / "gt.json", tmp_path / "pred.json"
    ann.write_text(json.dumps(gt))
    pred.write_text(json.dumps(res))
    with pytest.raises(InputError, match=r"annotation file .*gt.json: annotation #0 \(id 1\): "
                                         r"'keypoints' has 48 values, expected 51"):
        evaluate_keypoint_file(ann, pred)
    res[0]["score"] = float("nan")
    gt["annotations"][0]["keypoints"] += [1, 1, 1]
    ann.write_text(json.dumps(gt))
    pred.write_text(json.dumps(res))
    with pytest.raises(InputError, match=r"result file .*pred.json: result #0 \(image_id 1\): "
                                         r"'score' holds NaN"):
        evaluate_keypoint_file(ann, pred)


def test_evaluator_rejects_non_finite_predictions():
    ev = TopdownCocoEvaluator(None, get_schema("coco").sigmas)
    kp = np.zeros((1, 17, 2), np.float32)
    kp[0, 3, 1] = np.nan
    with pytest.raises(InputError, match=r"sample id 5 \(image_id 9\): keypoints hold NaN"):
        ev.process(5, 9, kp, np.ones((1, 17), np.float32))
    with pytest.raises(InputError, match=r"sample id 5 \(image_id 9\): bbox_scores hold NaN"):
        ev.process(5, 9, np.zeros((1, 17, 2)), np.ones((1, 17)), bbox_scores=np.array([np.inf]))
    with pytest.raises(InputError, match=r"OKS-NMS: scores of pose #1 hold NaN"):
        oks_nms(np.zeros((2, 17, 3)), np.array([1.0, np.nan]), np.ones(2), 0.9,
                get_schema("coco").sigmas)


def test_oks_pairs_equal_xtcocotools_formula_bitwise():
    """The pairs are summed grouped by labelled-keypoint count; each equals xtcocotools' per-pair
    1-D sum exactly (the evaluation's statistics are identical, not just close)."""
    rng = np.random.default_rng(3)
    sig = np.asarray(get_schema("coco").sigmas, np.float32)
    n = 400
    dt = rng.uniform(0, 200, (n, 17, 3))
    gt = rng.uniform(0, 200, (n, 17, 3))
    gt[:, :, 2] = rng.integers(0, 3, (n, 17)) * (rng.uniform(size=(n, 1)) > 0.1)
    box = np.c_[rng.uniform(0, 100, (n, 2)), rng.uniform(10, 100, (n, 2))]
    area = rng.uniform(100, 1e4, n)
    got = compute_oks_pairs(dt, gt, box, area, sig)
    var = (sig * 2) ** 2
    for i in range(n):
        vg = gt[i, :, 2]
        if (vg > 0).any():
            dx, dy = dt[i, :, 0] - gt[i, :, 0], dt[i, :, 1] - gt[i, :, 1]
        else:
            x0, x1 = box[i, 0] - box[i, 2], box[i, 0] + box[i, 2] * 2
            y0, y1 = box[i, 1] - box[i, 3], box[i, 1] + box[i, 3] * 2
            z = np.zeros(17)
            dx = np.max((z, x0 - dt[i, :, 0]), axis=0) + np.max((z, dt[i, :, 0] - x1), axis=0)
            dy = np.max((z, y0 - dt[i, :, 1]), axis=0) + np.max((z, dt[i, :, 1] - y1), axis=0)
        e = (dx ** 2 + dy ** 2) / var / (area[i] + np.spacing(1)) / 2
        if (vg > 0).any():
            e = e[vg > 0]
        assert got[i] == np.sum(np.exp(-e)) / e.shape[0], i


# xtcocotools 1.14.3 run as MMPose's CocoWholeBodyMetric does (a COCOeval per part with the part's
# sigmas, then 'keypoints_wholebody'), on the results _wholebody_results(seed) makes for
# mmpose_tests/coco/test_coco_wholebody.json (run once with the peer, values copied here).
WHOLEBODY_XTCOCOTOOLS = {
    (0, True): {"Body AP": 0.18438182279766438, "Body AR": 0.4083333333333333,
                "Foot AP": 0.30978443998245975, "Foot AR": 0.62,
                "Face AP": 0.019306930693069307, "Face AR": 0.075, "Lefthand AP": 0.0,
                "Lefthand AR": 0.0, "Righthand AP": 0.03326732673267327, "Righthand AR": 0.16,
                "Whole": [0.07569179994922569, 0.15346534653465344, 0.051485148514851496,
                          0.25346534653465347, 0.03902040204020402, 0.2666666666666667,
                          0.4166666666666667, 0.25, 0.34, 0.21428571428571427]},
    (1, False): {"Body AP": 0.27413284735066906, "Body AR": 0.4416666666666667,
                 "Foot AP": 0.2857618866282232, "Foot AR": 0.51,
                 "Face AP": 0.019306930693069307, "Face AR": 0.075,
                 "Lefthand AP": 0.05782178217821782, "Lefthand AR": 0.16,
                 "Righthand AP": 0.17326732673267325, "Righthand AR": 0.36000000000000004,
                 "Whole": [0.1029050157763029, 0.2228266782722228, 0.0561056105610561,
                           0.26930693069306927, 0.1311881188118812, 0.2166666666666667,
                           0.4166666666666667, 0.16666666666666666, 0.26666666666666666, 0.2]},
}


def _wholebody_results(gt, seed):
    rng = np.random.default_rng(seed)
    res = []
    for a in gt["annotations"]:
        for _ in range(int(rng.integers(0, 3))):
            full = np.concatenate([np.array(a[f]).reshape(-1, 3) for f in (
                "keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")])
            kp = full[:, :2] + rng.normal(0, rng.uniform(0.5, 10), (133, 2))
            sc = rng.uniform(0, 1, 133) * (rng.uniform(size=133) > .1)
            res.append({"image_id": a["image_id"], "category_id": 1, "score": float(rng.uniform()),
                        "keypoints": np.c_[kp, sc].ravel().tolist()})
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 2))):
            kp = np.c_[rng.uniform(0, 600, (133, 2)), rng.uniform(0, 1, 133)]
            res.append({"image_id": im["id"], "category_id": 1, "score": float(rng.uniform()),
                        "keypoints": kp.ravel().tolist()})
    return res


@pytest.mark.parametrize("seed, use_area", sorted(WHOLEBODY_XTCOCOTOOLS))
def test_wholebody_matches_xtcocotools(seed, use_area, data_dir):
    from heatpose.evaluation.wholebody import evaluate_wholebody

    gt = json.loads((data_dir / "mmpose_tests/coco/test_coco_wholebody.json").read_text())
    stats = evaluate_wholebody(gt, _wholebody_results(gt, seed),
                               get_schema("coco_wholebody").sigmas, use_area=use_area)
    want = dict(WHOLEBODY_XTCOCOTOOLS[(seed, use_area)])
    whole = want.pop("Whole")
    for k, v in want.items():
        assert stats[k] == pytest.approx(v, abs=1e-12), k
    np.testing.assert_allclose([stats[k] for k in COCO_STAT_NAMES], whole, rtol=0, atol=1e-12)
    via = evaluate_coco(gt, _wholebody_results(gt, seed), get_schema("coco_wholebody").sigmas,
                        use_area=use_area, iou_type="keypoints_wholebody")
    assert via == stats                       # the shared entry point takes the same path


def test_wholebody_names_a_record_that_is_not_an_object(data_dir):
    from heatpose.evaluation.wholebody import evaluate_wholebody

    gt = json.loads((data_dir / "mmpose_tests/coco/test_coco_wholebody.json").read_text())
    results = _wholebody_results(gt, 0)
    sigmas = get_schema("coco_wholebody").sigmas
    with pytest.raises(InputError, match=r"result #1\b"):
        evaluate_wholebody(gt, [results[0], 5] + results[1:], sigmas)
    gt["annotations"].append(5)
    with pytest.raises(InputError, match=r"annotation #\d+ \(id \?\)"):
        evaluate_wholebody(gt, results, sigmas)


def test_new_zoo_datasets_have_an_evaluation_and_table_columns():
    from heatpose.evaluation.api import coco_settings
    from heatpose.evaluation.dataset_metrics import family, table_columns

    assert family("coco_aic") == family("humanart") == family("exlpose") == "coco"
    assert family("ubody") == family("coco_wholebody") == "coco_wholebody"
    assert coco_settings("exlpose")["use_area"] is False                  # as its MMPose config
    cols = [c for c, _ in table_columns("coco_wholebody")[0][1]]
    assert cols[:2] == ["Body AP", "Body AR"] and cols[-2:] == ["Whole AP", "Whole AR"]


def test_wholebody_hand_is_the_mean_of_both_hands_and_fills_the_zoo_table(data_dir):
    """MMPose's metafiles publish one 'Hand AP' / 'Hand AR' (the COCO-WholeBody benchmark's
    mean of the two hands; xtcocotools scores them separately): heatpose reports it from the
    xtcocotools-checked per-hand numbers, so the zoo-shaped table has no empty column."""
    from heatpose.evaluation.dataset_metrics import seed_table
    from heatpose.evaluation.wholebody import evaluate_wholebody
    from heatpose.recipes import get_recipe

    gt = json.loads((data_dir / "mmpose_tests/coco/test_coco_wholebody.json").read_text())
    stats = evaluate_wholebody(gt, _wholebody_results(gt, 1), get_schema("coco_wholebody").sigmas,
                               use_area=False)
    want = WHOLEBODY_XTCOCOTOOLS[(1, False)]
    for m in ("AP", "AR"):
        assert stats[f"Hand {m}"] == pytest.approx(
            (want[f"Lefthand {m}"] + want[f"Righthand {m}"]) / 2, abs=1e-12)
    recipe = get_recipe("td-hm_hrnet-w32_8xb64-210e_coco-wholebody-256x192")
    (row,) = seed_table(recipe, stats, "det_boxes")
    assert "Hand AP" in row.columns and not np.isnan(row.values).any()
    assert row.zoo[row.columns.index("Hand AP")] == 0.467        # the metafile's number
