"""Top-down inference speed and agreement: heatpose vs MMPose 1.3.2 (the peer venv).

Same image, same boxes, same weights (deterministic, MMPose key names), flip test on. Prints a
table of milliseconds per call (median of --repeats) and the largest keypoint difference.

    python benchmarks/bench_inference.py --peer-python /path/to/peer/bin/peer-python

Without a peer interpreter (or HEATPOSE_PEER_PYTHON) only heatpose's column is filled.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "heatpose" / "assets" / "astronaut.jpg"

PEER_SCRIPT = r"""
import json, sys, time, statistics, numpy as np, os, mmpose
from mmpose.apis import init_model, inference_topdown
a = json.loads(sys.argv[1])
cfg = os.path.join(os.path.dirname(mmpose.__file__), '.mim', 'configs', a['config'])
model = init_model(cfg, checkpoint=a['checkpoint'], device='cpu')
out = {}
for n in a['counts']:
    boxes = np.load(a['boxes'])[:n]
    times = []
    for r in range(a['repeats'] + 1):
        t = time.perf_counter()
        res = inference_topdown(model, a['image'], bboxes=boxes, bbox_format='xyxy')
        times.append(time.perf_counter() - t)
    kp = np.concatenate([x.pred_instances.keypoints for x in res])
    out[n] = {'ms': 1000 * statistics.median(times[1:]), 'keypoints': kp.tolist()}
print(json.dumps(out))
"""


def make_boxes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([15, 10, 370, 512], np.float32)
    jitter = rng.uniform(-30, 30, (n, 4)).astype(np.float32)
    jitter[0] = 0
    return base + jitter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="td-hm_res50_8xb64-210e_coco-256x192")
    ap.add_argument("--counts", default="1,8,32", help="boxes per call")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--peer-python", default=os.environ.get("HEATPOSE_PEER_PYTHON"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import heatpose

    counts = [int(c) for c in args.counts.split(",")]
    model = heatpose.build_model(args.model)
    rule = Path(os.environ.get("HEATPOSE_TEST_DATA", ROOT.parent / "shared")) / "reference"
    if (rule / "weights_rule.py").is_file():  # the reference fixtures' well-conditioned weights
        sys.path.insert(0, str(rule))
        from weights_rule import deterministic_state_dict

        sd = model.state_dict()
        model.load_state_dict(deterministic_state_dict([(k, tuple(v.shape)) for k, v in sd.items()]))
    tmp = Path(tempfile.mkdtemp())
    ckpt, boxes_file = tmp / "weights.pth", tmp / "boxes.npy"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, ckpt)
    boxes = make_boxes(max(counts))
    np.save(boxes_file, boxes)

    ours = {}
    for n in counts:
        times = []
        for _ in range(args.repeats + 1):
            t = time.perf_counter()
            res = model.predict(str(IMAGE), boxes[:n])
            times.append(time.perf_counter() - t)
        ours[n] = (1000 * statistics.median(times[1:]), res.keypoints)

    peer = {}
    if args.peer_python:
        cfg = model.preset.to_dict().get("mmpose_config") if model.preset else None
        payload = json.dumps({"config": cfg, "checkpoint": str(ckpt), "image": str(IMAGE),
                              "boxes": str(boxes_file), "counts": counts,
                              "repeats": args.repeats})
        proc = subprocess.run([args.peer_python, "-c", PEER_SCRIPT, payload],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            peer = {int(k): v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
        else:
            print("peer failed:", proc.stderr[-2000:], file=sys.stderr)

    print(f"model {args.model}, flip test on, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats}")
    print("| boxes | heatpose ms | MMPose ms | speed-up | max |dkp| px |")
    print("|---|---|---|---|---|")
    for n in counts:
        ms, kp = ours[n]
        if n in peer:
            diff = np.abs(np.asarray(peer[n]["keypoints"]) - kp).max()
            print(f"| {n} | {ms:.1f} | {peer[n]['ms']:.1f} | {peer[n]['ms'] / ms:.2f}x | "
                  f"{diff:.2e} |")
        else:
            print(f"| {n} | {ms:.1f} | - | - | - |")


if __name__ == "__main__":
    main()
