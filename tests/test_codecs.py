"""Heatmap codecs and flip test: MMPose 1.3.2 reference values (codecs.npz) and properties."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from heatpose.codecs import (MSRAHeatmap, UDPHeatmap, codec_from_dict, flip_heatmaps,
                             flip_visibility, merge_flip)
from heatpose.codecs.refine import gaussian_blur_channels
from heatpose.errors import InputError

CODEC_NAMES = ["msra_s2", "msra_s3", "msra_s2_dark", "msra_s3_dark", "udp_gaussian",
               "udp_combined"]
KP_ATOL = {"msra_s2": 1e-4, "msra_s3": 1e-4}          # DARK and UDP: 1e-3


@pytest.fixture(scope="module")
def ref(reference_dir):
    with np.load(reference_dir / "codecs.npz") as f:
        return {k: f[k] for k in f.files}


def _codec(ref, name):
    return codec_from_dict(json.loads(str(ref["codec_params_json"]))[name])


def _decode_inputs(ref, name, codec):
    w, h = codec.heatmap_size
    rnd = (ref["random_combined_64x48"] if codec.num_channels_per_keypoint == 3
           else ref[f"random_heatmaps_{h}x{w}"])
    return np.concatenate([ref[f"{name}_enc_heatmaps"], rnd])


# ---------------------------------------------------------------- reference values
@pytest.mark.parametrize("name", CODEC_NAMES)
def test_encode_matches_mmpose(ref, name):
    codec = _codec(ref, name)
    kpts = ref["keypoints_%dx%d" % tuple(codec.input_size)]
    vis = ref["keypoints_visible"]
    for n in range(kpts.shape[0]):
        heatmaps, weights = codec.encode(kpts[n:n + 1], vis[n:n + 1])
        assert heatmaps.dtype == np.float32 and weights.dtype == np.float32
        np.testing.assert_allclose(heatmaps, ref[f"{name}_enc_heatmaps"][n], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(weights, ref[f"{name}_enc_weights"][n:n + 1])


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_decode_matches_mmpose_and_batch_equals_single(ref, name):
    codec = _codec(ref, name)
    inputs = _decode_inputs(ref, name, codec)
    want_k, want_s = ref[f"{name}_dec_keypoints"], ref[f"{name}_dec_scores"]
    batch_k, batch_s = codec.decode(inputs)
    assert batch_k.shape == want_k.shape and batch_s.shape == want_s.shape
    for i, hm in enumerate(inputs):
        k, s = codec.decode(hm)
        assert k.shape == (1,) + want_k.shape[1:] and s.shape == (1,) + want_s.shape[1:]
        np.testing.assert_allclose(k[0], want_k[i], rtol=0, atol=KP_ATOL.get(name, 1e-3),
                                   equal_nan=True, err_msg=f"{name} input {i}")
        np.testing.assert_array_equal(s[0], want_s[i])
        np.testing.assert_array_equal(batch_k[i], k[0])
        np.testing.assert_array_equal(batch_s[i], s[0])
    # decode must not modify its input
    np.testing.assert_array_equal(inputs, _decode_inputs(ref, name, codec))


def test_documented_quirks_are_in_the_reference(ref):
    # MSRA: channel 5 of the random sets is all zero and 6 all negative -> (-1, -1) * stride
    for name in ("msra_s2", "msra_s2_dark"):
        np.testing.assert_array_equal(ref[f"{name}_dec_keypoints"][3:, 5:7], -4.0)
        k, _ = _codec(ref, name).decode(ref["random_heatmaps_64x48"])
        np.testing.assert_array_equal(k[:, 5:7], -4.0)
    # UDP gaussian: the all-zero channel 5 is NaN (0/0 in the blur rescale); channel 6
    # (max <= 0, location (-1, -1)) reads its neighbours from channel 5 and so is NaN too
    k, _ = _codec(ref, "udp_gaussian").decode(ref["random_heatmaps_64x48"])
    assert np.isnan(ref["udp_gaussian_dec_keypoints"][3:, 5:7]).all()
    assert np.isnan(k[:, 5:7]).all() and not np.isnan(np.delete(k, [5, 6], axis=1)).any()


@pytest.mark.parametrize("as_torch", [False, True])
def test_flip_heatmaps_matches_mmpose(ref, as_torch):
    fi = ref["coco_flip_indices"].tolist()
    conv = torch.from_numpy if as_torch else (lambda a: a)
    cases = [("flip_in", "heatmap", True, "flip_out_shift"),
             ("flip_in", "heatmap", False, "flip_out_noshift"),
             ("flip_in_combined", "udp_combined", False, "flip_out_udp_combined")]
    for src, mode, shift, out in cases:
        x = conv(ref[src].copy())
        y = flip_heatmaps(x, fi, flip_mode=mode, shift=shift)
        assert type(y) is type(x)
        np.testing.assert_array_equal(np.asarray(y), ref[out])
        np.testing.assert_array_equal(np.asarray(x), ref[src])        # input untouched


# ---------------------------------------------------------------- properties
ROUND_TRIP = [
    MSRAHeatmap((192, 256), (48, 64), 2, unbiased=True),
    MSRAHeatmap((288, 384), (72, 96), 3, unbiased=True, blur_kernel_size=17),
    UDPHeatmap((192, 256), (48, 64)),
    UDPHeatmap((288, 384), (72, 96), sigma=3, blur_kernel_size=17),
    UDPHeatmap((192, 256), (48, 64), heatmap_type="combined"),
]


@pytest.mark.parametrize("codec", ROUND_TRIP, ids=repr)
def test_round_trip_recovers_subpixel_keypoints(codec):
    w, h = codec.input_size
    kpts = np.random.default_rng(3).uniform(0.15, 0.85, (8, 17, 2)).astype(np.float32) * [w, h]
    kpts = kpts.astype(np.float32)
    heatmaps = np.stack([codec.encode(kpts[i:i + 1])[0] for i in range(len(kpts))])
    got, scores = codec.decode(heatmaps)
    # UDP encodes with stride (in-1)/(hm-1) but MMPose decodes with in/(hm-1)
    want = kpts * (np.array([w, h]) / (np.array([w, h]) - 1) if codec.use_udp else 1)
    assert np.abs(got - want).max() < 0.1
    assert (scores > 0.25).all()


@pytest.mark.parametrize("size,sigma", [((192, 256), 2), ((288, 384), 3)])
def test_msra_targets_and_decode(size, sigma):
    codec = MSRAHeatmap(size, (size[0] // 4, size[1] // 4), sigma)
    stride = 4.0
    kpts = np.array([[[50.3, 70.9], [-60.0, 10.0], [20.0, 30.0], [size[0] + 50.0, 5.0]]],
                    np.float32)
    vis = np.array([[1.0, 1.0, 0.3, 0.8]], np.float32)
    heatmaps, weights = codec.encode(kpts, vis)
    np.testing.assert_array_equal(weights, np.array([[1.0, 0.0, 0.3, 0.0]], np.float32))
    assert heatmaps[1:].max() == 0                          # outside, invisible, outside
    mu = np.floor(kpts[0, 0] / stride + 0.5).astype(int)
    assert heatmaps[0, mu[1], mu[0]] == 1.0 == heatmaps[0].max()
    # the Gaussian is 3 sigma wide and symmetric about the rounded centre
    row = heatmaps[0, mu[1]]
    assert row[mu[0] + 3 * sigma] > 0 and row[mu[0] + 3 * sigma + 1] == 0
    np.testing.assert_allclose(heatmaps[0, mu[1], mu[0] + 1], np.exp(-1 / (2 * sigma ** 2)),
                               rtol=1e-6)
    k, s = codec.decode(heatmaps)
    np.testing.assert_allclose(k[0, 0], mu * stride)        # symmetric peak: no quarter step
    np.testing.assert_array_equal(k[0, 1:], -stride)        # max <= 0 -> (-1, -1) * stride
    np.testing.assert_array_equal(s[0], [1, 0, 0, 0])


def _gaussian_targets_per_pixel(codec, kpts, vis):
    """MMPose's cropped-Gaussian targets written out pixel by pixel (one instance): keypoint
    k (visible >= 0.5) paints exp(-d^2 / 2 sigma^2) on its truncated window, where d is the
    distance in patch samples from the patch centre (plus the sub-pixel part for UDP)."""
    w, h = codec.heatmap_size
    radius = codec.sigma * 3
    g, c0 = int(np.ceil(2 * radius + 1)), (2 * radius + 1) // 2
    out = np.zeros((kpts.shape[1], h, w), np.float32)
    centre = kpts[0] / codec.scale_factor
    for k, (cx, cy) in enumerate(centre):
        mu = (centre[k] + 0.5).astype(np.int64)
        lt, rb = (mu - radius).astype(np.int64), (mu + radius + 1).astype(np.int64)
        if vis[0, k] < 0.5 or lt[0] >= w or lt[1] >= h or rb[0] < 0 or rb[1] < 0:
            continue
        sub = (float(cx) - mu[0] + c0, float(cy) - mu[1] + c0) if codec.use_udp else (c0, c0)
        for y in range(max(lt[1], 0), min(rb[1], lt[1] + g, h)):
            for x in range(max(lt[0], 0), min(rb[0], lt[0] + g, w)):
                if codec.use_udp:
                    d2 = (x - lt[0] - sub[0]) ** 2 + (y - lt[1] - sub[1]) ** 2
                    out[k, y, x] = np.exp(-d2 / (2 * codec.sigma ** 2))
                else:
                    ex, ey = (np.float32(o) - np.float32(c0) for o in (x - lt[0], y - lt[1]))
                    out[k, y, x] = np.exp(-(ey ** 2 + ex ** 2) / np.float32(2 * codec.sigma ** 2))
    return out


@pytest.mark.parametrize("codec", [MSRAHeatmap((20, 28), (5, 7), 2.0),
                                   MSRAHeatmap((48, 64), (12, 16), 0.7),
                                   UDPHeatmap((20, 28), (5, 7), sigma=1.5),
                                   UDPHeatmap((48, 64), (12, 16), sigma=0.7)], ids=repr)
def test_gaussian_patches_equal_per_pixel_rule_at_edges(codec):
    """Patches pasted per keypoint equal the per-pixel rule bit for bit: windows cut by each
    heatmap side, non-integer 3 sigma, keypoints just outside, invisible and negative."""
    w, h = codec.input_size
    rng = np.random.default_rng(5)
    for _ in range(20):
        kpts = (rng.uniform(-0.4, 1.4, (1, 12, 2)) * [w, h]).astype(np.float32)
        kpts[0, :4] = [[0, 0], [w - 1, h - 1], [-2.0, h / 2], [w / 2, h + 1.0]]
        vis = rng.choice([0.0, 0.3, 0.5, 1.0], (1, 12)).astype(np.float32)
        heatmaps, _ = codec.encode(kpts, vis)
        np.testing.assert_array_equal(heatmaps, _gaussian_targets_per_pixel(codec, kpts, vis))


def test_msra_quarter_step_follows_larger_neighbour():
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    hm = np.zeros((3, 64, 48), np.float32)
    hm[0, 10, 20], hm[0, 10, 21], hm[0, 9, 20] = 1.0, 0.5, 0.4     # right and up
    hm[1, 30, 1], hm[1, 30, 2] = 1.0, 0.9                          # x == 1: x not refined
    hm[2, 63, 5], hm[2, 62, 5] = 1.0, 0.2                          # y == H-1: y not refined
    k, _ = codec.decode(hm)
    np.testing.assert_allclose(k[0], [[20.25 * 4, 9.75 * 4], [4.0, 120.0], [20.0, 252.0]])


def test_udp_combined_offsets_and_degenerate_channel():
    codec = UDPHeatmap((192, 256), (48, 64), heatmap_type="combined")
    kpts = np.array([[[100.3, 50.2], [10.0, 250.0], [190.0, 3.0]]], np.float32)
    heatmaps, weights = codec.encode(kpts)
    assert heatmaps.shape == (9, 64, 48) and (weights == 1).all()
    radius = 0.0546875 * 64
    x = kpts[0, 0, 0] / np.float32(191 / 47)
    np.testing.assert_allclose(heatmaps[1, 7, 3], (x - 3) / radius, rtol=1e-6)
    # a channel with max <= 0 reads offsets at flat index -1 - W of its own keypoint block,
    # i.e. pixel (W-1, H-2) of the previous keypoint's offset maps
    bad = heatmaps.copy()
    bad[3] = -1.0
    k, s = codec.decode(bad)
    off = bad[[1, 2], 62, 47] * radius
    np.testing.assert_allclose(k[0, 1], (-1 + off) / [47, 63] * [192, 256], rtol=1e-6)
    assert s[0, 1] < 0


def test_udp_flip_undoes_image_flip():
    """Targets of the mirrored crop, flipped back (no shift), equal the targets."""
    codec = UDPHeatmap((192, 256), (48, 64))
    fi = [0, 2, 1, 4, 3]
    kpts = np.random.default_rng(7).uniform(20, 170, (1, 5, 2)).astype(np.float32)
    mirrored = kpts[:, fi].copy()
    mirrored[..., 0] = 191 - mirrored[..., 0]        # UDP: pixel x -> (w - 1) - x
    hm, _ = codec.encode(kpts)
    hm_m, _ = codec.encode(mirrored)
    back = flip_heatmaps(hm_m[None], fi, flip_mode=codec.flip_mode, shift=codec.flip_shift)
    np.testing.assert_allclose(back[0], hm, atol=1e-5)


@pytest.mark.parametrize("mode,c", [("heatmap", 17), ("udp_combined", 51)])
def test_flip_is_an_involution_and_merge_averages(mode, c):
    fi = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    x = torch.randn(3, c, 8, 6, generator=torch.Generator().manual_seed(0))
    twice = flip_heatmaps(flip_heatmaps(x, fi, mode, shift=False), fi, mode, shift=False)
    assert torch.equal(twice, x)
    shifted = flip_heatmaps(x, fi, mode, shift=True)
    plain = flip_heatmaps(x, fi, mode, shift=False)
    assert torch.equal(shifted[..., 1:], plain[..., :-1]) and torch.equal(shifted[..., 0],
                                                                          plain[..., 0])
    merged = merge_flip(x.numpy(), x.numpy(), fi, mode, shift=True)
    np.testing.assert_allclose(merged, (x.numpy() + shifted.numpy()) * 0.5)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_flip_on_device_and_visibility(device):
    fi = [1, 0, 2]
    x = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32, device=device).reshape(2, 3, 2, 4)
    y = flip_heatmaps(x, fi, "heatmap", shift=False)
    assert y.device == x.device
    assert torch.equal(y.cpu(), x.cpu()[:, fi].flip(-1))
    vis = torch.tensor([[0.1, 0.2, 0.3]], device=device)
    assert flip_visibility(vis, fi).cpu().tolist()[0] == pytest.approx([0.2, 0.1, 0.3])
    np.testing.assert_array_equal(flip_visibility(np.array([[1, 2, 3]]), fi), [[2, 1, 3]])


@pytest.mark.parametrize("ksize,pad,shape", [(11, 5, (40, 64, 48)), (23, 0, (20, 64, 48)),
                                             (17, 8, (5, 96, 72)), (23, 0, (3, 8, 6)),
                                             (3, 0, (2, 2, 5))])
def test_batched_blur_equals_per_map_opencv(ksize, pad, shape):
    maps = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    want = []
    for m in maps:
        if pad:
            m = np.pad(m, pad)
        b = cv2.GaussianBlur(m, (ksize, ksize), 0)
        want.append(b[pad:b.shape[0] - pad, pad:b.shape[1] - pad] if pad else b)
    np.testing.assert_array_equal(gaussian_blur_channels(maps, ksize, pad), np.stack(want))


def test_decode_accepts_torch_and_rejects_bad_shapes():
    codec = MSRAHeatmap((192, 256), (48, 64), 2, unbiased=True)
    hm = np.random.default_rng(0).random((2, 17, 64, 48), dtype=np.float32)
    k, s = codec.decode(torch.from_numpy(hm))
    k2, s2 = codec.decode(hm)
    np.testing.assert_array_equal(k, k2)
    with pytest.raises(InputError, match="heatmap_size"):
        codec.decode(hm[..., :40])
    with pytest.raises(InputError, match="multiple of 3"):
        UDPHeatmap((192, 256), (48, 64), heatmap_type="combined").decode(hm)
    with pytest.raises(InputError, match="one instance"):
        codec.encode(np.zeros((2, 17, 2), np.float32))
    with pytest.raises(InputError, match="keypoints_visible"):
        codec.encode(np.zeros((1, 17, 2), np.float32), np.ones((1, 16)))


def test_codec_dicts_round_trip_and_mmpose_configs():
    codecs = [MSRAHeatmap((192, 256), (48, 64), 2),
              MSRAHeatmap((288, 384), (72, 96), 3, unbiased=True, blur_kernel_size=17),
              UDPHeatmap((192, 256), (48, 64), heatmap_type="combined", radius_factor=0.05)]
    for c in codecs:
        d = json.loads(json.dumps(c.to_dict()))
        assert codec_from_dict(d).to_dict() == d
    mm = dict(type="UDPHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    c = codec_from_dict(mm)
    assert (c.use_udp, c.flip_shift, c.flip_mode, c.num_channels_per_keypoint) == \
        (True, False, "heatmap", 1)
    c = codec_from_dict(dict(mm, heatmap_type="combined"))
    assert (c.flip_mode, c.num_channels_per_keypoint) == ("udp_combined", 3)
    c = codec_from_dict(dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64),
                             sigma=2, unbiased=True))
    assert (c.use_udp, c.flip_shift, c.flip_mode, c.unbiased) == (False, True, "heatmap", True)
    for bad in (dict(type="SimCCLabel"), dict(mm, foo=1), dict(type="MSRAHeatmap"),
                dict(mm, heatmap_type="offset"), dict(mm, blur_kernel_size=4)):
        with pytest.raises(InputError):
            codec_from_dict(bad)


MODEL_FIXTURES = ["td-hm_res50_8xb64-210e_coco-256x192",
                  "td-hm_hrnet-w32_dark-8xb64-210e_coco-256x192",
                  "td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192",
                  "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"]


@pytest.mark.parametrize("name", MODEL_FIXTURES)
def test_decode_of_model_heatmaps_matches_mmpose_end_to_end(reference_dir, name):
    """The head decoder on MMPose's flip-averaged heatmaps gives its image keypoints."""
    with np.load(reference_dir / f"{name}.npz") as f:
        meta = json.loads(str(f["meta_json"]))
        hm, want, want_s = f["e2e_heatmaps"], f["e2e_keypoints"], f["e2e_keypoint_scores"]
        stable, center, scale = f["e2e_stable"], f["e2e_input_center"], f["e2e_input_scale"]
    codec = codec_from_dict(meta["head_decoder"])
    assert codec.flip_shift == meta["test_cfg"]["shift_heatmap"]
    k, s = codec.decode(hm)
    k = k / np.array(codec.input_size) * scale[:, None] + center[:, None] - 0.5 * scale[:, None]
    tol = 1e-3 if isinstance(codec, MSRAHeatmap) and not codec.unbiased else 1e-2
    assert stable.mean() > 0.5
    np.testing.assert_allclose(k[stable], want[stable], rtol=0, atol=tol)
    np.testing.assert_allclose(s, want_s, rtol=1e-4, atol=1e-5 * np.abs(hm).max())
