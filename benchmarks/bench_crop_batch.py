"""Crop batch size sweep: persons/s of heatpose's predict for each backend and batch size.

Runs 32 boxes on the bundled image (flip test on) with ``batch_size`` crops per network call,
the batch sizes and backends interleaved within each round; prints medians. The default crop
batch (``default_batch_size`` of each backend) is chosen from this table.

    .venv/bin/python benchmarks/bench_crop_batch.py --model td-hm_res50_8xb64-210e_coco-256x192
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_inference import IMAGE, heatpose_model, make_boxes, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="td-hm_res50_8xb64-210e_coco-256x192")
    ap.add_argument("--boxes", type=int, default=32)
    ap.add_argument("--batch-sizes", default="4,8,16,32")
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rule-dir", type=Path, default=ROOT.parent / "shared" / "reference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from heatpose.inference.backends import as_backend

    model = heatpose_model(args.model, args.rule_dir)
    runners = {b: as_backend(model, b, threads=args.threads) for b in args.backends.split(",")}
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    boxes = make_boxes(args.boxes)
    times = {}
    for r in range(args.rounds + 1):                 # round 0 warms up
        for size in sizes:
            for b, runner in runners.items():
                t = timed(lambda: runner.predict(str(IMAGE), boxes, batch_size=size))
                if r:
                    times.setdefault((b, size), []).append(t)
    print(f"{args.model}, {args.boxes} boxes, flip test on, {args.threads} threads, "
          f"medians of {args.rounds} rounds: persons/s")
    print("| crop batch | " + " | ".join(runners) + " |")
    print("|---|" + "---|" * len(runners))
    for size in sizes:
        cells = [f"{args.boxes / statistics.median(times[(b, size)]):.2f}" for b in runners]
        print(f"| {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
