"""Top-down transforms and TopdownDataset: equal to MMPose 1.3.2's pipeline for the same random
draws (tests/fixtures/mmpose_pipeline.npz from tools/dump_mmpose_pipeline.py), plus flip,
half-body and sampling properties."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from heatpose.codecs import MSRAHeatmap, UDPHeatmap
from heatpose.data import transforms as T
from heatpose.data.dataset import TopdownDataset, collate_topdown
from heatpose.data.images import read_image
from heatpose.data.readers import read_dataset
from heatpose.errors import InputError
from heatpose.schema import get_schema

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_pipeline.npz"
COCO = get_schema("coco")


@pytest.fixture(scope="module")
def ref():
    return np.load(FIXTURE)


@pytest.fixture(scope="module")
def coco_records(data_dir):
    return read_dataset("coco", data_dir / "mmpose_tests/coco/test_coco.json")


def _sample(rec, root) -> T.TopdownSample:
    image = read_image(str(Path(root) / rec.img_path))
    return T.TopdownSample(image=image, bbox=rec.bbox.copy(), keypoints=rec.keypoints.copy(),
                           keypoints_visible=rec.keypoints_visible.copy())


def _codecs(ref):
    ins, hms, sigma = tuple(ref["input_size"]), tuple(ref["heatmap_size"]), float(ref["sigma"])
    return {"msra": MSRAHeatmap(ins, hms, sigma),
            "dark": MSRAHeatmap(ins, hms, sigma, unbiased=True),
            "udp": UDPHeatmap(ins, hms, sigma)}


def _cases(ref):
    return sorted({k.split("/")[0] for k in ref.files if k.startswith("case")})


def test_pipeline_equals_mmpose(ref, coco_records, data_dir):
    root = data_dir / "mmpose_tests/coco"
    half_used = outside = 0
    for case in _cases(ref):
        p = case + "/"
        rec = coco_records[int(ref[p + "index"])]
        for name, codec in _codecs(ref).items():
            if p + name + "/heatmaps" not in ref.files:
                continue
            s = _sample(rec, root)
            T.box_to_center_scale(s, 1.25, rec.bbox_center, rec.bbox_scale)
            if ref[p + "flip"]:
                T.flip_horizontal(s, COCO.flip_indices)
            half = ref[p + "half"]
            if not np.isnan(half[0]):
                ids = T.select_half_body(s.keypoints_visible, COCO.upper_body_ids,
                                         COCO.lower_body_ids, tuple(half))
                half_used += ids is not None
                T.apply_half_body(s, COCO.upper_body_ids, COCO.lower_body_ids, tuple(half))
            box = ref[p + "box"]
            if not np.isnan(box[0]):
                T.apply_bbox_transform(s, T.BBoxDraws(tuple(box[:4]), *box[4:]))
            T.topdown_affine(s, codec.input_size, codec.use_udp)
            T.generate_target(s, codec, COCO.joint_weights if ref[p + "use_weights"] else None)
            crop = "udp" if name == "udp" else "msra"
            np.testing.assert_allclose(s.center, ref[p + crop + "/center"], atol=1e-4)
            np.testing.assert_allclose(s.scale, ref[p + crop + "/scale"], atol=1e-4)
            np.testing.assert_allclose(s.input_keypoints, ref[p + crop + "/input_keypoints"],
                                       atol=1e-4)
            np.testing.assert_array_equal(s.keypoints_visible,
                                          ref[p + crop + "/keypoints_visible"])
            diff = np.abs(s.image.astype(np.int16) - ref[p + crop + "/image"]).mean()
            assert diff < 0.5, f"{case} {name}: crop differs from MMPose by {diff}"
            np.testing.assert_allclose(s.heatmaps, ref[p + name + "/heatmaps"], atol=1e-6)
            np.testing.assert_allclose(s.keypoint_weights, ref[p + name + "/weights"],
                                       atol=1e-6)
            outside += int(((s.keypoint_weights == 0) & (s.keypoints_visible > 0)).any())
    assert half_used >= 2 and outside >= 1   # the cases exercise half-body and off-crop points


def test_schema_flip_and_weights_equal_mmpose_metainfo(ref):
    np.testing.assert_array_equal(COCO.flip_indices, ref["coco_flip_indices"])
    np.testing.assert_allclose(COCO.joint_weights, ref["coco_joint_weights"])


def test_flip_twice_is_identity_and_swaps_names(coco_records, data_dir):
    rec = coco_records[0]
    s = _sample(rec, data_dir / "mmpose_tests/coco")
    T.box_to_center_scale(s)
    orig = (s.image.copy(), s.bbox.copy(), s.center.copy(), s.keypoints.copy(),
            s.keypoints_visible.copy())
    T.flip_horizontal(s, COCO.flip_indices)
    w = s.image.shape[1]
    names = COCO.keypoint_names
    le, re = names.index("left_eye"), names.index("right_eye")
    assert s.keypoints[le, 0] == pytest.approx(w - 1 - orig[3][re, 0])
    assert s.keypoints[le, 1] == orig[3][re, 1]
    assert s.keypoints_visible[le] == orig[4][re]
    np.testing.assert_array_equal(s.image[:, 0], orig[0][:, -1])
    assert s.bbox[0] == pytest.approx(w - 1 - orig[1][2]) and s.flipped
    T.flip_horizontal(s, COCO.flip_indices)
    assert not s.flipped
    for now, before in zip((s.image, s.bbox, s.center, s.keypoints, s.keypoints_visible), orig):
        np.testing.assert_allclose(now, before, atol=1e-4)


def test_random_flip_rate_and_reproducibility():
    rng = np.random.default_rng(1)
    flips = [T.draw_flip(rng, 0.5) for _ in range(4000)]
    assert abs(np.mean(flips) - 0.5) < 0.03
    a = [T.draw_flip(np.random.default_rng(7)) for _ in range(3)]
    assert a == [T.draw_flip(np.random.default_rng(7)) for _ in range(3)]


def test_half_body_rules_and_statistics():
    vis = np.ones(17, np.float32)
    up, low = COCO.upper_body_ids, COCO.lower_body_ids
    cfg = T.HalfBodyConfig()
    assert T.select_half_body(vis, up, low, (0.31, 0.0)) is None          # prob 0.3
    assert T.select_half_body(vis, up, low, (0.1, 0.5)) == list(up)       # upper prioritised
    assert T.select_half_body(vis, up, low, (0.1, 0.8)) == list(low)
    few = vis.copy()
    few[:9] = 0                                                           # 8 visible < 9
    assert T.select_half_body(few, up, low, (0.0, 0.0)) is None
    no_lower = vis.copy()
    no_lower[list(low)[:5]] = 0                                           # 1 lower < 3
    assert T.select_half_body(no_lower, up, low, (0.0, 0.9)) == [i for i in up]
    rng = np.random.default_rng(0)
    picks = [T.select_half_body(vis, up, low, T.draw_half_body(rng), cfg) for _ in range(5000)]
    applied = [p for p in picks if p is not None]
    assert abs(len(applied) / 5000 - 0.3) < 0.02
    assert abs(sum(p == list(up) for p in applied) / len(applied) - 0.7) < 0.03
    kpts = np.array([[0, 0], [10, 20], [4, 8]], np.float32)
    c, s = T.half_body_center_scale(kpts, [0, 1, 2], 1.5)
    np.testing.assert_allclose(c, [14 / 3, 28 / 3], rtol=1e-6)
    np.testing.assert_allclose(s, [15, 30])


def test_truncated_normal_and_bbox_params():
    rng = np.random.default_rng(3)
    x = T.truncated_normal(rng, 20000)
    assert np.abs(x).max() <= 1.0
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    std = math.sqrt(1 - 2 * phi / math.erf(1 / math.sqrt(2)))   # std of N(0,1) cut at +-1
    assert abs(x.mean()) < 0.01 and abs(x.std() - std) < 0.01
    cfg = T.BBoxTransformConfig()
    off, factor, rot = T.bbox_transform_params(T.BBoxDraws((1, -1, 1, -1), 0.0, 0.0, 0.0), cfg)
    np.testing.assert_allclose(off, [0.16, -0.16], rtol=1e-6)
    assert factor == pytest.approx(1.5) and rot == pytest.approx(-80)
    off, factor, rot = T.bbox_transform_params(T.BBoxDraws((1, 1, -1, 1), 0.3, 1.0, 0.6), cfg)
    assert not off.any() and factor == 1.0 and rot == 0.0              # probs not met
    draws = [T.draw_bbox_transform(rng) for _ in range(3000)]
    rot_on = np.mean([T.bbox_transform_params(d)[2] != 0 for d in draws])
    shift_on = np.mean([T.bbox_transform_params(d)[0].any() for d in draws])
    assert abs(rot_on - 0.6) < 0.03 and abs(shift_on - 0.3) < 0.03


def test_normalize_batch_matches_formula():
    img = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    out = T.normalize_batch(img)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (img.float()[:, [2, 1, 0]] - mean) / std)


# ----------------------------------------------------------------------------- dataset
def test_train_dataset_items_reproducible_and_collated(coco_records, data_dir):
    codec = MSRAHeatmap((48, 64), (12, 16), 2.0)
    ds = TopdownDataset(coco_records[:4], data_dir / "mmpose_tests/coco", COCO, codec,
                        train=True, seed=5)
    img, hm, w, meta = ds[1]
    assert img.dtype == torch.uint8 and img.shape == (3, 64, 48)
    assert hm.shape == (17, 16, 12) and w.shape == (17,)
    again = ds[1]
    assert torch.equal(img, again[0]) and torch.equal(hm, again[1])
    ds.set_epoch(1)
    assert not all(torch.equal(ds[i][0], TopdownDataset(
        coco_records[:4], data_dir / "mmpose_tests/coco", COCO, codec, True, seed=5)[i][0])
        for i in range(4))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_topdown)
    images, heatmaps, weights, meta = next(iter(loader))
    assert images.shape == (4, 3, 64, 48) and heatmaps.shape == (4, 17, 16, 12)
    assert meta["keypoints_visible"].shape == (4, 17) and len(meta["img_path"]) == 4


def test_test_dataset_gives_decoding_meta(coco_records, data_dir):
    codec = UDPHeatmap((48, 64), (12, 16), 2.0)
    ds = TopdownDataset(coco_records[:2], data_dir / "mmpose_tests/coco", COCO, codec,
                        train=False)
    img, hm, w, meta = ds[0]
    assert hm is None and w is None
    rec = coco_records[0]
    c = (rec.bbox[:2] + rec.bbox[2:]) / 2
    np.testing.assert_allclose(meta["center"], c, rtol=1e-6)
    bw, bh = (rec.bbox[2:] - rec.bbox[:2]) * 1.25
    np.testing.assert_allclose(meta["scale"], [max(bw, bh * 0.75), max(bh, bw / 0.75)],
                               rtol=1e-5)
    assert meta["bbox_score"] == 1.0 and meta["keypoints"].shape == (17, 2)
    batch = collate_topdown([ds[0], ds[1]])
    assert batch[1] is None and batch[3]["center"].shape == (2, 2)


def test_mpii_sample_pads_given_center_scale(data_dir):
    recs = read_dataset("mpii", data_dir / "mmpose_tests/mpii/test_mpii.json")
    codec = MSRAHeatmap((64, 64), (16, 16), 2.0)
    ds = TopdownDataset(recs, data_dir / "mmpose_tests/mpii", get_schema("mpii"), codec, False)
    meta = ds[0][3]
    np.testing.assert_allclose(meta["center"], recs[0].bbox_center)
    np.testing.assert_allclose(meta["scale"], recs[0].bbox_scale * 1.25, rtol=1e-6)


def test_missing_and_corrupt_images_name_file_and_record(coco_records, data_dir, tmp_path):
    rec = coco_records[0]
    codec = MSRAHeatmap((48, 64), (12, 16), 2.0)
    ds = TopdownDataset([rec], tmp_path, COCO, codec, train=True)
    with pytest.raises(InputError, match=rf"{rec.img_path}: image not found.*ann_id {rec.ann_id}"):
        ds[0]
    (tmp_path / rec.img_path).write_bytes(b"not a jpeg at all")
    with pytest.raises(InputError, match=rf"not a readable image.*ann_id {rec.ann_id}"):
        ds[0]
    shutil.copy(data_dir / "mmpose_tests/coco" / rec.img_path, tmp_path / rec.img_path)
    assert ds[0][0].shape == (3, 64, 48)
    with pytest.raises(InputError, match="has 16 keypoints, schema 'coco' has 17"):
        TopdownDataset(read_dataset("mpii", data_dir / "mmpose_tests/mpii/test_mpii.json"),
                       tmp_path, COCO, codec, train=True)
