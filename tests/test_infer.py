"""`heatpose infer` / Pipeline end to end, with a checkpoint built here (no download): COCO
results for image sets and videos, batch work that skips what it cannot read and keeps the
rest, unique names per input file, drawing options and the result object."""
from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest

from conftest import ROOT
from heatpose.cli import main
from heatpose.inference.pipeline import Pipeline
from test_readme import run_readme_block

VIDEO = "mmpose_tests/posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"


@pytest.fixture()
def coco_images(data_dir, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for p in sorted((data_dir / "mmpose_tests" / "coco").glob("*.jpg")):
        shutil.copy(p, folder / p.name)
    return folder


def infer(*argv) -> int:
    return main(["infer", *map(str, argv), "--quiet"])


def test_infer_image_folder_with_detection_file(tiny_checkpoint, coco_images, data_dir, tmp_path):
    det = data_dir / "mmpose_tests" / "coco" / "test_coco_det_AP_H_56.json"
    out = tmp_path / "out"
    assert infer(coco_images, "--checkpoint", tiny_checkpoint, "--det-file", det,
                 "--det-thr", "0.5", "--nms-thr", "1", "--out", out) == 0
    preds = json.loads((out / "predictions.json").read_text())
    dets = [d for d in json.loads(det.read_text()) if d["score"] >= 0.5 and d["category_id"] == 1]
    ids = {int(p.stem) for p in coco_images.glob("*.jpg")}
    expected = [d for d in dets if d["image_id"] in ids]
    assert len(preds) == len(expected) > 0                     # no NMS: one pose per box
    for rec in preds:
        assert rec["image_id"] in ids and rec["category_id"] == 1
        assert rec["file_name"] == f"{rec['image_id']:012d}.jpg"
        kpt = np.asarray(rec["keypoints"]).reshape(17, 3)
        valid = kpt[:, 2][kpt[:, 2] > 0.2]              # MMPose's rescoring, 0 when none passes
        want = rec["bbox_score"] * valid.mean() if valid.size else 0.0
        assert rec["score"] == pytest.approx(want, rel=1e-5, abs=1e-7)
    for img in coco_images.glob("*.jpg"):
        drawn = cv2.imread(str(out / f"{img.stem}_pose.jpg"))
        assert drawn is not None and drawn.shape == cv2.imread(str(img)).shape
    assert not list(out.glob(".*tmp*"))                  # no temporary files left


def test_infer_video_writes_coco_records_per_frame(tiny_checkpoint, data_dir, tmp_path):
    video = data_dir / VIDEO
    onnx = next((data_dir / "detectors" / "yolox_nano").glob("*.onnx"))
    out = tmp_path / "vid"
    assert infer(video, "--checkpoint", tiny_checkpoint, "--detector-model", onnx,
                 "--out", out, "--per-frame-json", "--box-scores") == 0
    recs = json.loads((out / "predictions.json").read_text())
    assert {r["frame"] for r in recs} == set(range(5))    # people in every frame
    for r in recs:
        assert r["image_id"] == r["frame"] and r["file_name"] == video.name
        assert len(r["keypoints"]) == 17 * 3 and len(r["bbox"]) == 4
    frames = json.loads((out / "frames.json").read_text())
    assert frames["keypoint_names"][0] == "nose" and len(frames["frames"]) == 5
    assert sum(len(f["people"]) for f in frames["frames"]) == len(recs)
    cap = cv2.VideoCapture(str(out / f"{video.stem}_pose.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert not list(out.glob("*.part.mp4"))


def _noise_video(path, frames=40):
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    writer.release()


def test_damaged_video_keeps_going_and_reports_frames(tiny_checkpoint, tmp_path, capsys):
    good = tmp_path / "good.mp4"
    _noise_video(good)
    data = bytearray(good.read_bytes())
    start = int(len(data) * 0.45)
    data[start:start + len(data) // 10] = bytes(len(data) // 10)    # a damaged stretch
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    code = infer(bad, "--checkpoint", tiny_checkpoint, "--whole-image", "--out", tmp_path / "o")
    out, err = capsys.readouterr()
    assert code == 1 and "damaged.mp4" in err and "unreadable frame" in err
    assert "Traceback" not in err
    recs = json.loads((tmp_path / "o" / "predictions.json").read_text())
    frames = {r["frame"] for r in recs}
    assert 39 in frames and 0 in frames and len(frames) < 40   # frames after the damage too
    lost = 40 - len(frames)                       # the summary counts frames, not the video
    assert f"frames done  {len(frames)} of 40" in out and f"skipped      {lost}\n" in out
    assert f"{lost} frame(s) skipped" in err
    reported = err.split("unreadable frame(s): ")[1].splitlines()[0]
    assert reported.split("-")[0].split(",")[0].strip().isdigit()
    assert (tmp_path / "o" / "damaged_pose.mp4").is_file()


def test_batch_skips_bad_images_and_keeps_names_unique(tiny_checkpoint, coco_images, tmp_path,
                                                       capsys):
    root = tmp_path / "seq"
    one = sorted(coco_images.glob("*.jpg"))[:2]
    for folder in ("a", "b"):                      # the same names in two folders
        (root / folder).mkdir(parents=True)
        for p in one:
            shutil.copy(p, root / folder / p.name)
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "predictions.json").write_text("stale")
    code = infer(f"{root}/*/*.jpg", "--checkpoint", tiny_checkpoint, "--whole-image",
                 "--out", out, "--per-frame-json")
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg" in err and "1 input(s) skipped" in err
    recs = json.loads((out / "predictions.json").read_text())
    assert len(recs) == 4
    assert sorted(r["file_name"] for r in recs) == sorted(f"{d}/{p.name}" for d in "ab"
                                                          for p in one)
    assert len({r["image_id"] for r in recs}) == 4
    drawn = sorted(p.name for p in out.glob("*_pose.jpg"))
    assert drawn == sorted(f"{d}__{p.stem}_pose.jpg" for d in "ab" for p in one)
    per_image = json.loads((out / "frames.json").read_text())["frames"]
    assert [f["file_name"] for f in per_image] == [r["file_name"] for r in recs]
    assert all(len(f["people"]) == 1 for f in per_image)


def test_names_and_ids_of_input_files(tmp_path):
    from heatpose.inference.media import assign_image_ids, relative_names, unique_names

    coco = [tmp_path / "000000000785.jpg", tmp_path / "000000040083.jpg"]
    assert assign_image_ids(coco) == [785, 40083]
    clash = [tmp_path / "a" / "0001.jpg", tmp_path / "b" / "0001.jpg"]
    assert assign_image_ids(clash) == [0, 1]                   # same number: positions
    assert relative_names(clash) == ["a/0001.jpg", "b/0001.jpg"]
    assert unique_names(clash) == ["a__0001", "b__0001"]
    mixed = [tmp_path / "x.jpg", tmp_path / "x.png", tmp_path / "photo.v2.jpg"]
    assert unique_names(mixed) == ["x", "x~1", "photo.v2"]
    assert assign_image_ids(mixed) == [0, 1, 2]


def test_det_file_errors_name_the_file_and_record(tiny_checkpoint, coco_images, tmp_path, capsys):
    image = sorted(coco_images.glob("*.jpg"))[0]
    image_id = int(image.stem)
    det = tmp_path / "dets.json"
    run = ["infer", str(coco_images), "--checkpoint", str(tiny_checkpoint), "--det-file",
           str(det), "--out", str(tmp_path / "o"), "--quiet", "--no-draw"]
    det.write_text(json.dumps([{"image_id": image_id, "bbox": [1, 2, 30, 40], "score": 0.9,
                                "category_id": 1},
                               {"image_id": image_id, "bbox": [1, 2, 30, 40],
                                "score": float("nan"), "category_id": 1}]))
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]      # after the device line
    assert err.startswith("heatpose infer: error: ") and "dets.json: record 1" in err
    det.write_text(json.dumps([{"image_id": 5, "bbox": [1, 2, 30, 40], "score": 0.9}]))
    assert main(run) == 2
    err = capsys.readouterr().err
    assert "dets.json" in err and "none of its 1 detections" in err
    det.write_text(json.dumps([{"image_id": image_id, "bbox": [5000, 2, 30, 40], "score": 0.9},
                               {"image_id": image_id, "bbox": [10, 20, 30, 40], "score": 0.8},
                               {"image_id": image_id, "bbox": [10, 20, 0, 0], "score": 0.8}]))
    assert main(run) == 1                                 # the bad boxes skipped, named
    err = capsys.readouterr().err
    assert "record 0 (image_id" in err and "bbox [5000, 2, 30, 40]" in err and "outside" in err
    assert "record 2 (image_id" in err and "no area" in err
    assert len(json.loads((tmp_path / "o" / "predictions.json").read_text())) == 1


def test_pipeline_batches_across_frames_like_single_calls(tiny_checkpoint, data_dir):
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="whole-image", device="cpu")
    frames = [cv2.imread(str(p)) for p in sorted((data_dir / "mmpose_tests/coco").glob("*.jpg"))]
    boxes = [np.array([[10, 20, 200, 300], [50, 60, 150, 250]], np.float32), np.zeros((0, 4)),
             np.array([[0, 0, 100, 100]], np.float32), np.array([[30, 30, 300, 200]], np.float32)]
    together = pipe(frames, bboxes=boxes)
    for frame, b, people in zip(frames, boxes, together):
        alone = pipe(frame, bboxes=b)
        assert len(alone) == len(people) == len(b)
        np.testing.assert_allclose(people.keypoints, alone.keypoints, atol=1e-3)
        np.testing.assert_allclose(people.scores, alone.scores, atol=1e-5)


def test_people_draw_and_save_themselves(tiny_checkpoint, data_dir, tmp_path):
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="whole-image")
    image = sorted((data_dir / "mmpose_tests/coco").glob("*.jpg"))[0]
    people = pipe(image)
    assert people.image.shape == cv2.imread(str(image)).shape
    jpg = people.save(tmp_path / "pose.jpg", kpt_thr=0.0)
    drawn = cv2.imread(str(jpg))
    assert drawn.shape == people.image.shape and np.abs(drawn.astype(int) - people.image).max() > 0
    recs = json.loads(people.save(tmp_path / "pose.json").read_text())
    assert len(recs) == 1 and len(recs[0]["keypoints"]) == 51
    # COCO results eval can take: the COCO number of the file as image_id, and its name
    assert recs[0]["image_id"] == int(image.stem) and recs[0]["file_name"] == image.name
    array_recs = json.loads(pipe(people.image).save(tmp_path / "a.json", image_id=7).read_text())
    assert array_recs[0]["image_id"] == 7 and "file_name" not in array_recs[0]
    thin = people.draw(kpt_thr=0.0, thickness=1, radius=1, show_boxes=False)
    thick = people.draw(kpt_thr=0.0, thickness=6, radius=8, show_box_scores=True)
    changed = [np.count_nonzero(np.any(d != people.image, axis=2)) for d in (thin, thick)]
    assert 0 < changed[0] < changed[1]


