"""YOLOX detector on the real YOLOX-nano ONNX model and real COCO images; NMS; letterbox;
COCO detection files."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from heatpose.errors import HeatposeError, InputError, UnknownModelError
from heatpose.inference.detector import (YOLOXDetector, batched_nms, boxes_from_coco_detections,
                                         decode_yolox_outputs, letterbox, nms,
                                         unletterbox_boxes, whole_image_box)

pytest.importorskip("onnxruntime")


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def model_path(data_dir) -> Path:
    path = data_dir / "detectors" / "yolox_nano" / "yolox_nano_416x416.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def detector(model_path) -> YOLOXDetector:
    return YOLOXDetector(model_path)


def _person_sets(data_dir: Path):
    """(image path, [(GT box xyxy, area, counts)]) per annotated image; ``counts`` is False
    for crowd regions and persons of area <= 32^2 (detections of them are not false)."""
    sources = [(data_dir / "coco_mini/annotations/person_keypoints_train2017.json",
                data_dir / "coco_mini/train2017"),
               (data_dir / "mmpose_tests/coco/test_coco.json", data_dir / "mmpose_tests/coco")]
    for ann_file, image_dir in sources:
        coco = json.loads(ann_file.read_text())
        files = {im["id"]: im["file_name"] for im in coco["images"]}
        per_image = {}
        for ann in coco["annotations"]:
            counts = not ann.get("iscrowd") and ann["area"] > 32 ** 2
            x, y, w, h = ann["bbox"]
            per_image.setdefault(ann["image_id"], []).append(
                ([x, y, x + w, y + h], ann["area"], counts))
        for image_id, items in sorted(per_image.items()):
            yield image_dir / files[image_id], items


def test_person_recall_on_real_coco_images(detector, data_dir):
    hits, total, large_hits, large_total, matched_dets, dets = 0, 0, 0, 0, 0, 0
    for image_path, items in _person_sets(data_dir):
        image = cv2.imread(str(image_path))
        boxes, scores = detector(image)
        assert boxes.dtype == np.float32 and boxes.shape == (len(scores), 4)
        assert np.all(scores > 0.3) and np.all(np.diff(scores) <= 0)
        assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
        assert boxes[:, 0::2].min(initial=0) >= 0 and boxes[:, 2].max(initial=0) <= image.shape[1]
        all_gts = np.array([b for b, _, _ in items], np.float32)
        gts = np.array([b for b, _, c in items if c], np.float32).reshape(-1, 4)
        large = np.array([a > 96 ** 2 for _, a, c in items if c], bool)
        best = _iou_matrix(gts, boxes).max(1) if len(boxes) and len(gts) else np.zeros(len(gts))
        hits += int((best >= 0.5).sum())
        total += len(gts)
        large_hits += int((best[large] >= 0.5).sum())
        large_total += int(large.sum())
        if len(boxes):
            matched_dets += int((_iou_matrix(boxes, all_gts).max(1) >= 0.3).sum())
            dets += len(boxes)
    recall, large_recall = hits / total, large_hits / large_total
    print(f"YOLOX-nano person recall@IoU0.5: {recall:.3f} ({hits}/{total}), "
          f"area>96^2: {large_recall:.3f}; detections near a GT person: {matched_dets}/{dets}")
    assert total > 80
    assert recall >= 0.6          # measured 0.713 (nano is a small model; COCO is hard)
    assert large_recall >= 0.75   # measured 0.842
    assert matched_dets / dets >= 0.75   # measured 95/113


def test_agrees_with_published_detections(detector, data_dir):
    """Confident boxes of MMPose's AP_H_56 detector file are found by YOLOX-nano as well."""
    det_file = data_dir / "mmpose_tests/coco/test_coco_det_AP_H_56.json"
    for name in ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"]:
        ref_boxes, _ = boxes_from_coco_detections(det_file, name, score_thr=0.9)
        boxes, _ = detector(cv2.imread(str(data_dir / "mmpose_tests/coco" / name)))
        if len(ref_boxes) == 0:
            continue
        best = _iou_matrix(ref_boxes, boxes).max(1) if len(boxes) else np.zeros(len(ref_boxes))
        assert (best >= 0.5).mean() >= 0.5, name


