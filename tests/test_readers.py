"""Annotation readers against MMPose 1.3.2's dataset classes (tests/fixtures/mmpose_pipeline.npz,
made by tools/dump_mmpose_pipeline.py with the peer) and on corrupt input."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from heatpose.data.readers import (DATASET_FORMATS, InstanceRecord, is_valid_instance,
                                   read_coco_style, read_dataset, read_detections, read_mpii,
                                   read_mpii_trb, read_posetrack18)
from heatpose.data.readers.record import SkippedRecordsWarning
from heatpose.errors import InputError

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_pipeline.npz"

# fixture key -> (dataset name, annotation file under mmpose_tests)
FILES = {
    "coco": ("coco", "coco/test_coco.json"),
    "coco_wholebody": ("coco_wholebody", "coco/test_coco_wholebody.json"),
    "aic": ("aic", "aic/test_aic.json"),
    "crowdpose": ("crowdpose", "crowdpose/test_crowdpose.json"),
    "ochuman": ("ochuman", "ochuman/test_ochuman.json"),
    "mhp": ("mhp", "mhp/test_mhp.json"),
    "halpe": ("halpe", "halpe/test_halpe.json"),
    "jhmdb": ("jhmdb", "jhmdb/test_jhmdb_sub1.json"),
    "deepfashion_full": ("deepfashion_full", "fld/test_fld.json"),
    "deepfashion2": ("deepfashion2", "deepfasion2/deepfasion2.json"),
    "posetrack18": ("posetrack18", "posetrack18/annotations/test_posetrack18_val.json"),
    "posetrack18_003418": ("posetrack18", "posetrack18/annotations/val/003418_mpii_test.json"),
    "posetrack18_009473": ("posetrack18", "posetrack18/annotations/val/009473_mpii_test.json"),
    "posetrack18_012834": ("posetrack18", "posetrack18/annotations/val/012834_mpii_test.json"),
    "mpii": ("mpii", "mpii/test_mpii.json"),
    "mpii_trb": ("mpii_trb", "mpii/test_mpii_trb.json"),
}
DETECTIONS = {
    "coco_det": ("coco", "coco/test_coco.json", "coco/test_coco_det_AP_H_56.json"),
    "crowdpose_det": ("crowdpose", "crowdpose/test_crowdpose.json",
                      "crowdpose/test_crowdpose_det_AP_40.json"),
    "posetrack18_det": ("posetrack18", "posetrack18/annotations/test_posetrack18_val.json",
                        "posetrack18/annotations/test_posetrack18_human_detections.json"),
}


@pytest.fixture(scope="module")
def ref():
    return np.load(FIXTURE)


def assert_same_as_mmpose(records, ref, key):
    p = f"ds/{key}/"
    assert len(records) == int(ref[p + "count"])
    np.testing.assert_array_equal([r.ann_id for r in records], ref[p + "ann_id"])
    np.testing.assert_array_equal([r.img_id for r in records], ref[p + "img_id"])
    assert [os.path.basename(r.img_path) for r in records] == list(ref[p + "img_name"])
    np.testing.assert_allclose(np.stack([r.bbox for r in records]), ref[p + "bbox"], atol=1e-4)
    np.testing.assert_allclose([r.bbox_score for r in records], ref[p + "bbox_score"], atol=1e-7)
    np.testing.assert_allclose(np.stack([r.keypoints for r in records]), ref[p + "keypoints"],
                               atol=1e-4)
    np.testing.assert_array_equal(np.stack([r.keypoints_visible for r in records]),
                                  ref[p + "keypoints_visible"])
    if p + "num_keypoints" in ref.files:
        np.testing.assert_array_equal([r.num_keypoints for r in records],
                                      ref[p + "num_keypoints"])
    if p + "area" in ref.files:
        np.testing.assert_allclose([r.area for r in records], ref[p + "area"], rtol=1e-6)
    if p + "bbox_center" in ref.files:
        np.testing.assert_allclose(np.stack([r.bbox_center for r in records]),
                                   ref[p + "bbox_center"], atol=1e-4)
        np.testing.assert_allclose(np.stack([r.bbox_scale for r in records]),
                                   ref[p + "bbox_scale"], atol=1e-4)
    if p + "crowd_index" in ref.files:
        np.testing.assert_allclose([r.extras["crowd_index"] for r in records],
                                   ref[p + "crowd_index"], rtol=1e-6)


@pytest.mark.parametrize("key", sorted(FILES))
def test_dataset_matches_mmpose(key, ref, data_dir):
    name, ann = FILES[key]
    records = read_dataset(name, data_dir / "mmpose_tests" / ann, img_prefix="images")
    assert_same_as_mmpose(records, ref, key)
    assert all(r.img_path.startswith("images" + os.sep) for r in records)
    assert all(len(r.keypoints) == DATASET_FORMATS[name][1] for r in records)


def test_keypoint_partition_file_loads_with_its_own_count(ref, data_dir):
    # 133 keypoints in 'keypoints': read as COCO-style without a schema check, like MMPose
    path = data_dir / "mmpose_tests/coco/test_keypoint_partition_metric.json"
    records = [r for r in read_coco_style(path) if is_valid_instance(r)]
    assert_same_as_mmpose(records, ref, "coco_partition")
    with pytest.raises(InputError, match="annotation id .* has 133 keypoints.* 17"):
        read_dataset("coco", path)


def test_coco_mini_matches_mmpose(ref, data_dir):
    records = read_dataset("coco", data_dir / "coco_mini/annotations/"
                           "person_keypoints_train2017.json")
    assert len(records) == 86
    assert_same_as_mmpose(records, ref, "coco_mini")


@pytest.mark.parametrize("key", sorted(DETECTIONS))
@pytest.mark.parametrize("thr", [0.0, 0.5])
def test_detection_boxes_match_mmpose(key, thr, ref, data_dir):
    name, ann, det = DETECTIONS[key]
    root = data_dir / "mmpose_tests"
    records = read_dataset(name, root / ann, bbox_file=root / det, score_thr=thr)
    assert_same_as_mmpose(records, ref, key + ("_thr" if thr else ""))
    assert all(r.num_keypoints is None and not r.keypoints.any() for r in records)
    assert all(r.bbox_score >= thr for r in records)


def test_filtering_drops_crowd_and_empty(data_dir):
    path = data_dir / "mmpose_tests/coco/test_coco.json"
    everything = read_dataset("coco", path, filter_invalid=False)
    kept = read_dataset("coco", path)
    dropped = [r for r in everything if r.ann_id not in {k.ann_id for k in kept}]
    assert len(dropped) == 2
    assert all(r.iscrowd or r.num_keypoints == 0 for r in dropped)


def test_bbox_clipped_to_image(data_dir):
    recs = read_dataset("coco", data_dir / "mmpose_tests/coco/test_coco.json")
    for r in recs:
        h, w = r.img_shape
        assert (r.bbox >= 0).all() and r.bbox[2] <= w - 1 and r.bbox[3] <= h - 1


def test_jhmdb_one_based_offsets(data_dir):
    path = data_dir / "mmpose_tests/jhmdb/test_jhmdb_sub1.json"
    raw = json.loads(path.read_text())
    rec = read_dataset("jhmdb", path)[0]
    ann = next(a for a in raw["annotations"] if a["id"] == rec.ann_id)
    kp = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
    np.testing.assert_allclose(rec.keypoints, kp[:, :2] - 1)
    assert rec.bbox[0] == pytest.approx(max(ann["bbox"][0] - 1, 0))


def test_posetrack_folder_equals_per_video_files_and_keeps_frame_info(data_dir):
    folder = data_dir / "mmpose_tests/posetrack18/annotations/val"
    merged = read_posetrack18(folder)
    parts = sum((read_posetrack18(folder / f) for f in sorted(os.listdir(folder))), [])
    assert [r.ann_id for r in merged] == [r.ann_id for r in parts] and len(merged) == 14
    r = merged[0]
    assert {"frame_id", "vid_id", "nframes", "track_id"} <= set(r.extras)
    assert r.extras["frame_id"] == r.img_id


def test_deepfashion2_category_selection(data_dir):
    path = data_dir / "mmpose_tests/deepfasion2/deepfasion2.json"
    cats = {a["category_id"] for a in json.loads(path.read_text())["annotations"]}
    all_recs = read_dataset("deepfashion2", path)
    for cat in cats:
        sel = read_dataset("deepfashion2", path, category_ids=[cat])
        assert sel and all(r.category_id == cat for r in sel)
        assert len(sel) == sum(r.category_id == cat for r in all_recs)
    assert read_dataset("deepfashion2", path, category_ids=[99]) == []


def test_mpii_headbox_file_gives_head_size(tmp_path, data_dir):
    scipy_io = pytest.importorskip("scipy.io")
    path = data_dir / "mmpose_tests/mpii/test_mpii.json"
    n = len(json.loads(path.read_text()))
    boxes = np.zeros((2, 2, n))
    boxes[0, :, :] = [[10.0] * n, [20.0] * n]                     # corner 1 (x, y)
    boxes[1, :, :] = [np.arange(n) + 13.0, np.arange(n) + 24.0]   # corner 2
    mat = tmp_path / "mpii_gt_val.mat"
    scipy_io.savemat(mat, {"headboxes_src": boxes})
    recs = read_mpii(path, headbox_file=mat)
    for i, r in enumerate(recs):
        assert r.extras["head_size"] == pytest.approx(0.6 * np.hypot(3 + i, 4 + i))
    with pytest.raises(InputError, match="headboxes_src"):
        scipy_io.savemat(tmp_path / "bad.mat", {"other": boxes})
        read_mpii(path, headbox_file=tmp_path / "bad.mat")


def test_mpii_trb_sorted_and_headbox(data_dir):
    recs = read_mpii_trb(data_dir / "mmpose_tests/mpii/test_mpii_trb.json")
    assert [r.ann_id for r in recs] == sorted(r.ann_id for r in recs)
    assert all(r.bbox_center is not None and r.keypoints.shape == (40, 2) for r in recs)


# ----------------------------------------------------------------------------- corrupt input
def _coco(tmp_path: Path, mutate) -> Path:
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
            "annotations": [{"id": 7, "image_id": 1, "bbox": [10, 10, 30, 40],
                             "keypoints": [20, 20, 2] * 17, "num_keypoints": 17,
                             "iscrowd": 0, "category_id": 1}]}
    mutate(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_valid_synthetic_file(tmp_path):
    recs = read_dataset("coco", _coco(tmp_path, lambda d: None))
    assert len(recs) == 1 and isinstance(recs[0], InstanceRecord)
    np.testing.assert_allclose(recs[0].bbox, [10, 10, 40, 50])
    assert recs[0].area == pytest.approx(30 * 40 * 0.53, rel=1e-6)   # no 'area' in the file


@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2] * 16), r"annotation id 7: has 16"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2] * 17), r"annotation id 7:.*multiple"),
    (lambda d: d["annotations"][0].update(keypoints=["a"] * 51), r"annotation id 7:.*numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]), r"annotation id 7: field 'bbox'"),
    (lambda d: d["annotations"][0].pop("image_id"), r"annotation id 7: missing field 'image_id'"),
    (lambda d: d["annotations"][0].update(image_id=5), r"annotation id 7: image_id 5"),
    (lambda d: d["images"][0].pop("width"), r"image id 1: missing field 'width'"),
    (lambda d: d.pop("images"), r"missing field 'images'"),
    (lambda d: d["annotations"][0].update(bbox=[10, float("nan"), 30, 40]),
     r"annotation id 7: field 'bbox' is NaN"),
    (lambda d: d["annotations"][0].update(keypoints=[20, 20, 2] * 16 + [float("inf"), 1, 2]),
     r"annotation id 7: field 'keypoints' holds NaN or infinity"),
    (lambda d: d["annotations"][0].update(area=float("nan")), r"annotation id 7: field 'area'"),
    (lambda d: d["images"][0].update(width=0), r"image id 1: field 'width' is not positive"),
    (lambda d: d["images"][0].update(height="tall"), r"image id 1: field 'height' is not a"),
    (lambda d: d["annotations"][0].update(image_id=[1]),
     r"annotation id 7: field .image_id. must be an integer or a string, got \[1\]"),
])
def test_bad_records_name_file_and_record(tmp_path, mutate, pattern):
    path = _coco(tmp_path, mutate)
    with pytest.raises(InputError, match=pattern) as err:
        read_dataset("coco", path)
    assert str(path) in str(err.value)


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(InputError, match="not valid JSON"):
        read_dataset("coco", bad)
    with pytest.raises(InputError, match="not found"):
        read_dataset("mpii", tmp_path / "nope.json")
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="COCO-style"):
        read_dataset("aic", bad)
    with pytest.raises(InputError, match="unknown dataset"):
        read_dataset("cocoo", bad)


def test_bad_mpii_and_detections(tmp_path, data_dir):
    mpii = tmp_path / "mpii.json"
    mpii.write_text(json.dumps([{"image": "1.jpg", "center": [5, 5], "scale": 1.0,
                                 "joints": [[1, 1]] * 15, "joints_vis": [1] * 15}]))
    with pytest.raises(InputError, match=r"annotation #0: has 15 keypoints"):
        read_dataset("mpii", mpii)
    mpii.write_text(json.dumps({"image": "x"}))
    with pytest.raises(InputError, match="list of annotations"):
        read_dataset("mpii", mpii)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 123, "category_id": 1, "bbox": [0, 0, 5, 5],
                                 "score": 0.9}]))
    ann = data_dir / "mmpose_tests/coco/test_coco.json"
    with pytest.raises(InputError, match=r"detection #0: image_id 123"):
        read_detections(dets, ann, 17)
    dets.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": [0, 0, 5, 5]}]))
    with pytest.raises(InputError, match=r"detection #0: missing field 'score'"):
        read_detections(dets, ann, 17)


@pytest.mark.parametrize("bbox", [[10, 10, -5, 40], [150, 10, 30, 40], [10, 10, 0, 40]])
def test_empty_boxes_are_skipped_with_one_warning(tmp_path, bbox):
    """Negative / zero size and boxes outside the image: MMPose's filter drops them; the reader
    says so once per file, naming the count and the first record."""
    def mutate(d):
        d["annotations"].append(dict(d["annotations"][0], id=8, bbox=bbox))
        d["annotations"].append(dict(d["annotations"][0], id=9, bbox=bbox))
    path = _coco(tmp_path, mutate)
    with pytest.warns(SkippedRecordsWarning, match=r"ann.json: 2 records skipped: box empty.*"
                                                   r"first: annotation id 8"):
        recs = read_dataset("coco", path)
    assert [r.ann_id for r in recs] == [7]


def test_mpii_bad_numbers_name_the_record(tmp_path):
    good = {"image": "1.jpg", "center": [5, 5], "scale": 1.0, "joints": [[1, 1]] * 16,
            "joints_vis": [1] * 16}
    mpii = tmp_path / "mpii.json"
    for change, pattern in [({"center": [5, float("nan")]}, "center' holds NaN"),
                            ({"scale": 0}, "scale' is 0, not positive"),
                            ({"scale": "big"}, "scale' is not a number"),
                            ({"joints": [[1, 1]] * 15 + [[1, float("inf")]]}, "joints' holds NaN")]:
        mpii.write_text(json.dumps([good, dict(good, **change)]))
        with pytest.raises(InputError, match=f"mpii.json: annotation #1: field '{pattern}"):
            read_dataset("mpii", mpii)


@pytest.mark.parametrize("det, pattern", [
    ({"bbox": [0, 0, float("nan"), 5]}, r"detection #1: field 'bbox' holds NaN"),
    ({"score": float("nan")}, r"detection #1: field 'score' is NaN"),
    ({"score": None}, r"detection #1: field 'score' is not a number"),
    ({"bbox": [0, 0, -3, 5]}, r"detection #1: 'bbox' \[x, y, w, h\] has a negative size"),
    ({"image_id": 999}, r"detection #1: image_id 999 is not an image of"),
])
def test_bad_detections_name_the_record(tmp_path, data_dir, det, pattern):
    good = {"image_id": 785, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([good, dict(good, **det)]))
    with pytest.raises(InputError, match=pattern) as err:
        read_detections(dets, data_dir / "mmpose_tests/coco/test_coco.json", 17)
    assert str(dets) in str(err.value)


def test_zero_size_detection_is_skipped_with_a_warning(tmp_path, data_dir):
    good = {"image_id": 785, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([good, dict(good, bbox=[3, 3, 0, 0]),
                                dict(good, bbox=[3, 3, 0, 5])]))
    with pytest.warns(SkippedRecordsWarning, match=r"1 record skipped: box of zero width and "
                                                   r"height.*detection #1"):
        recs = read_detections(dets, data_dir / "mmpose_tests/coco/test_coco.json", 17)
    assert [r.ann_id for r in recs] == [0, 2]          # ids stay those of the file's order
