"""PoseTrack18 AP through the per-instance path MMPose's PoseTrack18Metric uses: hand-checkable
cases, the real PoseTrack18 test files, and the official poseval outputs of
../shared/reference/posetrack (the folder-level evaluation is tested in test_poseval.py)."""
from __future__ import annotations

import numpy as np
import pytest

from heatpose.evaluation import PoseTrack18Evaluator, evaluate_posetrack18
from heatpose.evaluation.posetrack_eval import load_posetrack_videos, posetrack_gt_folder
from heatpose.schema import get_schema

NAMES = list(get_schema("posetrack18").keypoint_names)
GROUPS = ["Head AP", "Shou AP", "Elb AP", "Wri AP", "Hip AP", "Knee AP", "Ankl AP"]


def _person(rng, x0):
    k = np.zeros((17, 3))
    k[:, 0] = x0 + rng.uniform(0, 80, 17)
    k[:, 1] = rng.uniform(0, 200, 17)
    k[:, 2] = 1
    k[3:5] = 0                                   # ears are never annotated in PoseTrack18
    return k


def _video(people, ignore=None):
    img = {"id": 1, "file_name": "images/val/000001_x/000000.jpg", "is_labeled": True}
    if ignore is not None:
        img["ignore_regions_x"], img["ignore_regions_y"] = ignore
    anns = [{"id": i, "image_id": 1, "track_id": i, "keypoints": p.ravel().tolist(),
             "bbox_head": [p[2, 0] - 10, p[2, 1] - 10, 20, 20]} for i, p in enumerate(people)]
    return {"images": [img], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES}]}


def _pred(k, score=0.9):
    p = k.copy()
    p[:, 2] = np.where(k[:, 2] > 0, score, 0)
    return p


@pytest.fixture()
def two_people():
    rng = np.random.default_rng(1)
    return [_person(rng, 0), _person(rng, 400)]


def test_perfect_predictions_give_100(two_people):
    out = evaluate_posetrack18(_video(two_people), {1: [_pred(p) for p in two_people]})
    assert list(out) == GROUPS + ["AP"]
    assert all(v == pytest.approx(100.0) for v in out.values())


def test_one_missing_person_halves_recall(two_people):
    out = evaluate_posetrack18(_video(two_people), {1: [_pred(two_people[0])]})
    assert all(v == pytest.approx(50.0) for v in out.values())


def test_swapped_wrists(two_people):
    gt = two_people[:1]
    p = _pred(gt[0])
    p[[9, 10]] = p[[10, 9]]                        # left/right wrist swapped
    p[9, 0] += 300                                 # and far from either
    p[10, 0] -= 300
    out = evaluate_posetrack18(_video(gt), {1: [p]})
    assert out["Wri AP"] == 0.0
    assert all(out[g] == pytest.approx(100.0) for g in GROUPS if g != "Wri AP")
    assert out["AP"] == pytest.approx(100.0 * 13 / 15)


def test_false_positive_lowers_ap_only_when_ranked_first(two_people):
    gt = two_people[:1]
    fp = _pred(gt[0])
    fp[:, 0] += 1000
    hi = evaluate_posetrack18(_video(gt), {1: [_pred(gt[0], 0.9), _pred(fp, 0.95)]})
    lo = evaluate_posetrack18(_video(gt), {1: [_pred(gt[0], 0.9), _pred(fp, 0.1)]})
    assert hi["AP"] == pytest.approx(50.0)         # precision 1/2 at the only recall step
    assert lo["AP"] == pytest.approx(100.0)


def test_ignore_region_removes_points(two_people):
    fp = _pred(two_people[0])
    fp[:, 0] += 1000                               # a false positive at x in [1000, 1080]
    box = ([[990, 1200, 1200, 990]], [[-50, -50, 300, 300]])
    out = evaluate_posetrack18(_video(two_people[:1], ignore=box),
                               {1: [_pred(two_people[0], 0.5), _pred(fp, 0.9)]})
    assert out["AP"] == pytest.approx(100.0)       # the false positive lies in the region


def test_frames_without_people_are_skipped(two_people):
    video = _video(two_people)
    video["images"].append({"id": 2, "file_name": "images/val/000001_x/000001.jpg"})
    fp = _pred(two_people[0], 0.99)
    out = evaluate_posetrack18(video, {1: [_pred(p) for p in two_people], 2: [fp]})
    assert out["AP"] == pytest.approx(100.0)