def test_batch_matches_single_and_decode_modes(detector, model_path, data_dir):
    images = [cv2.imread(str(data_dir / "mmpose_tests/coco" / n))
              for n in ["000000000785.jpg", "000000040083.jpg"]]
    batch = detector(images)
    assert isinstance(batch, list) and len(batch) == 2
    for (bb, sb), image in zip(batch, images):
        bs, ss = detector(image)
        np.testing.assert_allclose(bb, bs, atol=1e-3)
        np.testing.assert_allclose(sb, ss, atol=1e-5)
    assert detector.decoded is False        # the shared export has raw head outputs
    # an export that decodes inside the graph is recognised and not decoded twice
    canvas, _ = letterbox(images[0], (416, 416))
    raw = detector.session.run(None, {detector.input_name:
                                      canvas.transpose(2, 0, 1)[None].astype(np.float32)})[0]
    assert raw.shape == (1, 3549, 85)
    decoded = decode_yolox_outputs(raw, (416, 416))
    fresh = YOLOXDetector(model_path)
    np.testing.assert_allclose(fresh._decode(decoded), decoded)
    assert fresh.decoded is True
    # the whole-class mode finds more than persons in the first image (785: skier + skis)
    all_classes = YOLOXDetector(model_path, classes=None).detect(images[:1])[0]
    assert 0 in all_classes[2] and len(all_classes[0]) >= len(batch[0][0])


def test_decode_grid_layout():
    raw = np.zeros((1, 3549, 85), np.float32)
    out = decode_yolox_outputs(raw, (416, 416))
    # first anchor: cell (0, 0) of stride 8; the one after 52*52 cells: cell (0, 0) of stride 16
    np.testing.assert_allclose(out[0, 0, :4], [0, 0, 8, 8])
    np.testing.assert_allclose(out[0, 1, :4], [8, 0, 8, 8])
    np.testing.assert_allclose(out[0, 52, :4], [0, 8, 8, 8])
    np.testing.assert_allclose(out[0, 52 * 52, :4], [0, 0, 16, 16])
    np.testing.assert_allclose(out[0, -1, :4], [12 * 32, 12 * 32, 32, 32])
    with pytest.raises(HeatposeError, match="anchors"):
        decode_yolox_outputs(raw[:, :100], (416, 416))


def test_letterbox_round_trip():
    image = np.full((200, 320, 3), 50, np.uint8)
    image[100:120, 160:180] = 255                # a white square at x 160..180, y 100..120
    canvas, ratio = letterbox(image, (416, 416))
    assert canvas.shape == (416, 416, 3) and ratio == pytest.approx(1.3)
    assert np.all(canvas[int(200 * 1.3) + 1:] == 114)   # padding below, nothing on the left
    assert np.all(canvas[:int(200 * 1.3) - 1, :5] == 50)
    ys, xs = np.nonzero(canvas[..., 0] > 200)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = unletterbox_boxes(found, ratio, image.shape)
    np.testing.assert_allclose(back, [[160, 100, 180, 120]], atol=1.0)
    # tall image: padding on the right
    canvas, ratio = letterbox(np.zeros((832, 100, 3), np.uint8), (416, 416))
    assert ratio == 0.5 and np.all(canvas[:, 50:] == 114) and np.all(canvas[:, :50] == 0)
    # boxes leaving the image are clipped to it
    np.testing.assert_allclose(unletterbox_boxes([[-10, -10, 500, 100]], 0.5, (832, 100)),
                               [[0, 0, 100, 200]])
    # a sliver (1 x 1000 px) keeps one pixel column instead of an empty resize
    canvas, ratio = letterbox(np.zeros((1000, 1, 3), np.uint8), (416, 416))
    assert ratio == pytest.approx(0.416) and np.all(canvas[:, :1] == 0)
    assert np.all(canvas[:, 1:] == 114)


def test_sliver_image_is_detected_not_crashed(detector):
    boxes, scores = detector(np.zeros((1000, 1, 3), np.uint8))
    assert boxes.shape == (len(scores), 4)


def _reference_nms(boxes, scores, thr):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    for i in order:
        if all(_iou_matrix(boxes[i], boxes[j])[0, 0] <= thr for j in keep):
            keep.append(i)
    return keep


