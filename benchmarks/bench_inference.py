"""Top-down inference speed and agreement: heatpose vs MMPose 1.3.2, interleaved in one run.

The MMPose peer runs as a child process (benchmarks/peer_worker.py under the peer's
interpreter) that waits for commands, so the two never compute at the same time: each timed
step runs on heatpose, then the same step on MMPose, round after round; tables show medians
over the rounds. Same image, same boxes, same deterministic weights (the reference fixtures'
rule, MMPose key names), flip test on, the same number of threads on both sides.

    .venv/bin/python benchmarks/bench_inference.py --peer-python /work/peer/bin/peer-python

Prints, per model: end-to-end seconds per call and persons/s for 1 and 8 boxes (image read,
crops, network with flip test, decoding), the speed-up, the largest keypoint difference in
pixels; the forward pass at batch 32 with its share of the fp32 GEMM peak (a 2048^3 matmul,
measured in the same run, each round). ``--backends auto,torch`` adds rows for other heatpose
backends (auto = the default: ONNX Runtime on CPU).
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
from typing import Any, Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "heatpose" / "assets" / "astronaut.jpg"
MODELS = "td-hm_res50_8xb64-210e_coco-256x192,td-hm_hrnet-w32_8xb64-210e_coco-256x192"
GEMM = 2048


def make_boxes(n: int, seed: int = 0) -> np.ndarray:
    """n person boxes around the astronaut (xyxy px), the first one exact."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-30, 30, (n, 4)).astype(np.float32)
    jitter[0] = 0
    return np.array([15, 10, 370, 512], np.float32) + jitter


class Peer:
    """The MMPose worker process (one JSON command per line)."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, str(ROOT / "benchmarks" / "peer_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, **cmd: Any) -> Dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"MMPose peer exited during {cmd['op']}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def gemm_seconds() -> float:
    a, b = torch.randn(GEMM, GEMM), torch.randn(GEMM, GEMM)
    a @ b
    return timed(lambda: a @ b)


def forward_flops(model: Any) -> float:
    """FLOPs of one crop through the network (conv/matmul multiply-adds x 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    w, h = model.input_size
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, h, w))
    return float(counter.get_total_flops())


def heatpose_model(name: str, rule_dir: Path) -> Any:
    import heatpose

    model = heatpose.build_model(name)
    sys.path.insert(0, str(rule_dir))
    from weights_rule import deterministic_state_dict

    sd = model.state_dict()
    model.load_state_dict(deterministic_state_dict([(k, tuple(v.shape)) for k, v in sd.items()]))
    return model.eval()


def forward_fn(runner: Any, model: Any, batch: int):
    """A call running ``batch`` normalised crops through the backend's network."""
    w, h = model.input_size
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, 3, h, w))
                         .astype(np.float32))
    if hasattr(runner, "session"):
        xn = x.numpy()
        return lambda: runner.run(xn)
    from heatpose.inference.backends_torch import inference_network

    net, channels_last = inference_network(model)       # what the torch backend's predict runs
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode():
            net(x)
    return run


