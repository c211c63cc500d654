"""Benchmark: heatpose's COCO keypoint evaluation vs xtcocotools (MMPose's evaluator).

Builds a seeded synthetic COCO-val-sized set (5000 images, ~6000 people incl. crowd and
keypoint-less annotations; one noisy result per person plus false positives), writes the
annotation and result JSON files, and times both evaluators, interleaved, ``--repeat`` times
(the best time of each stage is reported):

- load: reading both JSON files (heatpose: ``load_json``, which uses orjson when it is
  installed; xtcocotools: ``COCO(gt)`` + ``loadRes(results)``),
- evaluate: the evaluation from the loaded data (heatpose: ``evaluate_coco``; xtcocotools:
  ``evaluate()`` + ``accumulate()`` + ``summarize()``),
- total: both; "total, stdlib json" is heatpose's total with Python's json module parsing the
  files (what it costs without orjson).

It checks that all 10 stats are identical and prints the tables; then it compares ``--edge-sets``
small seeded sets built to hit the corner cases (several categories, more than 20 results per
image, tied scores and OKS, crowd and unlabelled people, both iou types and area settings).

    python benchmarks/bench_coco_eval.py [--images 5000] [--repeat 3]
                                         [--peer /work/peer/bin/peer-python]

xtcocotools runs in the MMPose peer interpreter as a subprocess; without it that column is
skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Tuple

import numpy as np

COCO_SIGMAS = [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
               .087, .087, .089, .089]

PEER_SCRIPT = r"""
import contextlib, io, json, sys, time
import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval
gt_path, res_path, sig = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t0, c0 = time.perf_counter(), time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO(gt_path)
    dets = coco.loadRes(res_path)
    t1, c1 = time.perf_counter(), time.process_time()
    ev = COCOeval(coco, dets, 'keypoints', np.array(sig, dtype=np.float32), True)
    ev.params.useSegm = None
    ev.evaluate(); ev.accumulate(); ev.summarize()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"load": t1 - t0, "evaluate": t2 - t1, "load_cpu": c1 - c0,
                  "evaluate_cpu": c2 - c1, "stats": [float(s) for s in ev.stats]}))
