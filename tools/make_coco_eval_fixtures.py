"""Generate tests/fixtures/coco_eval_random.json: randomised COCO keypoint GT/result sets with the
stats xtcocotools 1.14.3 computes for them, and OKS-NMS cases with MMPose 1.3.2's keep lists.

Runs only with the MMPose peer interpreter:  /work/peer/bin/peer-python tools/make_coco_eval_fixtures.py
The cases stress what the evaluation has to get right: crowd and keypoint-less ground truths,
results with all-zero scores, more than 20 results per image, tied scores, images without
ground truth, all three area ranges, with/without result boxes, use_area off, CrowdPose E/M/H.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "coco_eval_random.json")
COCO_SIGMAS = [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
               .087, .087, .089, .089]
CROWD_SIGMAS = [.079, .079, .072, .072, .062, .062, 0.107, 0.107, .087, .087, .089, .089, .079,
                .079]


def r2(x):
    return [round(float(v), 2) for v in np.ravel(x)]


def make_case(rng, k, n_img, crowd_type, with_bbox, ties):
    images, anns, results = [], [], []
    aid = 1
    for i in range(n_img):
        img_id = 100 + i
        img = {"id": img_id, "width": 640, "height": 480, "file_name": f"{img_id}.jpg"}
        if crowd_type:
            img["crowdIndex"] = round(float(rng.choice([0.1, 0.5, 0.9, rng.uniform(0, 1)])), 2)
        images.append(img)
        n_gt = int(rng.integers(0, 5)) if i % 5 else 0
        people = []
        for _ in range(n_gt):
            scale = float(rng.choice([20, 60, 150, 300]))          # small / medium / large
            w, h = scale * rng.uniform(0.5, 1), scale * rng.uniform(1, 1.5)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            kx, ky = x + rng.uniform(0, w, k), y + rng.uniform(0, h, k)
            v = rng.choice([0, 1, 2], k, p=[0.2, 0.3, 0.5])
            if rng.uniform() < 0.1:
                v[:] = 0
            kx, ky = np.where(v > 0, kx, 0), np.where(v > 0, ky, 0)
            kp = np.stack([np.round(kx, 2), np.round(ky, 2), v], 1)
            ann = {"id": aid, "image_id": img_id, "category_id": 1, "keypoints": r2(kp),
                   "bbox": r2([x, y, w, h]), "area": round(float(w * h * rng.uniform(.4, .7)), 2),
                   "iscrowd": int(rng.uniform() < 0.08),
                   "num_keypoints": int(np.count_nonzero(v == 2) if crowd_type
                                        else np.count_nonzero(v))}
            for j, c in enumerate(v):     # integer coordinates for some joints (int64 path)
                if c and rng.uniform() < 0.2:
                    ann["keypoints"][3 * j] = int(ann["keypoints"][3 * j])
            anns.append(ann)
            people.append((kx, ky, w, h, v))
            aid += 1
        n_dt = int(rng.integers(0, 4)) + len(people) if i % 7 != 3 else 24
        for d in range(n_dt):
            if people and d < 2 * len(people):
                kx, ky, w, h, v = people[d % len(people)]
                sd = rng.uniform(0.005, 0.08) * np.sqrt(w * h)
                px, py = kx + rng.normal(0, sd, k), ky + rng.normal(0, sd, k)
                px = np.where(v > 0, px, rng.uniform(0, 640, k))
                py = np.where(v > 0, py, rng.uniform(0, 480, k))
            else:
                cx, cy, s = rng.uniform(0, 640), rng.uniform(0, 480), rng.uniform(10, 200)
                px, py = cx + rng.normal(0, s, k), cy + rng.normal(0, s, k)
            sc = rng.uniform(0, 1, k)
            if rng.uniform() < 0.05:
                sc[:] = 0
            score = round(float(rng.choice([0.5, 0.8])) if ties else float(rng.uniform()), 4)
            res = {"image_id": img_id, "category_id": 1,
                   "keypoints": r2(np.stack([px, py, sc], 1)), "score": score}
            if with_bbox:
                x0, y0 = px.min(), py.min()
                res["bbox"] = r2([x0, y0, px.max() - x0 + rng.uniform(0, 30),
                                  py.max() - y0 + rng.uniform(0, 30)])
            results.append(res)
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return gt, results


def xtcoco_stats(gt, results, sigmas, use_area, iou_type):
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, res_path = os.path.join(tmp, "gt.json"), os.path.join(tmp, "res.json")
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        with open(res_path, "w") as f:
            json.dump(results, f)
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(gt_path)
            dets = coco.loadRes(res_path)
            ev = COCOeval(coco, dets, iou_type, np.array(sigmas, dtype=np.float32), use_area)
            ev.params.useSegm = None
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
    return [float(s) for s in ev.stats]


def nms_cases(rng):
    from mmpose.evaluation.functional import oks_nms, soft_oks_nms
    cases = []
    for c in range(12):
        n, k = int(rng.integers(1, 12)), 17
        base = rng.uniform(50, 400, (1, k, 2))
        kp = (base + rng.normal(0, rng.uniform(0.5, 15), (n, k, 2))).astype(np.float32)
        sc = rng.uniform(0, 1, (n, k)).astype(np.float32)
        kpts = np.concatenate([kp, sc[..., None]], -1)
        score = np.round(rng.uniform(0, 1, n), 1 if c % 3 == 0 else 6).astype(np.float32)
        area = rng.uniform(2000, 40000, n).astype(np.float32)
        db = [{"keypoints": kpts[i], "score": score[i], "area": area[i]} for i in range(n)]
        sig = np.array(COCO_SIGMAS, dtype=np.float32)
        thr = float(rng.choice([0.5, 0.9]))
        cases.append({"keypoints": kpts.tolist(), "scores": score.tolist(), "areas": area.tolist(),
                      "thr": thr,
                      "oks_keep": [int(i) for i in oks_nms(db, thr, sigmas=sig)],
                      "soft_keep": [int(i) for i in soft_oks_nms(db, thr, sigmas=sig)]})
    return cases


def main() -> None:
    if "xtcocotools" not in sys.modules:
        try:
            import xtcocotools  # noqa: F401
        except ImportError:
            sys.exit("run with the MMPose peer interpreter (needs xtcocotools and mmpose)")
    rng = np.random.default_rng(7)
    settings = [  # (name, K, images, crowd, bbox, ties, use_area, iou_type)
        ("coco_bbox", 17, 22, False, True, False, True, "keypoints"),
        ("coco_kpt_area", 17, 20, False, False, False, True, "keypoints"),
        ("coco_ties", 17, 18, False, True, True, True, "keypoints"),
        ("aic_style_no_area", 14, 25, False, True, False, False, "keypoints"),
        ("crowdpose", 14, 24, True, True, False, False, "keypoints_crowd"),
        ("crowdpose_ties", 14, 20, True, False, True, False, "keypoints_crowd"),
    ]
    cases = []
    for name, k, n_img, crowd, bbox, ties, use_area, iou in settings:
        sig = COCO_SIGMAS if k == 17 else CROWD_SIGMAS
        gt, res = make_case(rng, k, n_img, crowd, bbox, ties)
        cases.append({"name": name, "gt": gt, "results": res, "sigmas": sig, "use_area": use_area,
                      "iou_type": iou, "stats": xtcoco_stats(gt, res, sig, use_area, iou)})
        print(name, len(gt["annotations"]), "gt,", len(res), "results:",
              np.round(cases[-1]["stats"], 4).tolist())
    out = {"generator": "tools/make_coco_eval_fixtures.py (xtcocotools 1.14.3, mmpose 1.3.2)",
           "coco_eval": cases, "nms": nms_cases(rng)}
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
