"""Training speed: heatpose vs MMPose 1.3.2, interleaved, same recipe, batch and data.

    .venv/bin/python benchmarks/bench_train.py [--config NAME] [--batch 8] [--iters 4]
        [--rounds 2] [--peer /work/peer/bin/peer-python] [--threads 2] [--clock wall]

Each round runs one heatpose worker (this interpreter) and one MMPose worker (the peer), one
after the other, as child processes of this script. Each worker:

* pipeline: ``batch x iters`` training samples of ``../shared/data/coco_mini`` through the
  recipe's full train pipeline (load, flip, half-body, box transform, affine, target), in
  process (no loader workers): samples/s;
* step (data excluded): one fixed collated batch, then ``iters`` training steps (one warm-up
  step first): samples/s. heatpose: what ``heatpose train`` runs per iteration, i.e. the
  Trainer's own ``scheduler.apply`` + ``_step`` (normalisation, forward, loss, finite checks,
  backward, gradient norm, the recipe's optimizer) on a Trainer built from the recipe.
  MMPose: what its Runner's train loop runs, ``model.train_step(data, optim_wrapper)``
  (data_preprocessor, loss, ``optim_wrapper.update_params``), the wrapper built from the
  config's ``optim_wrapper``.

End to end (one process, no loader workers) = 1 / (1/pipeline + 1/step). The table shows
medians over rounds and heatpose/MMPose ratios. Weights are random (speed does not depend on
them). ``--clock cpu`` times with the process's CPU time instead of the wall clock: steadier
on a busy machine, and meaningful with ``--threads 1`` (with more threads it also counts the
threads' idle spinning). Nothing is written (the heatpose Trainer's work folder is a temporary one).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "coco_mini")
ANN = "annotations/person_keypoints_train2017.json"
PEER = "/work/peer/bin/peer-python"


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def timed_steps(one, iters: int, batch: int, pipeline_s: float) -> dict:
    """Seconds per sample of ``one()`` (a training step) after one warm-up call."""
    one()
    t0 = clock()
    for _ in range(iters):
        one()
    return {"pipeline_s": pipeline_s, "step_s": (clock() - t0) / (iters * batch)}


def heatpose_worker(name: str, batch: int, iters: int) -> dict:
    import tempfile

    sys.path.insert(0, ROOT)
    from heatpose.engine.config import apply_overrides
    from heatpose.engine.presets import resolve_config
    from heatpose.engine.trainer import Trainer

    cfg = apply_overrides(resolve_config(name), [
        "model.pretrained_backbone=null", "model.init_checkpoint=null",
        f"data.train_ann_file={ANN}", "data.train_img_prefix=train2017/",
        "data.extra_train_sets=[]", "data.train_keypoint_mapping=null",
        "data.val_ann_file=null", "data.num_workers=0", f"train.batch_size={batch}"])
    with tempfile.TemporaryDirectory() as work_dir:
        trainer = Trainer(cfg, DATA, work_dir, stream=io.StringIO())
        ds = trainer.train_set
        n = batch * iters
        t0 = clock()
        for i in range(n):
            ds[i % len(ds)]
        pipeline = clock() - t0
        fixed = next(iter(trainer.train_loader))   # one collated batch, as the loop gets it

        def one() -> None:      # what Trainer._loop runs per iteration, minus the loader
            trainer.scheduler.apply(trainer.progress.iteration, trainer.progress.epoch)
            if trainer._step(fixed) is None:
                raise SystemExit("heatpose step skipped")
            trainer.progress.iteration += 1
        return timed_steps(one, iters, batch, pipeline / n)


def mmpose_worker(name: str, batch: int, iters: int) -> dict:
    import glob

    import mmpose
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    from mmpose.registry import DATASETS

    base = os.path.join(os.path.dirname(mmpose.__file__), ".mim", "configs")
    cfg = Config.fromfile(glob.glob(os.path.join(base, "**", name + ".py"), recursive=True)[0])
    init_default_scope("mmpose")
    model = init_model(cfg, checkpoint=None, device="cpu").train()
    ds_cfg = cfg.train_dataloader.dataset
    pipeline = ds_cfg.get("pipeline")
    if ds_cfg.type == "CombinedDataset":
        ds_cfg = ds_cfg.datasets[0]
    ds = DATASETS.build(dict(ds_cfg, data_root=DATA, ann_file=ANN,
                             data_prefix=dict(img="train2017/"),
                             pipeline=pipeline or ds_cfg.pipeline))
    n = batch * iters
    t0 = clock()
    items = [ds[i % len(ds)] for i in range(n)]
    pipe = clock() - t0
    data = pseudo_collate(items[:batch])
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    def one() -> None:          # Runner's IterBasedTrainLoop/EpochBasedTrainLoop per iteration
        model.train_step(data, optim_wrapper=optim_wrapper)
    return timed_steps(one, iters, batch, pipe / n)


def run_worker(python: str, which: str, args: argparse.Namespace) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", which, "--config", args.config,
           "--batch", str(args.batch), "--iters", str(args.iters), "--clock", args.clock]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{which} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="td-hm_res50_8xb64-210e_coco-256x192")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=sorted(CLOCK), default="wall")
    ap.add_argument("--peer", default=PEER)
    ap.add_argument("--worker", choices=["heatpose", "mmpose"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        import torch

        global clock
        clock = CLOCK[args.clock]

        torch.set_num_threads(args.threads)
        fn = heatpose_worker if args.worker == "heatpose" else mmpose_worker
        print(json.dumps(fn(args.config, args.batch, args.iters)))
        return
    runs = {"heatpose": [], "mmpose": []}
    for r in range(args.rounds):
        order = ("heatpose", "mmpose") if r % 2 == 0 else ("mmpose", "heatpose")
        for which in order:
            runs[which].append(run_worker(sys.executable if which == "heatpose" else args.peer,
                                          which, args))
    med = {w: {k: statistics.median(x[k] for x in v) for k in ("pipeline_s", "step_s")}
           for w, v in runs.items()}
    rows = []
    for label, key in (("step (data excluded)", "step_s"), ("pipeline (augment + target)",
                                                          "pipeline_s")):
        h, m = 1 / med["heatpose"][key], 1 / med["mmpose"][key]
        rows.append((label, h, m))
    e2e = [1 / (med[w]["pipeline_s"] + med[w]["step_s"]) for w in ("heatpose", "mmpose")]
    rows.append(("end to end (1 process)", *e2e))
    print(f"{args.config}, batch {args.batch}, {args.iters} iterations, {args.rounds} rounds "
          f"(interleaved), {args.threads} threads, {args.clock} clock; samples/s, medians")
    print("| | heatpose | MMPose | ratio |\n|---|---|---|---|")
    for label, h, m in rows:
        print(f"| {label} | {h:.2f} | {m:.2f} | {h / m:.2f}x |")


if __name__ == "__main__":
    main()