def test_nms_hand_made():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 5]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU(0, 1) = 90 / 110 = 0.818; IoU(3, 0) = 0.5; IoU(3, 1) = 45 / 105 = 0.43; 2 is apart
    assert nms(boxes, scores, 0.4).tolist() == [3, 2]
    assert nms(boxes, scores, 0.45).tolist() == [3, 1, 2]
    assert nms(boxes, scores, 0.6).tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.9).tolist() == [3, 0, 1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_nms_matches_reference_on_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (60, 2))], 1)
    scores = rng.uniform(0, 1, 60)
    for thr in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, thr).tolist() == _reference_nms(boxes, scores, thr)


def test_batched_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0.5, 0, 10.5, 10]], float)
    scores = np.array([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.45).tolist() == [0, 1]
    assert batched_nms(boxes, scores, np.array([0, 0, 0]), 0.45).tolist() == [0]
    assert batched_nms(boxes, scores, np.array([2, 1, 0]), 0.45).tolist() == [0, 1, 2]


def test_coco_detection_file(data_dir, tmp_path):
    det_file = data_dir / "mmpose_tests/coco/test_coco_det_AP_H_56.json"
    records = [r for r in json.loads(det_file.read_text()) if r["image_id"] == 785]
    boxes, scores = boxes_from_coco_detections(det_file, 785)
    assert boxes.shape == (len(records), 4) and len(records) > 1
    assert np.all(np.diff(scores) <= 0)
    top = max(records, key=lambda r: r["score"])
    x, y, w, h = top["bbox"]
    np.testing.assert_allclose(boxes[0], [x, y, x + w, y + h], rtol=1e-6)
    by_name = boxes_from_coco_detections(det_file, "000000000785.jpg")
    np.testing.assert_array_equal(by_name[0], boxes)
    thr_boxes, thr_scores = boxes_from_coco_detections(det_file, 785, score_thr=0.5)
    assert len(thr_boxes) == sum(r["score"] >= 0.5 for r in records) and thr_scores.min() >= 0.5
    empty = boxes_from_coco_detections(det_file, 123456789)
    assert empty[0].shape == (0, 4) and empty[1].shape == (0,)

    bad = tmp_path / "bad_dets.json"
    bad.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1},
                               {"image_id": 1, "bbox": [0, 0], "score": 1}]))
    with pytest.raises(InputError, match=r"bad_dets.json: record 1"):
        boxes_from_coco_detections(bad, 1)
    with pytest.raises(InputError, match="does not exist"):
        boxes_from_coco_detections(tmp_path / "none.json", 1)
    with pytest.raises(InputError, match="image id"):
        boxes_from_coco_detections(det_file, "frame.jpg")


def test_detection_file_without_person_boxes(tmp_path):
    from heatpose.inference.detector import read_detection_file

    cars = tmp_path / "cars.json"
    cars.write_text(json.dumps([{"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5],
                                 "score": 0.9}]))
    with pytest.raises(InputError, match=r"cars.json: none of its 1 records has category_id 1"):
        read_detection_file(cars)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")                         # no detections at all: nothing to complain of
    assert len(read_detection_file(empty)) == 0


def test_whole_image_box():
    np.testing.assert_array_equal(whole_image_box(np.zeros((30, 40, 3), np.uint8)),
                                  [[0, 0, 40, 30]])


def test_bad_inputs(detector, model_path):
    with pytest.raises(InputError, match="uint8"):
        detector(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="shape"):
        detector(np.zeros((10, 10, 5), np.uint8))
    gray = detector(np.zeros((64, 64), np.uint8))          # grayscale is accepted
    assert gray[0].shape[1] == 4
    with pytest.raises(InputError, match="takes 416x416"):
        YOLOXDetector(model_path, input_size=(640, 640))
    with pytest.raises(InputError, match="does not exist"):
        YOLOXDetector(model_path.parent / "missing.onnx")


def test_from_pretrained_uses_cache(model_path, monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path))
    shutil.copy(model_path, tmp_path / "yolox_nano.onnx")   # pretend it was downloaded before
    det = YOLOXDetector.from_pretrained("yolox-nano", score_thr=0.5)
    assert det.model_path == tmp_path / "yolox_nano.onnx" and det.score_thr == 0.5
    boxes, _ = det(cv2.imread(str(data_dir / "mmpose_tests/coco/000000000785.jpg")))
    assert len(boxes) == 1
    with pytest.raises(UnknownModelError, match="yolox-nano"):
        YOLOXDetector.from_pretrained("yolov9")


def test_missing_onnxruntime_message(monkeypatch, model_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(HeatposeError, match=r"pip install heatpose\[detector\]"):
        YOLOXDetector(model_path)