"""


def synth(n_images: int, seed: int = 0):
    """A COCO-like keypoint set: (gt_dict, results_list)."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    aid = 1
    for i in range(n_images):
        img_id = i + 1
        images.append({"id": img_id, "width": 640, "height": 480, "file_name": f"{img_id:012d}.jpg"})
        n = rng.choice([0, 1, 1, 1, 2, 3], p=[.18, .2, .2, .15, .15, .12])
        for _ in range(n):
            w, h = rng.uniform(20, 300), rng.uniform(40, 450)
            x, y = rng.uniform(0, 640 - min(w, 600)), rng.uniform(0, 480 - min(h, 440))
            k = np.stack([x + rng.uniform(0, w, 17), y + rng.uniform(0, h, 17)], 1)
            v = rng.choice([0, 1, 2], 17, p=[.3, .2, .5])
            if rng.uniform() < .05:
                v[:] = 0
            k[v == 0] = 0
            anns.append({"id": aid, "image_id": img_id, "category_id": 1,
                         "keypoints": np.c_[np.round(k, 2), v].ravel().tolist(),
                         "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                         "area": round(w * h * .55, 2), "iscrowd": int(rng.uniform() < .01),
                         "num_keypoints": int((v > 0).sum())})
            aid += 1
            sd = rng.uniform(.005, .08) * np.sqrt(w * h)
            p = np.where(v[:, None] > 0, k + rng.normal(0, sd, (17, 2)),
                         [x + w / 2, y + h / 2] + rng.normal(0, 20, (17, 2)))
            results.append({"image_id": img_id, "category_id": 1,
                            "keypoints": np.c_[np.round(p, 2), np.round(rng.uniform(0, 1, 17), 4)]
                            .ravel().tolist(), "score": round(float(rng.uniform(.3, 1)), 6),
                            "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]})
        for _ in range(rng.choice([0, 0, 1, 2])):                 # false positives
            c = rng.uniform([0, 0], [640, 480])
            p = c + rng.normal(0, 40, (17, 2))
            results.append({"image_id": img_id, "category_id": 1,
                            "keypoints": np.c_[np.round(p, 2), np.round(rng.uniform(0, 1, 17), 4)]
                            .ravel().tolist(), "score": round(float(rng.uniform(0, .8)), 6),
                            "bbox": [round(float(c[0]) - 40, 2), round(float(c[1]) - 60, 2), 80.0, 120.0]})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return gt, results


EDGE_PEER_SCRIPT = r"""
import contextlib, io, json, os, sys, warnings
import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval
warnings.simplefilter("ignore")
cases = json.load(open(sys.argv[1]))
out = []
for i, c in enumerate(cases):
    gt_path = os.path.join(os.path.dirname(sys.argv[1]), f"edge_gt_{i}.json")
    with open(gt_path, "w") as f:
        json.dump(c["gt"], f)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(gt_path)
        ev = COCOeval(coco, coco.loadRes(c["results"]), c["iou_type"],
                      np.array(c["sigmas"], dtype=np.float32), c["use_area"])
        ev.params.useSegm = None
        ev.evaluate(); ev.accumulate(); ev.summarize()
    out.append([float(s) for s in ev.stats])
print(json.dumps(out))
"""


def edge_sets(n: int, seed: int = 1000):
    """Small sets made to hit the corner cases: 1-3 categories (and results of an unknown one),
    up to 29 results per image (the 20-best cut), tied scores and duplicated people (tied OKS),
    crowd and unlabelled people, all-zero keypoint scores, annotation ids from 0, boxes on half
    of the sets, both iou types and area settings."""
    cases = []
    for s in range(seed, seed + n):
        rng = np.random.default_rng(s)
        ncat = int(rng.integers(1, 4))
        first_id = 0 if s % 5 == 0 else 1           # an annotation id 0: xtcocotools' quirk
        images = [{"id": int(i * 7 + 3), "crowdIndex": float(rng.uniform())}
                  for i in range(int(rng.integers(1, 12)))]
        anns, results = [], []
        for im in images:
            for _ in range(int(rng.integers(0, 5))):
                w, h = rng.uniform(5, 200, 2)
                x, y = rng.uniform(0, 300, 2)
                v = rng.choice([0, 1, 2], 17, p=[.3, .2, .5]) * (rng.uniform() > .1)
                kp = np.c_[x + rng.uniform(0, w, 17), y + rng.uniform(0, h, 17), v].round(1)
                ann = {"id": len(anns) + first_id, "image_id": im["id"],
                       "category_id": int(rng.integers(1, ncat + 1)),
                       "keypoints": kp.ravel().tolist(), "bbox": [x, y, w, h],
                       "area": float(w * h * rng.uniform(.3, 1)),
                       "iscrowd": int(rng.uniform() < .1), "num_keypoints": int((v > 0).sum())}
                anns.append(ann)
                if rng.uniform() < .15:                              # a duplicated person
                    anns.append(dict(ann, id=len(anns) + first_id))
            for _ in range(int(rng.integers(0, 30))):
                if anns and rng.uniform() < .7:
                    a = anns[int(rng.integers(len(anns)))]
                    k = (np.array(a["keypoints"]).reshape(17, 3)[:, :2]
                         + rng.normal(0, rng.uniform(.5, 15), (17, 2)))
                else:
                    k = rng.uniform(0, 400, (17, 2))
                sc = (rng.choice([0.0, .5, 1.0], 17) if rng.uniform() < .3
                      else rng.uniform(0, 1, 17))
                score = (float(rng.choice([.5, .7, .9])) if rng.uniform() < .4
                         else float(rng.uniform()))
                cat = int(rng.integers(1, ncat + 2))                 # ncat + 1: unknown
                results.append({"image_id": im["id"], "category_id": cat, "score": score,
                                "keypoints": np.c_[k.round(1), sc].ravel().tolist()})
        rng.shuffle(results)
        if s % 2:
            for r in results:
                k = np.array(r["keypoints"]).reshape(17, 3)
                r["bbox"] = [float(k[:, 0].min()), float(k[:, 1].min()),
                             float(np.ptp(k[:, 0])), float(np.ptp(k[:, 1]))]
        if results:
            cases.append({"gt": {"images": images, "annotations": anns,
                                 "categories": [{"id": c} for c in range(1, ncat + 1)]},
                          "results": results, "sigmas": COCO_SIGMAS, "use_area": s % 3 != 0,
                          "iou_type": "keypoints_crowd" if s % 4 == 1 else "keypoints"})
    return cases


def check_edge_sets(n: int, peer: str, tmp: str) -> Tuple[bool, str]:
    """Evaluate ``edge_sets(n)`` with heatpose and xtcocotools: (all identical, a line)."""
    from heatpose.evaluation.coco_eval import evaluate_coco

    cases = edge_sets(n)
    ours = [list(evaluate_coco(c["gt"], c["results"], c["sigmas"], use_area=c["use_area"],
                               iou_type=c["iou_type"]).values()) for c in cases]
    path = os.path.join(tmp, "edge_cases.json")
    with open(path, "w") as f:
        json.dump(cases, f)
    proc = subprocess.run([peer, "-c", EDGE_PEER_SCRIPT, path], capture_output=True, text=True)
    if proc.returncode != 0:
        return False, f"edge-case sets: xtcocotools run failed ({proc.stderr.strip()[-200:]})"
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    same = sum(a == b for a, b in zip(ours, theirs))
    return same == len(cases), (f"edge-case sets (seeded, {len(cases)}): {same}/{len(cases)} "
                                "with all stats identical")


def _peer_run(peer: str, gt_path: str, res_path: str):
    proc = subprocess.run([peer, "-c", PEER_SCRIPT, gt_path, res_path, json.dumps(COCO_SIGMAS)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print("note: xtcocotools run failed:", proc.stderr.strip().splitlines()[-1:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ours_run(gt_path: str, res_path: str):
    from heatpose.evaluation.coco_eval import evaluate_coco, load_json

    t0, c0 = time.perf_counter(), time.process_time()
    gt, res = load_json(gt_path, "gt"), load_json(res_path, "results")
    t1, c1 = time.perf_counter(), time.process_time()
    stats = evaluate_coco(gt, res, COCO_SIGMAS)
    t2, c2 = time.perf_counter(), time.process_time()
    for path in (gt_path, res_path):                   # what the load costs without orjson
        with open(path, "rb") as f:
            json.loads(f.read())
    t3, c3 = time.perf_counter(), time.process_time()
    return {"load": t1 - t0, "evaluate": t2 - t1, "load_stdlib": t3 - t2, "load_cpu": c1 - c0,
            "evaluate_cpu": c2 - c1, "load_stdlib_cpu": c3 - c2, "stats": list(stats.values()),
            "names": list(stats)}


def _print_times(ours: list, peer: list, cpu: bool) -> None:
    """The stage table, wall-clock or CPU seconds (best of the rounds)."""
    x = "_cpu" if cpu else ""
    rows = {"load": ("load",), "evaluate": ("evaluate",), "total": ("load", "evaluate"),
            "total, stdlib json": ("load_stdlib", "evaluate")}
    print("| stage | heatpose | xtcocotools 1.14.3 | ratio (xtcocotools / heatpose) |")
    print("|---|---|---|---|")
    for stage, keys in rows.items():
        t_ours = min(sum(r[k + x] for k in keys) for r in ours)
        if peer:
            t_peer = min(sum(r[k.replace("_stdlib", "") + x] for k in keys) for r in peer)
            print(f"| {stage} | {t_ours:.3f} | {t_peer:.3f} | {t_peer / t_ours:.1f} |")
        else:
            print(f"| {stage} | {t_ours:.3f} | - | - |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--edge-sets", type=int, default=40,
                    help="also compare this many small corner-case sets (0: skip)")
    ap.add_argument("--peer", default=os.environ.get("HEATPOSE_PEER_PYTHON",
                                                     "/work/peer/bin/peer-python"))
    args = ap.parse_args()
    try:
        import orjson  # noqa: F401
        parser = "orjson"
    except ImportError:
        parser = "json (stdlib)"
    gt, results = synth(args.images, args.seed)
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, res_path = os.path.join(tmp, "gt.json"), os.path.join(tmp, "res.json")
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        with open(res_path, "w") as f:
            json.dump(results, f)
        print(f"synthetic set: {len(gt['images'])} images, {len(gt['annotations'])} people, "
              f"{len(results)} results (seed {args.seed}); heatpose parses JSON with {parser}")
        has_peer = os.path.exists(args.peer)
        if not has_peer:
            print(f"note: no peer interpreter at {args.peer}; xtcocotools column skipped")
        edge = (check_edge_sets(args.edge_sets, args.peer, tmp)
                if has_peer and args.edge_sets else None)
        for _ in range(args.repeat):                       # interleaved rounds
            ours.append(_ours_run(gt_path, res_path))
            if has_peer:
                run = _peer_run(args.peer, gt_path, res_path)
                if run:
                    peer.append(run)

    names, stats = ours[0]["names"], ours[0]["stats"]
    print()
    print("| stat | heatpose | xtcocotools | |diff| |")
    print("|---|---|---|---|")
    identical = True
    for i, (k, v) in enumerate(zip(names, stats)):
        if peer:
            d = abs(v - peer[0]["stats"][i])
            identical &= d == 0.0
            print(f"| {k} | {v:.6f} | {peer[0]['stats'][i]:.6f} | {d:.1e} |")
        else:
            print(f"| {k} | {v:.6f} | - | - |")
    print()
    print(f"best of {args.repeat} interleaved rounds, wall-clock seconds:")
    print()
    _print_times(ours, peer, cpu=False)
    print()
    print("CPU seconds of the process (less sensitive to other load on the machine):")
    print()
    _print_times(ours, peer, cpu=True)
    if peer:
        print(f"\nall stats identical: {identical}")
        if edge:
            print(edge[1])
            identical &= edge[0]
        return 0 if identical else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
