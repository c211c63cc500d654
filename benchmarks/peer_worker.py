"""MMPose side of bench_inference.py; run by the MMPose peer interpreter, never by heatpose.

Reads one JSON command per line on stdin and answers one JSON line on stdout:
  {"op": "load", "name": CONFIG_NAME, "checkpoint": FILE, "threads": N}
  {"op": "e2e", "image": FILE, "boxes": NPY, "n": N}  -> {"s": seconds, "keypoints": [...]}
  {"op": "forward", "batch": B}                        -> {"s": seconds}
  {"op": "gemm", "size": S}                            -> {"s": seconds}
  {"op": "quit"}
"""
import glob
import json
import os
import sys
import time

import numpy as np
import torch

import mmpose
from mmpose.apis import inference_topdown, init_model

CONFIGS = os.path.join(os.path.dirname(mmpose.__file__), ".mim", "configs")


def serve(handle):
    """Answer each JSON command line on stdin with one JSON line ``handle(cmd)`` on stdout,
    until ``{"op": "quit"}``. MMPose's own prints go to stderr, apart from the replies."""
    reply = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        reply.write(json.dumps(handle(cmd)) + "\n")
        reply.flush()


def main():
    state = {}

    def handle(cmd):
        op = cmd["op"]
        model = state.get("model")
        if op == "load":
            torch.set_num_threads(int(cmd["threads"]))
            cfg = glob.glob(os.path.join(CONFIGS, "**", cmd["name"] + ".py"), recursive=True)
            state["model"] = init_model(cfg[0], checkpoint=cmd["checkpoint"], device="cpu")
            return {"config": os.path.relpath(cfg[0], CONFIGS)}
        if op == "e2e":
            boxes = np.load(cmd["boxes"])[:cmd["n"]]
            t = time.perf_counter()
            res = inference_topdown(model, cmd["image"], bboxes=boxes, bbox_format="xyxy")
            return {"s": time.perf_counter() - t, "keypoints": np.concatenate(
                [r.pred_instances.keypoints for r in res]).tolist()}
        if op == "forward":
            w, h = model.cfg.codec["input_size"]
            x = torch.from_numpy(np.random.default_rng(0).standard_normal(
                (cmd["batch"], 3, h, w)).astype(np.float32))
            with torch.no_grad():
                t = time.perf_counter()
                model(x, None, mode="tensor")
                return {"s": time.perf_counter() - t}
        if op == "gemm":
            a, b = torch.randn(cmd["size"], cmd["size"]), torch.randn(cmd["size"], cmd["size"])
            a @ b
            t = time.perf_counter()
            a @ b
            return {"s": time.perf_counter() - t}
        return {}

    serve(handle)


if __name__ == "__main__":
    main()
