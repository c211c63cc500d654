"""``heatpose track`` on damaged input, as ``heatpose infer`` handles it: unreadable frames and
images are skipped and named (file, frame ranges), every good result is written, the exit status
is 1 with a count; tracks continue across the gap (the skipped frames count as frames unseen for
the L-frame rule). Also its device line, summary table, help examples, and the COCO results it
shares with ``heatpose infer --track``."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from heatpose.cli import main
from heatpose.schema import get_schema
from heatpose.tracking import PoseTracker, TrackerConfig
from heatpose.tracking.tracker import pose_box

CLIP = "mmpose_tests/posetrack18/videos/000001_mpiinew_test"


def _still_image():
    """A 96x64 BGR test image (gradients and a white disc)."""
    y, x = np.mgrid[0:64, 0:96]
    image = np.stack([x * 2, y * 3, (x + y) % 256], 2).astype(np.uint8)
    cv2.circle(image, (48, 32), 14, (255, 255, 255), -1)
    return image


def _damaged_mjpg(path, frames=12, bad=(5, 6, 7), black=()):
    """An MJPG .avi of one still image, repeated (the ``black`` frames all black instead); the
    JPEGs of the ``bad`` frames are destroyed (their first 600 bytes zeroed), so that OpenCV
    cannot decode exactly those."""
    image = _still_image()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(frames):
        writer.write(np.zeros_like(image) if i in black else image)
    writer.release()
    data = bytearray(path.read_bytes())
    starts, pos = [], data.find(b"\xff\xd8")
    while pos >= 0:
        starts.append(pos)
        pos = data.find(b"\xff\xd8", pos + 2)
    assert len(starts) == frames
    for j in bad:
        data[starts[j]:starts[j] + 600] = bytes(600)
    path.write_bytes(bytes(data))
    return path


def track(*argv) -> int:
    return main(["track", *map(str, argv), "--whole-image", "--flow", "none", "--device", "cpu",
                 "--quiet", "--no-flip"])


@pytest.mark.parametrize("max_age, continues", [(5, True), (3, False)])
def test_damaged_video_skips_frames_keeps_results_and_tracks(tiny_checkpoint, tmp_path, capsys,
                                                             max_age, continues):
    video = _damaged_mjpg(tmp_path / "damaged.avi")
    out = tmp_path / "o"
    (out).mkdir()
    (out / "predictions.json").write_text("stale")
    code = track(video, "--checkpoint", tiny_checkpoint, "--out", out, "--max-age", max_age,
                 "--per-frame-json")
    std, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[0].startswith("heatpose track: device cpu")
    assert "damaged.avi: 3 unreadable frame(s): 5-7" in err
    assert "heatpose track: 3 frame(s) skipped" in err
    assert "frames done  9 of 12" in std and "skipped      3\n" in std
    assert str(out / "predictions.json") in std
    recs = json.loads((out / "predictions.json").read_text())
    good = [0, 1, 2, 3, 4, 8, 9, 10, 11]
    assert sorted({r["frame"] for r in recs}) == good
    assert all(r["image_id"] == r["frame"] and r["file_name"] == "damaged.avi"
               and isinstance(r["track_id"], int) for r in recs)
    frames = json.loads((out / "frames.json").read_text())["frames"]
    assert [f["frame"] for f in frames] == good
    # one still image: the whole-image pose is the same in every frame, so its track goes on
    # across the 3 skipped frames while L = 5, and ends in them when L = 3
    first = {r["frame"]: r["track_id"] for r in recs if r["bbox"] == [0.0, 0.0, 96.0, 64.0]}
    assert len(set(first[f] for f in good[:5])) == 1 and len(set(first[f] for f in good[5:])) == 1
    assert (first[8] == first[4]) is continues
    if not continues:
        assert first[8] > max(r["track_id"] for r in recs if r["frame"] <= 4)
    pt = json.loads((out / "posetrack" / "damaged.json").read_text())
    assert [im["file_name"] for im in pt["images"]] == [f"damaged/{i:06d}.jpg"
                                                        for i in range(12)]
    assert {a["image_id"] for a in pt["annotations"]} == {i + 1 for i in good}
    assert not list(out.glob("*.part.mp4")) and (out / "damaged_track.mp4").is_file()
    # heatpose infer --track: the same records, the same rule across the gap
    code = main(["infer", str(video), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--track", "--flow", "none", "--max-age", str(max_age), "--device", "cpu",
                 "--quiet", "--no-flip", "--no-draw", "--out", str(tmp_path / "i")])
    assert code == 1 and "5-7" in capsys.readouterr().err
    assert _same_records(recs, json.loads((tmp_path / "i" / "predictions.json").read_text()))


def test_folder_with_broken_image(tiny_checkpoint, data_dir, tmp_path, capsys):
    seq = tmp_path / "seq"
    seq.mkdir()
    for p in sorted((data_dir / CLIP).glob("*.jpg"))[:4]:
        shutil.copy(p, seq / p.name)
    broken = sorted(seq.glob("*.jpg"))[1]
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "o"
    code = track(seq, "--checkpoint", tiny_checkpoint, "--out", out, "--no-draw")
    std, err = capsys.readouterr()
    assert code == 1 and broken.name in err and "1 frame(s) skipped" in err
    assert "frames done  3 of 4" in std
    recs = json.loads((out / "predictions.json").read_text())
    assert sorted({r["frame"] for r in recs}) == [0, 2, 3]
    assert broken.name not in {r["file_name"] for r in recs}
    pt = json.loads((out / "posetrack" / "seq.json").read_text())
    assert len(pt["images"]) == 4 and 2 not in {a["image_id"] for a in pt["annotations"]}
    code = main(["infer", str(seq), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--track", "--flow", "none", "--device", "cpu", "--quiet", "--no-flip",
                 "--no-draw", "--out", str(tmp_path / "i")])
    assert code == 1 and broken.name in capsys.readouterr().err
    assert _same_records(recs, json.loads((tmp_path / "i" / "predictions.json").read_text()))


def test_no_readable_frame_is_one_line(tiny_checkpoint, tmp_path, capsys):
    seq = tmp_path / "seq"
    seq.mkdir()
    (seq / "0.jpg").write_bytes(b"junk")
    assert track(seq, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "no readable frames" in err and "Traceback" not in err


def test_track_and_infer_track_write_the_same_results(tiny_checkpoint, data_dir, tmp_path,
                                                      capsys):
    clip = data_dir / CLIP / "000001_mpiinew_test.mp4"
    assert track(clip, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "t",
                 "--no-draw") == 0
    assert main(["infer", str(clip), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--track", "--flow", "none", "--device", "cpu", "--quiet", "--no-flip",
                 "--out", str(tmp_path / "i"), "--no-draw"]) == 0
    std = capsys.readouterr().out
    assert "frames done  5 of 5" in std
    a = json.loads((tmp_path / "t" / "predictions.json").read_text())
    b = json.loads((tmp_path / "i" / "predictions.json").read_text())
    assert {"image_id", "frame", "file_name", "track_id"} <= set(a[0])
    assert _same_records(a, b)


@pytest.mark.parametrize("command", [["track"], ["infer", "--track"]])
def test_frames_with_nan_poses_are_skipped_alone(command, tiny_checkpoint, tmp_path, capsys,
                                                 monkeypatch):
    """A model giving NaN for two frames of a chunk (of 8): only those are skipped and named;
    the chunk's other frames are tracked, and the results are those of a video whose same two
    frames are unreadable (both count as frames in which no one was seen)."""
    from heatpose.models.estimator import TopdownPredictor

    predict = TopdownPredictor.predict_crops

    def nan_for_black(self, crops, *args, **kwargs):     # black crops: NaN keypoints
        result = predict(self, crops, *args, **kwargs)
        result.keypoints[crops.reshape(len(crops), -1).max(1) < 16] = np.nan
        return result

    def run(video, out):
        argv = [*command, video, "--checkpoint", tiny_checkpoint, "--whole-image", "--flow",
                "none", "--device", "cpu", "--quiet", "--no-flip", "--no-draw", "--out", out]
        assert main(list(map(str, argv))) == 1
        return capsys.readouterr().err, json.loads((out / "predictions.json").read_text())

    monkeypatch.setattr(TopdownPredictor, "predict_crops", nan_for_black)
    err, recs = run(_damaged_mjpg(tmp_path / "nan.avi", bad=(), black=(5, 6)), tmp_path / "n")
    assert "nan.avi: 2 frame(s) where the model gave non-finite keypoints or scores (NaN/Inf): " \
           "5-6" in err and "2 frame(s) skipped" in err and "Traceback" not in err
    assert sorted({r["frame"] for r in recs}) == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert all(np.isfinite(r["keypoints"]).all() for r in recs)
    err, unreadable = run(_damaged_mjpg(tmp_path / "nan.avi", bad=(5, 6)), tmp_path / "u")
    assert "nan.avi: 2 unreadable frame(s): 5-6" in err
    assert _same_records(recs, unreadable)


@pytest.mark.parametrize("command", [["track"], ["infer", "--track"], ["infer"]])
def test_frames_the_detector_fails_on_are_skipped_alone(command, tiny_checkpoint, tmp_path,
                                                        capsys, monkeypatch):
    """A person detector raising on three frames (5, 6 and 9; black): only those are skipped
    and named in one line, exit status 1; the drawn video and predictions.json hold every
    other frame, and the results are those of a video whose same frames are unreadable (with
    tracking both count as frames in which no one was seen)."""
    from heatpose.errors import InputError
    from heatpose.inference.media import VideoReader
    from heatpose.inference.pipeline import Pipeline

    boxes = Pipeline.boxes

    def failing_on_black(self, image, index=0):
        if image.max() < 16:
            raise InputError("detector boxes[0] = [5, 5, 5, 9]: box must have x2 > x1")
        return boxes(self, image, index)

    def run(video, out):
        argv = [*command, video, "--checkpoint", tiny_checkpoint, "--whole-image", "--device",
                "cpu", "--quiet", "--no-flip", "--out", out]
        argv += ["--flow", "none"] if "infer" not in command or "--track" in command else []
        assert main(list(map(str, argv))) == 1
        std, err = capsys.readouterr()
        assert "Traceback" not in err and "frames done  9 of 12" in std
        drawn = next(out.glob("*.mp4"))
        assert not drawn.name.endswith(".part.mp4") and len(list(VideoReader(drawn))) == 9
        return err, json.loads((out / "predictions.json").read_text())

    monkeypatch.setattr(Pipeline, "boxes", failing_on_black)
    err, recs = run(_damaged_mjpg(tmp_path / "det.avi", bad=(), black=(5, 6, 9)), tmp_path / "d")
    assert "det.avi: 3 frame(s) where the person detector failed (frame 5: detector boxes[0] " \
           "= [5, 5, 5, 9]: box must have x2 > x1): 5-6, 9" in err and "3 frame(s) skipped" in err
    assert sorted({r["frame"] for r in recs}) == [0, 1, 2, 3, 4, 7, 8, 10, 11]
    err, unreadable = run(_damaged_mjpg(tmp_path / "det.avi", bad=(5, 6, 9)), tmp_path / "u")
    assert "det.avi: 3 unreadable frame(s): 5-6, 9" in err
    assert _same_records(recs, unreadable) if command != ["infer"] else recs == unreadable


def test_folder_gap_then_detector_failure_in_one_batch(tiny_checkpoint, tmp_path, capsys,
                                                       monkeypatch):
    """infer --track on a folder of 12 frames: an unreadable image (5) and, later in the same
    batch of 4 images, one the person detector fails on (6, black): each is skipped and named
    once, every other frame is tracked once, and the records (track ids too) are those of the
    folder whose images 5 and 6 are both unreadable (both count as frames unseen)."""
    from heatpose.errors import InputError
    from heatpose.inference.pipeline import Pipeline

    boxes = Pipeline.boxes
    error = "detector boxes[0] = [5, 5, 5, 9]: box must have x2 > x1"

    def failing_on_black(self, image, index=0):
        if image.max() < 16:
            raise InputError(error)
        return boxes(self, image, index)

    def run(name, black):
        seq = tmp_path / name / "seq"
        seq.mkdir(parents=True)
        for i in range(12):
            cv2.imwrite(str(seq / f"{i:06d}.jpg"), np.zeros((64, 96, 3), np.uint8)
                        if i in black else np.roll(_still_image(), 2 * i, axis=1))
        for i in {5, 6} - set(black):
            (seq / f"{i:06d}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
        out = tmp_path / name / "o"
        assert main(["infer", str(seq), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                     "--track", "--flow", "none", "--max-age", "1", "--device", "cpu",
                     "--quiet", "--no-flip", "--no-draw", "--out", str(out)]) == 1
        std, err = capsys.readouterr()
        assert "Traceback" not in err and "images done  10 of 12" in std
        assert "heatpose infer: 2 input(s) skipped" in err
        named = [line for line in err.splitlines() if line.startswith("skipped ")]
        assert len(named) == 2 and "000005.jpg" in named[0] and "000006.jpg" in named[1]
        return named, json.loads((out / "predictions.json").read_text())

    monkeypatch.setattr(Pipeline, "boxes", failing_on_black)
    named, recs = run("d", black=(6,))
    assert named[1].endswith(f"000006.jpg: {error}")
    assert [r["frame"] for r in recs] == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]    # each once
    _, unreadable = run("u", black=())
    assert _same_records(recs, unreadable)
    # the track goes on over 0-4 and 7-11 and (max age 1) ends in the 2 frames unseen
    ids = [r["track_id"] for r in recs]
    assert len(set(ids[:5])) == 1 and len(set(ids[5:])) == 1 and ids[5] != ids[4]


def _same_records(a, b):
    """Records of heatpose track and heatpose infer --track agree: the same keys, ids, frames,
    names and tracks; the same numbers."""
    assert a and [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b):
        keys = ("image_id", "frame", "file_name", "track_id", "category_id")
        assert {k: ra[k] for k in keys} == {k: rb[k] for k in keys}
        for k in ("keypoints", "bbox", "score", "bbox_score"):
            np.testing.assert_allclose(ra[k], rb[k], rtol=1e-5, atol=1e-4)
    return True


def test_help_has_examples_without_markup(capsys):
    assert main(["track", "--help"]) == 0
    text = capsys.readouterr().out
    assert "\nexamples:\n  heatpose track " in text and "exit status:" in text
    assert "`" not in text and ":meth:" not in text
    assert max(len(line) for line in text.splitlines()) <= 100


@pytest.mark.parametrize("gap", [2, 4, 5, 6])
def test_skipped_frames_count_as_unseen(gap):
    """PoseTracker.skip(n) gives the ids n frames without anyone would."""
    sigmas = get_schema("posetrack18").sigmas
    rng = np.random.default_rng(1)
    base = rng.uniform(20, 120, (2, 17, 2)).astype(np.float32)

    def frame(tracker, t):
        kp = base + np.float32(t)
        boxes = np.stack([pose_box(k, np.ones(17), 0.0, 0.15) for k in kp])
        tracker.proposals(None)
        return tracker.update(kp, np.full((2, 17), 0.9), boxes, np.full(2, 0.9)).tolist()

    def empty(tracker):
        tracker.proposals(None)
        tracker.update(np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros((0, 4)), np.zeros(0))

    ids = []
    for use_skip in (False, True):
        tracker = PoseTracker(sigmas, TrackerConfig(flow="none", max_age=5))
        seen = [frame(tracker, t) for t in range(3)]
        if use_skip:
            tracker.skip(gap)
        else:
            for _ in range(gap):
                empty(tracker)
        seen.append(frame(tracker, 3 + gap))
        ids.append(seen)
    assert ids[0] == ids[1]
    assert (ids[1][-1] == ids[1][0]) is (gap < 5)


@pytest.mark.parametrize("argv, det, tracker", [
    (["infer", "x.mp4"], 0.3, None),
    (["infer", "x.mp4", "--det-thr", "0.4"], 0.4, None),
    (["infer", "x.mp4", "--track"], 0.5, 0.5),              # the paper's threshold by default
    (["infer", "x.mp4", "--track", "--det-thr", "0.2"], 0.2, 0.2),
    (["infer", "x.mp4", "--track", "--det-thr", "0.7"], 0.7, 0.7),
    (["track", "x.mp4"], 0.5, None),
    (["track", "x.mp4", "--det-thr", "0.2"], 0.2, None),
])
def test_infer_track_honours_an_explicit_det_thr(argv, det, tracker):
    """--det-thr given: the detector and the tracker use it (infer --track as heatpose track);
    not given: 0.3 for infer, 0.5 (the paper's) with --track and for heatpose track."""
    from heatpose.cli import build_parser
    from heatpose.commands.track import detector_threshold, pipeline_track

    args = build_parser(argv[0]).parse_args(argv)
    assert detector_threshold(args) == det
    if argv[0] == "infer":
        config = pipeline_track(args)
        assert (config.det_thr if config else None) == tracker
