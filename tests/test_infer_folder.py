"""`heatpose infer FOLDER` (and VIDEO) with the YOLOX detector: the boxes are found in the
reader thread, beside the pose network, and the results equal the pipeline's one image (frame)
at a time; a file that cannot be read and an image the detector fails on are skipped and
named, the rest kept."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from heatpose.cli import main
from heatpose.errors import InputError
from heatpose.inference.pipeline import Pipeline

VIDEO = "mmpose_tests/posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"
PHOTOS = 7                      # real COCO photos: some with people, some without


@pytest.fixture()
def photos(data_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((data_dir / "coco_mini" / "train2017").glob("*.jpg"))[:PHOTOS]:
        shutil.copy(p, folder / p.name)
    (folder / "000000999999.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


@pytest.fixture()
def yolox(data_dir):
    return next((data_dir / "detectors" / "yolox_nano").glob("*.onnx"))


def run_infer(folder, checkpoint, yolox, out) -> int:
    return main(["infer", str(folder), "--checkpoint", str(checkpoint), "--detector-model",
                 str(yolox), "--no-draw", "--quiet", "--out", str(out)])


def test_folder_with_detector_equals_one_image_at_a_time(photos, tiny_checkpoint, yolox,
                                                         tmp_path, capsys):
    out = tmp_path / "out"
    assert run_infer(photos, tiny_checkpoint, yolox, out) == 1
    err = capsys.readouterr().err
    assert "000000999999.jpg" in err and "1 input(s) skipped" in err
    recs = json.loads((out / "predictions.json").read_text())
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="yolox-nano", detector_model=yolox,
                    nms_thr=0.9, device="cpu")
    want = []
    for p in sorted(photos.glob("*.jpg"))[:PHOTOS]:
        want += pipe(str(p)).to_records(int(p.stem), file_name=p.name)
    assert len(want) > 0 and len({r["image_id"] for r in want}) > 1
    assert_same_records(recs, want)


def assert_same_records(recs, want):
    assert [(r["image_id"], r["file_name"]) for r in recs] == \
        [(r["image_id"], r["file_name"]) for r in want]
    for key in ("bbox", "keypoints", "score", "bbox_score"):
        np.testing.assert_allclose([r[key] for r in recs], [r[key] for r in want],
                                   rtol=1e-5, atol=1e-3, err_msg=key)


def test_video_with_detector_equals_one_frame_at_a_time(tiny_checkpoint, yolox, data_dir,
                                                        tmp_path):
    from heatpose.inference.media import VideoReader

    video = data_dir / VIDEO
    out = tmp_path / "out"
    assert run_infer(video, tiny_checkpoint, yolox, out) == 0
    pipe = Pipeline(checkpoint=tiny_checkpoint, detector="yolox-nano", detector_model=yolox,
                    nms_thr=0.9, device="cpu")
    want = [r for i, frame in VideoReader(video)
            for r in pipe(frame).to_records(i, file_name=video.name, frame=i)]
    recs = json.loads((out / "predictions.json").read_text())
    assert len(want) > 0 and [r["frame"] for r in recs] == [r["frame"] for r in want]
    assert_same_records(recs, want)


def test_detector_failure_skips_that_image_only(photos, tiny_checkpoint, yolox, tmp_path,
                                                capsys, monkeypatch):
    names = sorted(p.name for p in photos.glob("*.jpg"))
    boxes = Pipeline.boxes

    def failing(self, image, index=0):
        if index == 2:
            raise InputError("detector boxes[0] = [5, 5, 5, 9]: box must have x2 > x1")
        return boxes(self, image, index)

    monkeypatch.setattr(Pipeline, "boxes", failing)
    out = tmp_path / "out"
    assert run_infer(photos, tiny_checkpoint, yolox, out) == 1
    err = capsys.readouterr().err
    assert f"{names[2]}: detector boxes[0]" in err and "2 input(s) skipped" in err
    seen = {r["file_name"] for r in json.loads((out / "predictions.json").read_text())}
    assert names[2] not in seen and seen - {names[2]}