def test_nms_drops_duplicate_people(tiny_checkpoint, data_dir):
    image = sorted((data_dir / "mmpose_tests/coco").glob("*.jpg"))[0]
    box = np.array([[10, 20, 200, 300]], np.float32)
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="whole-image", nms_thr=0.9)
    same = pipe(image, bboxes=np.repeat(box, 3, axis=0), box_scores=[0.5, 0.9, 0.7])
    assert len(same) == 1
    assert len(Pipeline(pipe.model, detector=None)(image, bboxes=np.repeat(box, 3, 0))) == 3


def test_infer_bad_inputs_are_one_line_errors(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # nothing may appear in the working directory
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    code = infer(bad, "--checkpoint", tiny_checkpoint, "--whole-image", "--out", tmp_path / "o")
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg" in err and "Traceback" not in err
    assert json.loads((tmp_path / "o" / "predictions.json").read_text()) == []
    assert infer(tmp_path / "nothing", "--checkpoint", tiny_checkpoint, "--whole-image") == 2
    assert "nothing: no such file or folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg", "o"]


def test_predict_rejects_bad_boxes(tiny_checkpoint):
    from heatpose.errors import InputError
    from heatpose.models.build import load_model

    model = load_model(tiny_checkpoint)
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InputError, match=r"bboxes\[1\].*x2 > x1"):
        model.predict(image, [[0, 0, 10, 10], [20, 20, 10, 30]])
    with pytest.raises(InputError, match="outside"):
        model.predict(image, [[200, 200, 300, 300]])
    with pytest.raises(InputError, match=r"\(N, 4\)"):
        model.predict(image, [[1, 2, 3]])


