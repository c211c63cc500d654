"""Reference values of MMPose 1.3.2's ``CombinedTargetMSELoss`` for tests/test_combined_loss.py.

Runs ONLY with the MMPose peer (``/work/peer/bin/peer-python tools/dump_combined_loss.py``);
writes ``tests/fixtures/combined_loss.npz``: for each case ``<name>/output``, ``/target``
((N, 3K, h, w) float32: UDP 'combined' style targets, a 0/1 class map and offsets),
``/weights`` ((N, K), some 0 and fractional), ``/use_target_weight``, ``/loss_weight``,
``/loss`` (MMPose's value) and ``/grad`` (d loss / d output). Batch 1 is a case of its own:
MMPose squeezes the batch axis away there.
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from mmpose.models.losses.heatmap_loss import CombinedTargetMSELoss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OUT = osp.join(ROOT, "tests", "fixtures", "combined_loss.npz")
CASES = {"b2_weighted": (2, 3, True, 1.0), "b1_weighted": (1, 4, True, 1.0),
         "b3_unweighted": (3, 2, False, 0.5)}


def case(rng: np.random.Generator, n: int, k: int, h: int = 8, w: int = 6):
    output = rng.normal(0, 0.5, (n, 3 * k, h, w)).astype(np.float32)
    target = np.zeros((n, 3 * k, h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    for i in range(n):
        for j in range(k):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            disc = ((xs - cx) ** 2 + (ys - cy) ** 2) <= 2.5 ** 2
            target[i, 3 * j] = disc
            target[i, 3 * j + 1] = (cx - xs) / 2.5
            target[i, 3 * j + 2] = (cy - ys) / 2.5
    weights = rng.choice(np.array([0.0, 0.5, 1.0, 1.0], np.float32), (n, k))
    return output, target, weights


def main() -> None:
    rng = np.random.default_rng(0)
    out = {}
    for name, (n, k, use_w, lw) in CASES.items():
        output, target, weights = case(rng, n, k)
        x = torch.from_numpy(output).requires_grad_()
        loss = CombinedTargetMSELoss(use_target_weight=use_w, loss_weight=lw)(
            x, torch.from_numpy(target), torch.from_numpy(weights))
        loss.backward()
        out.update({f"{name}/output": output, f"{name}/target": target,
                    f"{name}/weights": weights, f"{name}/use_target_weight": np.array(use_w),
                    f"{name}/loss_weight": np.array(lw), f"{name}/loss": loss.detach().numpy(),
                    f"{name}/grad": x.grad.numpy()})
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: " + ", ".join(f"{n} {float(out[n + '/loss']):.6g}" for n in CASES))


if __name__ == "__main__":
    main()
