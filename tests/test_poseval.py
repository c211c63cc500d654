"""PoseTrack AP and MOTA against the official poseval's outputs (../shared/reference/posetrack)
and the tracking counts against py-motmetrics (the library poseval calls)."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from heatpose.errors import InputError
from heatpose.evaluation.poseval import evaluate_folders
from heatpose.evaluation.poseval_data import NJ, folder_pairs
from heatpose.evaluation.poseval_match import match_frame
from heatpose.evaluation.poseval_mot import JointAccumulator

TOL = 1e-6


@pytest.fixture(scope="module")
def ref(reference_dir):
    root = reference_dir / "posetrack"
    return root, json.loads((root / "reference.json").read_text())


def _close(ours, theirs, path=""):
    if isinstance(theirs, dict):
        for k in theirs:
            _close(ours[k], theirs[k], f"{path}/{k}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, f"{path}[{i}]")
    elif theirs is None:
        assert ours is None, path
    else:
        assert ours is not None and abs(ours - theirs) <= TOL, (path, ours, theirs)


@pytest.mark.parametrize("case", ["b_jitter", "real_jitter"])
def test_matches_official_poseval(ref, case):
    root, data = ref
    c = data["cases"][case]
    res = evaluate_folders(root / c["gt_dir"], root / c["pred_dir"], tracking=c["mot"] is not None)
    out = res.to_json()
    assert out["joint_order"] == data["joint_order"]
    _close(out["ap"], c["ap"], "ap")
    _close(out["per_sequence"], c["per_sequence"], "per_sequence")
    _close(out["counts"]["ap"], c["counts"]["ap"], "counts/ap")
    table = res.format_table().splitlines()
    assert c["printed_ap_row"] in table
    if c["mot"] is not None:
        _close(out["mot"], c["mot"], "mot")
        for k, v in out["counts"]["mot"].items():
            _close(v, c["counts"]["mot"][k], f"counts/mot/{k}")
        assert c["printed_mot_row"] in table


def _mm_counts(frames_by_seq):
    """poseval's evaluateTracking loop run on motmetrics itself (frames matched by us)."""
    mm = pytest.importorskip("motmetrics")
    names = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]
    total = np.zeros((NJ, 6))
    for frames in frames_by_seq:
        accs = [mm.MOTAccumulator(auto_id=True) for _ in range(NJ)]
        for fr in frames[:-1]:
            m = match_frame(fr)
            for j in range(NJ):
                oids, hids, d = m.mot[j]
                accs[j].update(list(oids), list(hids), d)
        mh = mm.metrics.create()
        for j in range(NJ):
            r = mh.compute(accs[j], metrics=names, return_dataframe=False, name="acc")
            s = accs[j].events["D"].sum()
            total[j] += [r["num_objects"], r["num_detections"], r["num_misses"],
                         r["num_false_positives"], r["num_switches"], 0 if np.isnan(s) else s]
    return total


def test_accumulator_equals_motmetrics_on_random_streams():
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(3)
    for trial in range(30):
        ours, theirs = JointAccumulator(), mm.MOTAccumulator(auto_id=True)
        for _ in range(12):
            oids = rng.choice(6, rng.integers(0, 5), replace=False)
            hids = rng.choice(np.arange(10, 17), rng.integers(0, 5), replace=False)
            d = rng.uniform(0, 0.5, (len(oids), len(hids)))
            d[rng.random(d.shape) < 0.4] = np.nan
            ours.update(oids, hids, d)
            theirs.update(list(oids), list(hids), d)
        r = mm.metrics.create().compute(theirs, metrics=["num_objects", "num_detections",
                                                         "num_misses", "num_false_positives",
                                                         "num_switches"],
                                        return_dataframe=False, name="acc")
        assert [ours.num_objects, ours.num_detections, ours.num_misses,
                ours.num_false_positives, ours.num_switches] == \
            [r["num_objects"], r["num_detections"], r["num_misses"],
             r["num_false_positives"], r["num_switches"]], trial
        assert ours.sum_dist == pytest.approx(float(np.nansum(theirs.events["D"])), abs=1e-9)


def _write(folder, videos):
    folder.mkdir()
    for name, v in videos.items():
        (folder / name).write_text(json.dumps(v))


def _load(root, sub):
    return {f.name: json.loads(f.read_text()) for f in sorted((root / sub).glob("*.json"))}


def test_switches_misses_false_positives_equal_motmetrics(ref, tmp_path):
    """Predictions = ground truth with swapped ids, dropped people, far-off extra people and a
    frame without predictions: counts as poseval's loop on motmetrics gives them."""
    root, _ = ref
    gt = _load(root, "gt")
    pred = copy.deepcopy(gt)
    rng = np.random.default_rng(7)
    for v in pred.values():
        images = [im["id"] for im in v["images"]]
        extra = []
        for a in v["annotations"]:
            a["scores"] = [0.9] * 17
            a["track_id"] = int(a["track_id"]) + 5
            if images.index(a["image_id"]) > len(images) // 2 and a["track_id"] in (5, 6):
                a["track_id"] = 11 - a["track_id"]              # swap ids 5 <-> 6
            if rng.random() < 0.25:
                far = dict(a, track_id=a["track_id"] + 100)
                far["keypoints"] = [x + 500 if i % 3 == 0 and x else x
                                    for i, x in enumerate(a["keypoints"])]
                extra.append(far)
        v["annotations"] = [a for a in v["annotations"] if rng.random() > 0.15] + extra
        labeled = sorted({a["image_id"] for a in gt[next(iter(gt))]["annotations"]})
        v["annotations"] = [a for a in v["annotations"] if a["image_id"] != labeled[2]]
    _write(tmp_path / "gt", gt)
    _write(tmp_path / "pred", pred)
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    ref_counts = _mm_counts([s.frames for s in folder_pairs(tmp_path / "gt", tmp_path / "pred")])
    np.testing.assert_allclose(res.mot_counts, ref_counts, atol=1e-9)
    assert res.mot_counts[:, 4].sum() > 0 and res.mot_counts[:, 3].sum() > 0


