"""PCK family: the PCKAccuracy/AUC/EPE, JHMDB and MPII runs of the MMPose reference
(metrics.json), plus hand-checkable cases (MPII-TRB has no reference run)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from heatpose.evaluation import (auc, epe, jhmdb_pck, mpii_head_sizes, mpii_pckh,
                                 mpii_trb_accuracy, pck_accuracy, pck_auc_epe)


@pytest.fixture(scope="module")
def runs(reference_dir):
    data = json.loads((reference_dir / "metrics.json").read_text())
    return {r["name"]: r for r in data["runs"] if "gt" in r}


def _arrays(run):
    k = len(run["gt"][0]["keypoints"]) // 2
    gt = np.array([g["keypoints"] for g in run["gt"]], np.float32).reshape(-1, k, 2)
    mask = np.array([g["keypoints_visible"] for g in run["gt"]], np.float32).astype(bool)
    pred = np.array([p["keypoints"] for p in run["predictions"]],
                    np.float32).reshape(-1, k, 3)[..., :2]
    boxes = np.array([g["bbox_xyxy"] for g in run["gt"]], np.float32)
    return pred, gt, mask, boxes


def _check(out, want):
    assert set(out) == set(want)
    for key, v in want.items():
        assert abs(out[key] - v) <= 1e-9, (key, out[key], v)


@pytest.mark.parametrize("name", ["fld_deepfashion_full", "deepfashion2"])
def test_reference_pck_auc_epe(runs, name):
    pred, gt, mask, boxes = _arrays(runs[name])
    _check(pck_auc_epe(pred, gt, mask, boxes, thr=0.2, norm_factor=30, num_thrs=20),
           runs[name]["metrics"])


def test_reference_jhmdb(runs):
    pred, gt, mask, boxes = _arrays(runs["jhmdb_sub1"])
    _check(jhmdb_pck(pred, gt, mask, boxes, thr=0.2), runs["jhmdb_sub1"]["metrics"])


def test_reference_mpii(runs):
    run = runs["mpii_synthetic_headboxes"]
    pred, gt, mask, _ = _arrays(run)
    sizes = mpii_head_sizes(run["headboxes_src_NxTLBR"])
    np.testing.assert_allclose(sizes, [g["head_size"] for g in run["gt"]], rtol=1e-12)
    out = mpii_pckh(pred, gt, mask, [g["head_size"] for g in run["gt"]])
    _check(out, run["metrics"])


def test_pck_hand_checked():
    gt = np.zeros((2, 3, 2), np.float32)
    pred = gt.copy()
    pred[0, 0] = [3, 4]           # 5 px off, box 20 px -> 0.25
    pred[1, 1] = [1, 0]           # 1 px off -> 0.05
    mask = np.array([[1, 1, 0], [1, 1, 0]], bool)
    norm = np.full((2, 2), 20, np.float32)
    acc, mean, cnt = pck_accuracy(pred, gt, mask, 0.2, norm)
    assert acc.tolist() == [0.5, 1.0, -1] and mean == 0.75 and cnt == 2
    assert epe(pred, gt, mask) == pytest.approx(1.5)   # (5 + 0 + 0 + 1) / 4
    # AUC with norm 30 px, thresholds 0, .05, ..., .95: distances 5/30, 1/30, 0, 0
    assert auc(pred, gt, mask, 30, 20) == pytest.approx(
        np.mean([np.mean([np.mean([5 / 30 < t, 0 < t]), np.mean([0 < t, 1 / 30 < t])])
                 for t in np.arange(20) / 20]))


def test_mpii_groups_and_weights():
    rng = np.random.default_rng(0)
    gt = rng.uniform(100, 200, (4, 16, 2)).astype(np.float32)
    pred = gt - 1.0                               # MPII predictions are 0-based: exact after +1
    mask = np.ones((4, 16), bool)
    out = mpii_pckh(pred, gt, mask, np.full(4, 10.0))
    assert all(v == pytest.approx(100.0) for v in out.values())
    pred[:, 9] += 100                             # head top always wrong
    out = mpii_pckh(pred, gt, mask, np.full(4, 10.0))
    assert out["Head PCK"] == 0.0 and out["Wrist PCK"] == 100.0
    assert out["PCK"] == pytest.approx(100 * 13 / 14)   # 14 joints count (pelvis/thorax out)


def test_mpii_trb_accuracy():
    gt = np.zeros((2, 40, 2))
    pred = gt.copy()
    pred[0, :14] = 10.0                           # skeleton of sample 0 off by 14.1 px
    mask = np.ones((2, 40), bool)
    mask[1, 39] = False
    heads = np.array([[0, 0, 30, 40], [0, 0, 30, 40]])   # diagonal 50 -> threshold 15 px
    out = mpii_trb_accuracy(pred, gt, mask, heads)
    assert out == {"Skeleton_acc": 1.0, "Contour_acc": 1.0, "PCKh": 1.0}
    heads[0] = [0, 0, 6, 8]                       # threshold 3 px: sample 0 skeleton misses
    out = mpii_trb_accuracy(pred, gt, mask, heads)
    assert out["Skeleton_acc"] == pytest.approx(0.5)
    assert out["Contour_acc"] == 1.0
    assert out["PCKh"] == pytest.approx((79 - 14) / 79)


def test_nonfinite_rows_one_check_for_every_metric_input():
    """evaluation.finite.nonfinite_rows against a per-row loop, and the callers (PCK, box
    normaliser, OKS-NMS) naming the first bad row it finds."""
    from heatpose.errors import InputError
    from heatpose.evaluation import oks_nms
    from heatpose.evaluation.finite import nonfinite_rows
    from heatpose.evaluation.pck import bbox_sizes, check_finite

    rng = np.random.default_rng(3)
    for shape in [(7,), (7, 4), (7, 5, 2), (0, 3)]:
        arr = rng.normal(size=shape)
        if arr.size:
            flat = arr.reshape(-1)
            flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
        want = [not all(np.isfinite(v) for v in np.ravel(row)) for row in arr]
        assert nonfinite_rows(arr).tolist() == want
        assert nonfinite_rows(arr.astype(np.float32).tolist(), len(arr)).tolist() == want
    pred = rng.uniform(0, 50, (4, 3, 2)).astype(np.float32)
    gt, mask = pred.copy(), np.ones((4, 3), bool)
    gt[1, 2, 0] = np.nan                      # unlabelled joint: not an error
    mask[1, 2] = False
    check_finite(pred, gt, mask)
    gt[2, 0, 1] = np.inf
    with pytest.raises(InputError, match=r"sample #2: labelled ground truth holds NaN"):
        check_finite(pred, gt, mask)
    boxes = np.array([[0, 0, 10, 10], [0, 0, np.nan, 5]], np.float32)
    with pytest.raises(InputError, match=r"sample #1: box holds NaN or infinity \(1 of 2"):
        bbox_sizes(boxes)
    kpts = np.concatenate([pred, np.ones((4, 3, 1), np.float32)], axis=2)
    kpts[3, 1, 2] = np.nan
    with pytest.raises(InputError, match=r"keypoints of pose #3 hold NaN"):
        oks_nms(kpts, np.ones(4), np.ones(4), 0.9, np.full(3, 0.1))