def test_infer_heatmap_overlay_changes_the_drawing(tiny_checkpoint, coco_images, tmp_path):
    one = sorted(coco_images.glob("*.jpg"))[0]
    outs = {}
    for flag in ([], ["--heatmaps"]):
        out = tmp_path / ("hm" if flag else "plain")
        assert infer(one, "--checkpoint", tiny_checkpoint, "--whole-image", "--out", out,
                     *flag) == 0
        outs[bool(flag)] = cv2.imread(str(out / f"{one.stem}_pose.jpg")).astype(int)
    assert np.abs(outs[True] - outs[False]).mean() > 1.0


@pytest.mark.parametrize("codec", [None, "mp4v"])
def test_video_writer_reports_its_codec(codec, tmp_path):
    from heatpose.inference.media import VideoWriter

    writer = VideoWriter(tmp_path / "v.mp4", 10.0, codec=codec)
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    assert writer.close() == tmp_path / "v.mp4" and not (tmp_path / "v.part.mp4").exists()
    try:
        import av  # noqa: F401
        h264 = "pyav-h264"
    except ImportError:
        h264 = None
    assert writer.codec == (codec or h264 or writer.codec)
    assert writer.codec in ("pyav-h264", "avc1", "mp4v")
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 3


def test_folder_of_folders_points_to_a_recursive_glob(tmp_path):
    from heatpose.errors import InputError
    from heatpose.inference.media import expand_images

    for seq in ("s1", "s2"):                       # PoseTrack-style: frames in subfolders
        (tmp_path / seq).mkdir()
        (tmp_path / seq / "000001.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"folder holds no images.*quote a glob"):
        expand_images(str(tmp_path))
    hint = f"{tmp_path}/**/*.jpg"
    assert [p.parent.name for p in expand_images(hint)] == ["s1", "s2"]


@pytest.mark.slow
def test_readme_pipeline_block_runs_as_written(tmp_path):
    """README's "Pipeline" example, verbatim, in a fresh interpreter: the recipe's checkpoint
    URL points at a local file:// checkpoint (tests never reach the internet)."""
    import torch

    from heatpose.models.build import RandomWeightsWarning, build_model

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Pipeline"):]
    (block,) = re.findall(r"```python\n(.+?)\n```", section[:section.index("\n## ", 1)], re.S)
    name = re.search(r'Pipeline\(model="([^"]+)"', block).group(1)
    torch.manual_seed(0)
    with pytest.warns(RandomWeightsWarning):
        model = build_model(name)
    served = tmp_path / "res50_coco.pth"
    torch.save({"state_dict": model.state_dict()}, served)
    prelude = ("import heatpose.recipes as r\n"
               f"object.__setattr__(r.get_recipe({name!r}), 'checkpoint_url', "
               f"{served.as_uri()!r})\n")
    done = run_readme_block(block, prelude, tmp_path)
    assert done.stdout.splitlines()[0] == "(1, 17, 2)"
    assert cv2.imread(str(tmp_path / "astronaut_pose.jpg")).shape == (512, 512, 3)
    (rec,) = json.loads((tmp_path / "astronaut_pose.json").read_text())
    assert rec["file_name"] == "astronaut.jpg" and len(rec["keypoints"]) == 51


def test_non_finite_model_output_is_skipped_and_named(tiny_checkpoint, tmp_path, capsys):
    import torch

    from heatpose.models.build import load_model, save_model

    model = load_model(tiny_checkpoint)
    with torch.no_grad():
        for p in model.head.parameters():
            p.fill_(float("nan"))                  # what a diverged run's weights give
    broken = tmp_path / "nan.pth"
    save_model(model, broken)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((64, 48, 3), 128, np.uint8))
    out = tmp_path / "o"
    assert infer(image, "--checkpoint", broken, "--whole-image", "--out", out) == 1
    err = capsys.readouterr().err
    assert "a.png: the model gave non-finite keypoints or scores (NaN/Inf)" in err
    assert json.loads((out / "predictions.json").read_text()) == []     # no NaN in the JSON