def _tiny(frames, tracks=None, head=20.0):
    """A one-person PoseTrack18 file: frame i holds the pose at x offset frames[i] (None:
    unlabeled)."""
    names = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder",
             "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
    images, anns = [], []
    for i, x in enumerate(frames):
        images.append({"id": i + 1, "file_name": f"images/val/000001_mpii_test/{i:06d}.jpg"})
        if x is None:
            continue
        k = [[100.0 + x + 5 * j, 50.0 + 10 * j, 1.0] for j in range(17)]
        k[3] = k[4] = [0.0, 0.0, 0.0]
        anns.append({"id": i, "image_id": i + 1, "track_id": 0 if tracks is None else tracks[i],
                     "keypoints": sum(k, []), "scores": [0.8] * 17,
                     "bbox_head": [100 + x, 40, head, head]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": names}]}


def test_data_rules(tmp_path):
    gt = _tiny([0, None, 0, 0, 0])
    pred = _tiny([0, 0, 0, 300, 0], tracks=[3, 3, 4, 3, 3])
    del pred["annotations"][2]                                   # labeled frame 3: nothing
    _write(tmp_path / "gt", {"a.json": gt})
    _write(tmp_path / "pred", {"a.json": pred})
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    c = res.to_json()["counts"]["mot"]
    # labeled frames 1, 3, 4, 5; the last is left out. Frame 1: match; frame 3: no predictions
    # (one miss + one false positive per joint); frame 4: prediction 300 px away (miss + FP).
    assert c["num_objects"] == [3] * NJ and c["num_detections"] == [1] * NJ
    assert c["num_misses"] == [2] * NJ and c["num_false_positives"] == [2] * NJ
    assert c["num_switches"] == [0] * NJ
    assert res.mot["mota"][-1] == pytest.approx(100 * (1 - 4 / 3))


def test_identity_switch_counted(tmp_path):
    _write(tmp_path / "gt", {"a.json": _tiny([0, 0, 0, 0])})
    _write(tmp_path / "pred", {"a.json": _tiny([0, 0, 0, 0], tracks=[1, 1, 2, 2])})
    c = evaluate_folders(tmp_path / "gt", tmp_path / "pred").to_json()["counts"]["mot"]
    assert c["num_switches"] == [1] * NJ and c["num_objects"] == [3] * NJ


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["annotations"][0].update(track_id=10000), "below 10000"),
    (lambda p: p["annotations"][0].update(track_id=None), "integer 'track_id'"),
    (lambda p: p["annotations"].append(dict(p["annotations"][0], id=99)), "not unique"),
    (lambda p: p["images"].pop(), "frames"),
    (lambda p: p["annotations"][0].update(keypoints=[1, 2]), "keypoint values"),
])
def test_bad_predictions_name_the_file(tmp_path, edit, message):
    pred = _tiny([0, 0, 0])
    edit(pred)
    _write(tmp_path / "gt", {"a.json": _tiny([0, 0, 0])})
    _write(tmp_path / "pred", {"a.json": pred})
    with pytest.raises(InputError, match=message) as err:
        evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    assert "a.json" in str(err.value)


def test_missing_prediction_file(tmp_path):
    _write(tmp_path / "gt", {"a.json": _tiny([0, 0])})
    (tmp_path / "pred").mkdir()
    with pytest.raises(InputError, match="prediction file missing"):
        evaluate_folders(tmp_path / "gt", tmp_path / "pred")


def test_cli_eval_posetrack_json(ref, capsys):
    from heatpose.cli import main

    root, data = ref
    c = data["cases"]["b_jitter"]
    assert main(["eval", "--posetrack", str(root / c["gt_dir"]), str(root / c["pred_dir"]),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    _close(out["mot"], c["mot"], "mot")
    _close(out["ap"], c["ap"], "ap")
    assert main(["eval", "--posetrack", str(root / c["gt_dir"]), str(root / c["pred_dir"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert c["printed_ap_row"] in lines and c["printed_mot_row"] in lines
    assert "MOTA per joint:" in lines


def test_ignore_region_empties_a_frame(tmp_path):
    """Everything of frame 2 lies in its ignore region: poseval drops the points of both sides,
    then treats the frame as one without ground truth (one miss + one false positive per
    joint for tracking, nothing for AP)."""
    gt = _tiny([0, 0, 0])
    gt["images"][1]["ignore_regions_x"] = [[50, 400, 400, 50]]
    gt["images"][1]["ignore_regions_y"] = [[0, 0, 300, 300]]
    pred = _tiny([0, 0, 0], tracks=[1, 1, 1])
    del pred["annotations"][1]["scores"]                 # no scores: poseval's -9999
    _write(tmp_path / "gt", {"a.json": gt})
    _write(tmp_path / "pred", {"a.json": pred})
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    c = res.to_json()["counts"]
    assert c["mot"]["num_objects"] == [2] * NJ and c["mot"]["num_misses"] == [1] * NJ
    assert c["mot"]["num_false_positives"] == [1] * NJ
    assert c["ap"]["n_gt"] == [2] * NJ and c["ap"]["n_pred"] == [2] * NJ
    assert res.ap.ap[-1] == pytest.approx(100.0)
