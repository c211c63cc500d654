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


def main():
    reply = sys.stdout
    sys.stdout = sys.stderr              # MMPose's own prints must not mix with the replies
    model = None
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        out = {}
        if op == "quit":
            break
        if op == "load":
            torch.set_num_threads(int(cmd["threads"]))
            cfg = glob.glob(os.path.join(CONFIGS, "**", cmd["name"] + ".py"), recursive=True)
            model = init_model(cfg[0], checkpoint=cmd["checkpoint"], device="cpu")
            out = {"config": os.path.relpath(cfg[0], CONFIGS)}
        elif op == "e2e":
            boxes = np.load(cmd["boxes"])[:cmd["n"]]
            t = time.perf_counter()
            res = inference_topdown(model, cmd["image"], bboxes=boxes, bbox_format="xyxy")
            out = {"s": time.perf_counter() - t, "keypoints": np.concatenate(
                [r.pred_instances.keypoints for r in res]).tolist()}
        elif op == "forward":
            w, h = model.cfg.codec["input_size"]
            x = torch.from_numpy(np.random.default_rng(0).standard_normal(
                (cmd["batch"], 3, h, w)).astype(np.float32))
            with torch.no_grad():
                t = time.perf_counter()
                model(x, None, mode="tensor")
                out = {"s": time.perf_counter() - t}
        elif op == "gemm":
            a, b = torch.randn(cmd["size"], cmd["size"]), torch.randn(cmd["size"], cmd["size"])
            a @ b
            t = time.perf_counter()
            a @ b
            out = {"s": time.perf_counter() - t}
        reply.write(json.dumps(out) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
