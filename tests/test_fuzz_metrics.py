"""Property-based fuzzing (hypothesis) of the metric inputs: COCO OKS AP/AR and the PCK family.

Random but valid sets check what must hold whatever the data (bounds, invariance to the order of
results and images and to the ids, perfect predictions score 1); the same sets with one bad
value injected check that the evaluation names exactly that record. The exact agreement with
xtcocotools and MMPose lives in test_metrics_coco.py / test_metrics_pck.py (fixtures)."""
from __future__ import annotations

import copy
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from heatpose.errors import InputError
from heatpose.evaluation import evaluate_coco, jhmdb_pck, mpii_pckh, pck_auc_epe
from heatpose.schema import get_schema

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "heatpose-hypothesis"))  # not the repo
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SIGMAS = get_schema("coco").sigmas


def make_set(seed: int, n_img: int, crowd: bool):
    """A random COCO keypoint set (two categories, crowd and unlabelled people, several results
    per person, false positives) and its results."""
    rng = np.random.default_rng(seed)
    images = [{"id": int(i * 3 + 1), "crowdIndex": float(rng.uniform())} for i in range(n_img)]
    anns, res = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 4))):
            w, h = rng.uniform(5, 200, 2)
            x, y = rng.uniform(0, 300, 2)
            v = rng.choice([0, 1, 2], 17, p=[.3, .2, .5]) * (rng.uniform() > .1)
            kp = np.c_[x + rng.uniform(0, w, 17), y + rng.uniform(0, h, 17), v]
            cat = int(rng.integers(1, 3))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cat,
                         "keypoints": kp.round(2).ravel().tolist(), "bbox": [x, y, w, h],
                         "area": float(w * h * .5), "iscrowd": int(rng.uniform() < .1),
                         "num_keypoints": int((v > 0).sum())})
            for _ in range(int(rng.integers(0, 3))):
                noisy = kp[:, :2] + rng.normal(0, rng.uniform(.5, 20), (17, 2))
                res.append({"image_id": im["id"], "category_id": cat,
                            "keypoints": np.c_[noisy, rng.uniform(0, 1, 17)].ravel().tolist(),
                            "score": float(rng.uniform())})
        for _ in range(int(rng.integers(0, 3))):
            res.append({"image_id": im["id"], "category_id": 1, "score": float(rng.uniform()),
                        "keypoints": np.c_[rng.uniform(0, 400, (17, 2)),
                                           rng.uniform(0, 1, 17)].ravel().tolist()})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1}, {"id": 2}]}
    return gt, res, dict(use_area=not crowd, iou_type="keypoints_crowd" if crowd else "keypoints")


SETS = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(1, 12), st.booleans())


@FUZZ
@given(SETS)
def test_fuzz_coco_eval_bounds_and_invariances(case):
    gt, res, kw = make_set(*case)
    stats = evaluate_coco(gt, res, SIGMAS, **kw)
    vals = np.array(list(stats.values()))[:6 if kw["iou_type"] == "keypoints_crowd" else 10]
    assert np.isfinite(vals).all() and (((vals >= 0) & (vals <= 1)) | (vals == -1)).all()
    # (CrowdPose's AP(E)/(M)/(H) average -1 entries in, as xtcocotools does: not bounded)
    rng = np.random.default_rng(case[0])
    # result order, image order, id values, extra results that cannot count: no change
    shuffled = [res[i] for i in rng.permutation(len(res))]
    gt2 = copy.deepcopy(gt)
    rng.shuffle(gt2["images"])
    new_id = {im["id"]: im["id"] * 10 + 7 for im in gt2["images"]}      # same order
    for rec in gt2["images"]:
        rec["id"] = new_id[rec["id"]]
    for a in gt2["annotations"]:
        a["image_id"] = new_id[a["image_id"]]
    res2 = [dict(r, image_id=new_id[r["image_id"]]) for r in shuffled]
    res2 += [dict(r, category_id=5) for r in res2[:3]]                    # unknown category
    res2 += [dict(r, keypoints=(np.array(r["keypoints"]).reshape(17, 3) * [1, 1, 0]).ravel()
                  .tolist()) for r in res2[:3]]                            # all scores zero
    assert evaluate_coco(gt2, res2, SIGMAS, **kw) == stats