def bench_model(name: str, args: argparse.Namespace, peer: Any, tmp: Path) -> List[str]:
    from heatpose.inference.backends import as_backend

    model = heatpose_model(name, args.rule_dir)
    ckpt, boxes_file = tmp / "weights.pth", tmp / "boxes.npy"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, ckpt)
    counts = [int(c) for c in args.counts.split(",")]
    boxes = make_boxes(max(counts))
    np.save(boxes_file, boxes)
    runners = {b: as_backend(model, b, threads=args.threads) for b in args.backends.split(",")}
    if peer:
        peer(op="load", name=name, checkpoint=str(ckpt), threads=args.threads)
    flops = forward_flops(model)
    t: Dict[str, List[float]] = {}
    keypoints: Dict[str, Any] = {}

    def add(key: str, seconds: float) -> None:
        t.setdefault(key, []).append(seconds)

    for r in range(args.rounds + 1):            # round 0 warms up (first calls, caches)
        rec = add if r else (lambda key, seconds: None)
        rec("gemm", gemm_seconds())
        if peer:
            rec("gemm mmpose", peer(op="gemm", size=GEMM)["s"])
        for n in counts:
            for b, runner in runners.items():
                rec(f"{b} {n}", timed(lambda: keypoints.__setitem__(
                    (b, n), runner.predict(str(IMAGE), boxes[:n]).keypoints)))
            if peer:
                res = peer(op="e2e", image=str(IMAGE), boxes=str(boxes_file), n=n)
                rec(f"mmpose {n}", res["s"])
                keypoints[("mmpose", n)] = np.asarray(res["keypoints"])
        for b, runner in runners.items():
            rec(f"{b} fwd", timed(forward_fn(runner, model, args.batch)))
        if peer:
            rec("mmpose fwd", peer(op="forward", batch=args.batch)["s"])

    med = {k: statistics.median(v) for k, v in t.items()}
    peak = 2 * GEMM ** 3 / med["gemm"]
    rows = [f"### {name}", "",
            f"fp32 GEMM peak ({GEMM}^3 matmul, {args.threads} threads, median of "
            f"{args.rounds} rounds): {peak / 1e9:.1f} GFLOP/s; network {flops / 1e9:.2f} "
            "GFLOP per crop", "",
            "| step | backend | heatpose s | MMPose s | heatpose persons/s | MMPose persons/s "
            "| speed-up | max abs(dkp) px |", "|---|---|---|---|---|---|---|---|"]
    for n in counts:
        for b in runners:
            ours = med[f"{b} {n}"]
            theirs = med.get(f"mmpose {n}")
            diff = (np.abs(keypoints[(b, n)] - keypoints[("mmpose", n)]).max()
                    if theirs else float("nan"))
            rows.append(f"| {n} boxes, flip test | {b} | {ours:.3f} | "
                        f"{theirs or float('nan'):.3f} | {n / ours:.2f} | "
                        f"{n / theirs if theirs else float('nan'):.2f} | "
                        f"{theirs / ours if theirs else float('nan'):.2f}x | {diff:.1e} |")
    for b in runners:
        ours = med[f"{b} fwd"]
        theirs = med.get("mmpose fwd")
        share = flops * args.batch / ours / peak
        their_share = flops * args.batch / theirs / peak if theirs else float("nan")
        rows.append(f"| forward, batch {args.batch} | {b} | {ours:.3f} | "
                    f"{theirs or float('nan'):.3f} | {share:.0%} of peak | "
                    f"{their_share:.0%} of peak | "
                    f"{theirs / ours if theirs else float('nan'):.2f}x | - |")
    return rows + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=MODELS, help="comma-separated zoo names")
    ap.add_argument("--counts", default="1,8", help="boxes per call (comma-separated)")
    ap.add_argument("--batch", type=int, default=32, help="crops in the forward-pass step")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides")
    ap.add_argument("--backends", default="auto", help="heatpose backends: auto,torch,onnxruntime")
    ap.add_argument("--peer-python", default=os.environ.get("HEATPOSE_PEER_PYTHON"))
    ap.add_argument("--rule-dir", type=Path, default=Path(os.environ.get(
        "HEATPOSE_TEST_DATA", ROOT.parent / "shared")) / "reference",
        help="folder holding weights_rule.py (default ../shared/reference)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    peer = Peer(args.peer_python) if args.peer_python else None
    print(f"# heatpose vs MMPose 1.3.2, flip test on, {args.threads} threads, medians of "
          f"{args.rounds} interleaved rounds; torch {torch.__version__}\n", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.models.split(","):
                print("\n".join(bench_model(name, args, peer, Path(tmp))), flush=True)
    finally:
        if peer:
            peer.close()


if __name__ == "__main__":
    main()
