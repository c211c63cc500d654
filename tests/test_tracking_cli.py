"""``heatpose track`` end to end on the 5-frame PoseTrack18 clip of ../shared/data (a folder of
frames and the same clip as .mp4), with a tiny local PoseTrack18 model and the local YOLOX
ONNX detector: outputs, ids, and the PoseTrack18 file read back by heatpose's poseval."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_tiny_checkpoint
from heatpose.cli import main

CLIP = "mmpose_tests/posetrack18/videos/000001_mpiinew_test"


@pytest.fixture(scope="module")
def tiny_posetrack(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), "posetrack18", "tiny-pt18")


def _self_evaluate(tmp_path, pred_file):
    """The tracker's PoseTrack18 file against itself turned into ground truth (head boxes
    added): poseval's AP and MOTA must be 100 (ids, frames and keypoints read back intact)."""
    from heatpose.evaluation.poseval import evaluate_folders

    pred = json.loads(pred_file.read_text())
    gt = json.loads(pred_file.read_text())
    for a in gt["annotations"]:
        x, y = a["keypoints"][6:8]                                  # head_top
        a["bbox_head"] = [x - 10, y - 10, 20, 20]
    (tmp_path / "gt").mkdir()
    (tmp_path / "pr").mkdir()
    (tmp_path / "gt" / pred_file.name).write_text(json.dumps(gt))
    (tmp_path / "pr" / pred_file.name).write_text(json.dumps(pred))
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pr")
    assert res.ap.ap[-1] == pytest.approx(100.0)
    assert res.mot["mota"][-1] == pytest.approx(100.0)


def test_track_folder_with_detector(data_dir, tiny_posetrack, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = data_dir / "detectors" / "yolox_nano" / "yolox_nano_416x416.onnx"
    out = tmp_path / "out"
    assert main(["track", str(data_dir / CLIP), "--checkpoint", str(tiny_posetrack),
                 "--detector-model", str(onnx), "--out", str(out), "--device", "cpu",
                 "--quiet", "--no-flip", "--per-frame-json"]) == 0
    name = "000001_mpiinew_test"
    assert (out / f"{name}_track.mp4").stat().st_size > 0
    rec = json.loads((out / "frames.json").read_text())
    assert [f["file_name"] for f in rec["frames"]] == [f"{i:06d}.jpg" for i in range(5)]
    assert [f["frame"] for f in rec["frames"]] == list(range(5))
    coco = json.loads((out / "predictions.json").read_text())
    assert len(coco) == sum(len(f["people"]) for f in rec["frames"])
    assert all(isinstance(r["track_id"], int) and r["category_id"] == 1 for r in coco)
    assert rec["tracker"]["det_thr"] == 0.5 and rec["tracker"]["flow"] == "dis"
    people = [p for f in rec["frames"] for p in f["people"]]
    assert people and all(isinstance(p["track_id"], int) for p in people)
    assert len(rec["frames"][0]["people"]) >= 2                    # the clip shows two players
    for f in rec["frames"]:
        ids = [p["track_id"] for p in f["people"]]
        assert len(ids) == len(set(ids))
    pt = out / "posetrack" / f"{name}.json"
    assert len(json.loads(pt.read_text())["images"]) == 5
    _self_evaluate(tmp_path, pt)


def test_track_video_whole_image_no_flow(data_dir, tiny_posetrack, tmp_path):
    out = tmp_path / "out"
    clip = data_dir / CLIP / "000001_mpiinew_test.mp4"
    assert main(["track", str(clip), "--checkpoint", str(tiny_posetrack), "--whole-image",
                 "--flow", "none", "--out", str(out), "--device", "cpu", "--quiet",
                 "--no-draw", "--no-flip"]) == 0
    recs = json.loads((out / "predictions.json").read_text())
    assert not list(out.glob("*.mp4")) and not (out / "frames.json").exists()
    counts = [sum(r["frame"] == i for r in recs) for i in range(5)]
    assert counts[0] == 1 and all(c >= 1 for c in counts)
    assert all(r["image_id"] == r["frame"] and r["file_name"] == clip.name for r in recs)
    kp = np.array(recs[0]["keypoints"]).reshape(17, 3)
    assert np.isfinite(kp).all()


def test_track_bad_input(data_dir, tmp_path, capsys):
    assert main(["track", str(tmp_path / "missing.mp4"), "--whole-image"]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["track", str(tmp_path), "--whole-image", "--flow", "none",
                 "--max-age", "0"]) == 2
    assert "max_age" in capsys.readouterr().err
    assert main(["track", str(tmp_path), "--whole-image"]) == 2
    assert "no frames" in capsys.readouterr().err
    (tmp_path / "dets.json").write_text("[]")
    assert main(["infer", str(data_dir / CLIP), "--det-file", str(tmp_path / "dets.json"),
                 "--track"]) == 2
    assert "--track" in capsys.readouterr().err


def test_track_posetrack_layout_then_eval(data_dir, tiny_posetrack, tmp_path, capsys):
    """images/val/<sequence>/ folders -> one PoseTrack18 file per sequence, which
    ``heatpose eval --posetrack`` reads against the real annotations."""
    root = data_dir / "mmpose_tests/posetrack18"
    out = tmp_path / "out"
    assert main(["track", str(root / "images/val"), "--checkpoint", str(tiny_posetrack),
                 "--whole-image", "--out", str(out), "--device", "cpu", "--quiet",
                 "--no-draw", "--no-flip"]) == 0
    capsys.readouterr()
    files = sorted(p.name for p in (out / "posetrack").glob("*.json"))
    assert files == sorted(p.name for p in (root / "annotations/val").glob("*.json"))
    assert main(["eval", "--posetrack", str(root / "annotations/val"), str(out / "posetrack"),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0.0 <= res["ap"]["total"] <= 100.0
    assert res["mot"]["mota_total"] is None        # one labeled frame per sequence: no tracking


def test_pipeline_track_and_infer_track(data_dir, tiny_posetrack, tmp_path):
    """Pipeline(track=...) gives track ids across calls (given boxes bypass tracking);
    heatpose infer VIDEO --track writes track_id into its COCO results."""
    from heatpose.data.images import read_image
    from heatpose.inference.pipeline import Pipeline
    from heatpose.tracking import TrackerConfig

    frames = [read_image(p) for p in sorted((data_dir / CLIP).glob("*.jpg"))[:3]]
    pipe = Pipeline(checkpoint=tiny_posetrack, detector="whole-image", device="cpu",
                    flip_test=False, track=TrackerConfig(flow="none"))
    people = pipe(frames[:2]) + [pipe(frames[2])]
    assert [p.track_ids is not None and len(p) >= 1 for p in people] == [True] * 3
    assert people[0].track_ids.tolist() == [0]
    pipe.tracking.reset()
    assert pipe(frames[0]).track_ids.tolist() == [0]
    h, w = frames[0].shape[:2]
    assert pipe(frames[0], bboxes=[[0, 0, w, h]]).track_ids is None

    out = tmp_path / "out"
    clip = data_dir / CLIP / "000001_mpiinew_test.mp4"
    assert main(["infer", str(clip), "--checkpoint", str(tiny_posetrack), "--whole-image",
                 "--track", "--flow", "none", "--out", str(out), "--device", "cpu",
                 "--quiet", "--no-flip"]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert records and all(isinstance(r["track_id"], int) for r in records)
    assert {r["frame"] for r in records} == set(range(5))
    assert list(out.glob("*.mp4"))