@FUZZ
@given(SETS)
def test_fuzz_perfect_results_score_one(case):
    gt, _, kw = make_set(*case)
    rng = np.random.default_rng(case[0])
    counted = [a for a in gt["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    res = [{"image_id": a["image_id"], "category_id": a["category_id"],
            "score": float(rng.uniform(.01, 1)),
            "keypoints": (np.array(a["keypoints"]).reshape(17, 3) * [1, 1, 0] + [0, 0, 1])
            .ravel().tolist()} for a in counted]
    stats = evaluate_coco(gt, res, SIGMAS, **kw)
    if counted:
        assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    else:
        assert stats["AP"] == -1.0


BAD_VALUES = [float("nan"), float("inf"), -float("inf")]


@FUZZ
@given(SETS, st.integers(0, 10 ** 6), st.sampled_from(["keypoints", "score", "bbox", "area",
                                                        "image_id", "length", "missing"]),
       st.sampled_from(BAD_VALUES))
def test_fuzz_coco_eval_names_the_bad_record(case, pick, field, bad):
    gt, res, kw = make_set(*case)
    kw["use_area"] = True
    in_gt = field in ("bbox", "area") or (field != "score" and pick % 2 == 0)
    recs = gt["annotations"] if in_gt else res
    if not recs:
        return
    i = pick % len(recs)
    rec = recs[i]
    key = {"length": "keypoints", "missing": "keypoints", "score": "score"}.get(field, field)
    if field == "keypoints":
        rec["keypoints"][pick % 51] = bad
    elif field == "length":
        rec["keypoints"] = rec["keypoints"][:-3]
    elif field == "missing":
        del rec["keypoints"]
    elif field == "image_id":
        rec["image_id"] = 10 ** 9
    elif field == "bbox":
        rec["bbox"][pick % 4] = bad
    else:
        rec[key] = bad
    label = (rf"annotation #{i} \(id {rec['id']}\)" if in_gt
             else rf"result #{i} \(image_id {rec['image_id']}\)")
    with pytest.raises(InputError, match=rf"{'annotations' if in_gt else 'results'}: {label}"):
        evaluate_coco(gt, res, SIGMAS, **kw)


ARRAYS = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(1, 30))


def _pck_inputs(seed, n, k=15):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 300, (n, k, 2)).astype(np.float32)
    pred = (gt + rng.normal(0, rng.uniform(0, 30), (n, k, 2))).astype(np.float32)
    mask = rng.uniform(size=(n, k)) > .2
    boxes = np.c_[gt.min(1) - 5, gt.max(1) + 5].astype(np.float32)
    return rng, pred, gt, mask, boxes


@FUZZ
@given(ARRAYS)
def test_fuzz_pck_family_bounds_and_perfect(case):
    rng, pred, gt, mask, boxes = _pck_inputs(*case)
    out = pck_auc_epe(pred, gt, mask, boxes)
    assert 0 <= out["PCK"] <= 1 and 0 <= out["AUC"] <= 1 and out["EPE"] >= 0
    perfect = pck_auc_epe(gt, gt, mask, boxes)
    if mask.any():
        assert perfect["PCK"] == 1 and perfect["EPE"] == 0
        assert perfect["AUC"] == pytest.approx(0.95)     # the 0 px threshold counts nothing
    j = jhmdb_pck(pred, gt, mask, boxes)
    assert all(-1 <= v <= 1 for v in j.values())
    rng2, p16, g16, m16, _ = _pck_inputs(case[0], case[1], 16)
    heads = rng2.uniform(5, 40, case[1])
    m = mpii_pckh(p16, g16, m16, heads)
    assert all(-100 <= v <= 100 for v in m.values())          # -100: a joint never labelled
    assert 0 <= m["PCK"] <= 100
    if m16[:, [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15]].any():
        assert mpii_pckh(g16 - 1, g16, m16, heads)["PCK"] == pytest.approx(100.0)


@FUZZ
@given(ARRAYS, st.sampled_from(["pred", "gt", "boxes"]), st.sampled_from(BAD_VALUES))
def test_fuzz_pck_family_names_the_bad_sample(case, where, bad):
    rng, pred, gt, mask, boxes = _pck_inputs(*case)
    i, j = int(rng.integers(case[1])), int(rng.integers(15))
    mask[i, j] = True
    if where == "boxes":
        boxes[i, j % 4] = bad
    else:
        (pred if where == "pred" else gt)[i, j, j % 2] = bad
    with pytest.raises(InputError, match=rf"sample #{i}: .* holds NaN or infinity"):
        pck_auc_epe(pred, gt, mask, boxes)
