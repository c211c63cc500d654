"""`heatpose infer` / Pipeline end to end, with a checkpoint built here (no download)."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from heatpose.cli import main
from heatpose.inference.pipeline import Pipeline


@pytest.fixture()
def coco_images(data_dir, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for p in sorted((data_dir / "mmpose_tests" / "coco").glob("*.jpg")):
        shutil.copy(p, folder / p.name)
    return folder


def test_infer_image_folder_with_detection_file(tiny_checkpoint, coco_images, data_dir, tmp_path):
    det = data_dir / "mmpose_tests" / "coco" / "test_coco_det_AP_H_56.json"
    out = tmp_path / "out"
    code = main(["infer", str(coco_images), "--checkpoint", str(tiny_checkpoint),
                 "--det-file", str(det), "--det-thr", "0.5", "--out", str(out), "--quiet"])
    assert code == 0
    preds = json.loads((out / "predictions.json").read_text())
    dets = [d for d in json.loads(det.read_text()) if d["score"] >= 0.5 and d["category_id"] == 1]
    ids = {int(p.stem) for p in coco_images.glob("*.jpg")}
    expected = [d for d in dets if d["image_id"] in ids]
    assert len(preds) == len(expected) > 0
    for rec in preds:
        assert rec["image_id"] in ids and rec["category_id"] == 1
        assert len(rec["keypoints"]) == 17 * 3 and np.isfinite(rec["score"])
    for img in coco_images.glob("*.jpg"):
        drawn = cv2.imread(str(out / f"{img.stem}_pose.jpg"))
        assert drawn is not None and drawn.shape == cv2.imread(str(img)).shape


def test_infer_video_with_yolox(tiny_checkpoint, data_dir, tmp_path):
    video = data_dir / "mmpose_tests/posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"
    onnx = next((data_dir / "detectors" / "yolox_nano").glob("*.onnx"))
    out = tmp_path / "vid"
    code = main(["infer", str(video), "--checkpoint", str(tiny_checkpoint), "--detector-model",
                 str(onnx), "--out", str(out), "--quiet"])
    assert code == 0
    rec = json.loads((out / f"{video.stem}_frames.json").read_text())
    assert len(rec["frames"]) == 5 and rec["keypoint_names"][0] == "nose"
    assert sum(len(f["people"]) for f in rec["frames"]) >= 5        # people in every frame
    for frame in rec["frames"]:
        for person in frame["people"]:
            assert np.asarray(person["keypoints"]).shape == (17, 2)
    cap = cv2.VideoCapture(str(out / f"{video.stem}_pose.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_pipeline_batches_across_frames_like_single_calls(tiny_checkpoint, data_dir):
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="whole-image")
    frames = [cv2.imread(str(p)) for p in sorted((data_dir / "mmpose_tests/coco").glob("*.jpg"))]
    boxes = [np.array([[10, 20, 200, 300], [50, 60, 150, 250]], np.float32), np.zeros((0, 4)),
             np.array([[0, 0, 100, 100]], np.float32), np.array([[30, 30, 300, 200]], np.float32)]
    together = pipe(frames, bboxes=boxes)
    for frame, b, people in zip(frames, boxes, together):
        alone = pipe(frame, bboxes=b)
        assert len(alone) == len(people) == len(b)
        np.testing.assert_allclose(people.keypoints, alone.keypoints, atol=1e-3)
        np.testing.assert_allclose(people.scores, alone.scores, atol=1e-5)


def test_infer_bad_inputs_are_one_line_errors(tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    code = main(["infer", str(bad), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "broken.jpg" in err and "Traceback" not in err
    assert main(["infer", str(tmp_path / "nothing"), "--checkpoint", str(tiny_checkpoint),
                 "--whole-image"]) == 2


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
        assert main(["infer", str(one), "--checkpoint", str(tiny_checkpoint), "--whole-image",
                     "--out", str(out), "--quiet", *flag]) == 0
        outs[bool(flag)] = cv2.imread(str(out / f"{one.stem}_pose.jpg")).astype(int)
    assert np.abs(outs[True] - outs[False]).mean() > 1.0