def test_real_posetrack18_files_with_topdown_evaluator(data_dir):
    ann = data_dir / "mmpose_tests/posetrack18/annotations/test_posetrack18_val.json"
    folder = posetrack_gt_folder(ann)
    assert folder.name == "val" and folder.is_dir()
    videos = load_posetrack_videos(folder)
    assert len(videos) == 3
    ev = PoseTrack18Evaluator(folder, get_schema("posetrack18").sigmas)
    rng = np.random.default_rng(0)
    n = 0
    for _, video in videos:
        for a in video["annotations"]:
            k = np.array(a["keypoints"], np.float32).reshape(-1, 3)
            noisy = k[:, :2] + rng.normal(0, 1.0, (17, 2)).astype(np.float32)
            x, y, w, h = a["bbox"]
            ev.process(a["id"], a["image_id"], noisy[None], np.full((1, 17), 0.8, np.float32),
                       bboxes=np.array([[x, y, x + w, y + h]], np.float32))
            n += 1
    assert n == 14
    out = ev.evaluate()
    assert out["AP"] > 90.0 and all(0 <= v <= 100 for v in out.values())
    # perfect keypoints of the 14 people, unlabelled joints left out as (0, 0, 0): 100
    ev = PoseTrack18Evaluator(videos, get_schema("posetrack18").sigmas)
    for _, video in videos:
        for a in video["annotations"]:
            k = np.array(a["keypoints"], np.float32).reshape(-1, 3)
            s = np.where(k[:, 2] > 0, 0.8, 0).astype(np.float32)
            ev.process(a["id"], a["image_id"], k[None, :, :2], s[None])
    assert ev.evaluate()["AP"] == pytest.approx(100.0)
    # predicting the unlabelled joints too (at (0, 0) with a score) adds false positives
    ev = PoseTrack18Evaluator(videos, get_schema("posetrack18").sigmas)
    for _, video in videos:
        for a in video["annotations"]:
            k = np.array(a["keypoints"], np.float32).reshape(-1, 3)
            ev.process(a["id"], a["image_id"], k[None, :, :2], np.full((1, 17), 0.8, np.float32))
    assert ev.evaluate()["AP"] < 100.0


@pytest.mark.parametrize("case", ["real_jitter", "b_jitter"])
def test_mmpose_path_matches_official_poseval(reference_dir, case):
    """The per-instance path (what MMPose's PoseTrack18Metric feeds poseval) gives poseval's
    own per-group AP on the shared reference predictions."""
    import json

    root = reference_dir / "posetrack"
    ref = json.loads((root / "reference.json").read_text())["cases"][case]
    preds: dict = {}
    for f in sorted((root / ref["pred_dir"]).glob("*.json")):
        for a in json.loads(f.read_text())["annotations"]:
            k = np.array(a["keypoints"], np.float64).reshape(-1, 3)
            k[:, 2] = a["scores"]
            preds.setdefault(a["image_id"], []).append(k)
    out = evaluate_posetrack18(root / ref["gt_dir"], preds)
    long = {"Head": "Head", "Shou": "Shoulder", "Elb": "Elbow", "Wri": "Wrist", "Hip": "Hip",
            "Knee": "Knee", "Ankl": "Ankle"}
    for short, name in long.items():
        assert out[f"{short} AP"] == pytest.approx(ref["ap"]["groups"][name], abs=1e-6)
    assert out["AP"] == pytest.approx(ref["ap"]["total"], abs=1e-6)


def test_group_names_are_mmposes_in_every_output():
    """One list of PoseTrack18 group names (poseval_match): MMPose's PoseTrack18Metric keys
    ('Head AP' ... 'Ankl AP', 'AP'), the zoo table's columns and poseval's printed header."""
    from heatpose.evaluation.dataset_metrics import table_columns
    from heatpose.evaluation.poseval import PosevalResult
    from heatpose.evaluation.poseval_match import APResult

    cols = table_columns("posetrack18")[0][1]
    assert [metric for _, metric in cols] == GROUPS + ["AP"]
    assert [column for column, _ in cols] == [g[:-3] for g in GROUPS] + ["Total"]
    nan = np.full(16, np.nan)
    ap = APResult(np.arange(16.0), nan, nan, np.zeros(16), np.zeros(16), np.zeros(16))
    header = PosevalResult(ap).format_table().splitlines()[1]
    assert header == "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