def test_results_file_is_complete_at_every_flush_and_rewritten_less_as_it_grows(tmp_path,
                                                                             monkeypatch):
    import types

    import heatpose.inference.outputs as outputs

    clock = [0.0]
    monkeypatch.setattr(outputs, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    writes = []
    real = outputs.write_json

    def write(path, obj):                          # each rewrite: 0.25 s per record
        writes.append(len(obj))
        clock[0] += 0.25 * len(obj)
        return real(path, obj)

    monkeypatch.setattr(outputs, "write_json", write)
    results = outputs.ResultsFile(tmp_path / "r.json", every=1.0)
    results.add([{"a": 1}])                        # on disk at once: took 0.25 s
    assert json.loads(results.path.read_text()) == [{"a": 1}] and writes == [1]
    for step, expected in ((1, [1]),              # 1 s < 20 x 0.25 s: not yet
                           (4, [1, 3]),           # 5 s: rewritten, took 0.75 s
                           (10, [1, 3]),          # 10 s < 20 x 0.75 s: not yet
                           (5, [1, 3, 5])):       # 15 s: rewritten
        clock[0] += step
        results.add([{"a": len(results.records) + 1}])
        assert writes == expected
        assert len(json.loads(results.path.read_text())) == expected[-1]   # always complete
    results.add([{"a": 6}])
    results.close()                                # the end: always written
    assert writes == [1, 3, 5, 6] and len(json.loads(results.path.read_text())) == 6
    assert not list(tmp_path.glob(".*tmp*"))
