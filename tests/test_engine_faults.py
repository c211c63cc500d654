"""Training faults on real images (coco_mini, tiny ResNet-18 on CPU): unreadable samples are
skipped and counted with the same one line with and without DataLoader workers (or stop the
run, with an emergency checkpoint, when skipping is off); a NaN box is a bad sample, not a black
crop; a NaN loss stops with one line and a finite emergency checkpoint (or skips the step); a
checkpoint with non-finite weights is never written; a runaway loss stops the CLI with a
non-zero exit; a resume removes a killed save's temp files and never repeats log iterations;
kill -9 at random moments, then --resume, ends bit-equal to an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import torch

from heatpose.engine.config import TrainConfig, apply_overrides, save_config
from heatpose.engine.health import TrainingHealthError
from heatpose.engine.state import read_training_state
from heatpose.engine.trainer import Trainer
from heatpose.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
# 16 persons, batch 4: 4 iterations per epoch
SMALL = ["model.name=tiny-test", "model.backbone=resnet18",
         'model.backbone_kwargs={"stem_channels": 8, "base_channels": 8}',
         "model.deconv_out_channels=[16,16,16]",
         'model.codec={"type": "MSRAHeatmap", "input_size": [64, 96], '
         '"heatmap_size": [16, 24], "sigma": 2}',
         "data.val_ann_file=null", "data.num_workers=0", "data.max_train_instances=16",
         "optim.lr=2e-3", "optim.warmup_iters=3", "optim.milestones=[]",
         "train.batch_size=4", "train.epochs=100", "train.log_interval=1",
         "train.checkpoint_interval=100"]


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def small(*extra: str) -> TrainConfig:
    return apply_overrides(TrainConfig(), SMALL + list(extra))


def data_copy(data_dir: Path, tmp_path: Path) -> Path:
    """coco_mini as links under tmp_path (so that tests can damage single images)."""
    src = data_dir / "coco_mini"
    root = tmp_path / "data"
    (root / "train2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    os.symlink(src / "annotations/person_keypoints_train2017.json",
               root / "annotations/person_keypoints_train2017.json")
    for img in (src / "train2017").iterdir():
        os.symlink(img, root / "train2017" / img.name)
    return root


def finite_state(path: Path) -> bool:
    state = read_training_state(path)["state_dict"]
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


def _damaged_run(root: Path, work: Path, workers: int, *extra: str):
    """Train 8 iterations with record 5's image corrupt, record 9's image missing and record
    2's box NaN; returns (trainer, result or exception, log stream text)."""
    stream = StringIO()
    trainer = Trainer(small(f"data.num_workers={workers}", "train.max_iters=8", *extra),
                      root, work, stream=stream)
    recs = trainer.train_set.records
    corrupt = root / recs[5].img_path
    if corrupt.is_symlink():
        corrupt.unlink()
        corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    missing = root / recs[9].img_path
    if missing.is_symlink():
        missing.unlink()
    recs[2].bbox = np.array([np.nan, 10, 50, 90], np.float32)
    try:
        outcome = trainer.train()
    except Exception as exc:            # noqa: BLE001 - the caller checks it
        outcome = exc
    bad = {2} | {i for i, r in enumerate(recs) if r.img_path in (recs[5].img_path,
                                                                  recs[9].img_path)}
    return trainer, outcome, stream.getvalue(), bad


def _skip_lines(text: str):
    return sorted(line for line in text.splitlines() if line.startswith("skipped sample:"))


def test_bad_samples_are_skipped_with_the_same_line_with_and_without_workers(tmp_path,
                                                                              data_dir):
    root = data_copy(data_dir, tmp_path)
    t0, r0, log0, bad = _damaged_run(root, tmp_path / "w0", 0)
    t2, r2, log2, _ = _damaged_run(root, tmp_path / "w2", 2)
    assert r0.skipped_samples == r2.skipped_samples == len(bad) >= 3
    lines = _skip_lines(log0)
    assert lines == _skip_lines(log2) and len(lines) == len(bad)
    recs = t0.train_set.records
    for i in bad:           # one line naming the image file and the record
        assert any(f"ann_id {recs[i].ann_id}," in line and recs[i].img_path in line
                   for line in lines), (i, lines)
    assert any("not a readable image" in x for x in lines)
    assert any("image not found" in x for x in lines)
    assert any("box [nan, 10.0, 50.0, 90.0] is not finite" in x for x in lines)
    assert "Traceback" not in log0 + log2
    assert r0.losses == r2.losses and len(r0.losses) == 8       # same numbers either way
    assert re.search(rf"^skipped samples +{len(bad)} train, 0 val$", log0, re.M)
    # the NaN box never became a sample (a black crop with a zero target)
    assert t0.train_set[2].message.endswith(f"(ann_id {recs[2].ann_id}, image id "
                                            f"{recs[2].img_id})")


def _late_image(recs, seed: int = 0):
    """(record index, position in epoch 0's order) of the image whose first use in epoch 0
    comes last (damaging it leaves the batches before it intact)."""
    from heatpose.engine.distributed import DistInfo, ResumableSampler

    sampler = ResumableSampler(range(len(recs)), DistInfo(), shuffle=True, seed=seed)
    sampler.set_epoch(0)
    first = {}
    for pos, i in enumerate(sampler):
        first.setdefault(recs[i].img_path, (i, pos))
    return max(first.values(), key=lambda ip: ip[1])


def _corrupt(path: Path) -> None:
    path.unlink()
    path.write_bytes(b"")                                   # an empty file


@pytest.mark.parametrize("workers", [0, 2])
def test_strict_data_stops_with_one_line_and_an_emergency_checkpoint(tmp_path, data_dir,
                                                                     workers):
    root = data_copy(data_dir, tmp_path)
    stream = StringIO()
    trainer = Trainer(small(f"data.num_workers={workers}", "train.max_iters=8",
                            "train.skip_bad_samples=false"), root, tmp_path / "w",
                      stream=stream)
    recs = trainer.train_set.records
    index, pos = _late_image(recs)
    assert pos >= 4                                          # at least one batch runs
    _corrupt(root / recs[index].img_path)
    with pytest.raises(InputError) as err:
        trainer.train()
    assert str(err.value).startswith(f"{root / recs[index].img_path}: not a readable image")
    assert f"(ann_id {recs[index].ann_id}, " in str(err.value) and "\n" not in str(err.value)
    assert "--strict-data" in str(err.value)
    log = stream.getvalue()
    assert "Traceback" not in log and "DataLoader worker" not in str(err.value)
    # the batch with the bad sample never ran; what ran before is saved
    assert trainer.progress.iteration == pos // 4
    saved = read_training_state(tmp_path / "w" / "latest.pth")["progress"]
    assert saved["iteration"] == pos // 4 and "continue with --resume" in log


def test_cli_strict_data_with_workers_ends_with_one_line(tmp_path, data_dir, capsys):
    from heatpose.cli import main
    from heatpose.data.readers import read_dataset

    root = data_copy(data_dir, tmp_path)
    recs = read_dataset("coco", str(root / "annotations/person_keypoints_train2017.json"),
                        img_prefix="train2017/")[:16]
    index, pos = _late_image(recs)
    _corrupt(root / recs[index].img_path)
    cfg = tmp_path / "cfg.json"
    save_config(small("data.num_workers=2", "train.max_iters=8"), cfg)
    code = main(["train", str(cfg), "--data-root", str(root), "--work-dir",
                 str(tmp_path / "w"), "--strict-data"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    error = [line for line in err.splitlines() if "error:" in line]
    assert len(error) == 1 and recs[index].img_path in error[0]
    assert f"ann_id {recs[index].ann_id}" in error[0]
    saved = read_training_state(tmp_path / "w" / "latest.pth")["progress"]
    assert saved["iteration"] == pos // 4                     # the emergency checkpoint
    with pytest.raises(Exception, match="on_nonfinite"):
        Trainer(small("train.on_nonfinite=maybe"), root, tmp_path / "w2")


def _nan_at(trainer: Trainer, call: int) -> None:
    """The ``call``-th forward pass gets NaN images (NaN loss, NaN BatchNorm statistics)."""
    forward = trainer.model.forward_all
    calls = []

    def poisoned(x):
        calls.append(1)
        return forward(x * float("nan") if len(calls) == call else x)

    trainer.model.forward_all = poisoned


def test_nan_loss_stops_before_the_weights_change(tmp_path, data_dir):
    stream = StringIO()
    trainer = Trainer(small("train.max_iters=6"), data_dir / "coco_mini", tmp_path,
                      stream=stream)
    _nan_at(trainer, 3)
    with pytest.raises(TrainingHealthError, match=r"^loss is nan at iteration 3 \(epoch 1\)"):
        trainer.train()
    path = tmp_path / "emergency.pth"
    assert read_training_state(path)["progress"]["iteration"] == 2
    assert finite_state(path)              # BatchNorm statistics of the NaN pass undone
    assert "Traceback" not in stream.getvalue()


def test_nan_loss_skipped_when_configured(tmp_path, data_dir):
    trainer = Trainer(small("train.max_iters=6", "train.on_nonfinite=skip"),
                      data_dir / "coco_mini", tmp_path, stream=StringIO())
    _nan_at(trainer, 3)
    result = trainer.train()
    assert result.skipped_steps == 1 and len(result.losses) == 5 and result.iteration == 6
    assert finite_state(tmp_path / "latest.pth")


def test_non_finite_weights_are_never_written(tmp_path, data_dir):
    stream = StringIO()
    trainer = Trainer(small("train.max_iters=3"), data_dir / "coco_mini", tmp_path,
                      stream=stream)
    weight = next(trainer.model.parameters()).data.view(-1)
    good = float(weight[0])
    with torch.no_grad():
        weight[0] = float("inf")
    with pytest.raises(TrainingHealthError, match="not finite"):
        trainer.save("latest.pth")
    with torch.no_grad():
        weight[0] = good
    step = trainer._step

    def step_then_poison(batch):                # the first step's update goes bad
        out = step(batch)
        with torch.no_grad():
            weight[0] = float("inf")
        return out

    trainer._step = step_then_poison
    with pytest.raises(TrainingHealthError, match="at iteration 2"):
        trainer.train()
    assert not list(tmp_path.glob("*.pth*"))
    assert "no emergency checkpoint" in stream.getvalue()


def test_runaway_loss_stops_the_cli_with_an_error(tmp_path, data_dir, capsys):
    from heatpose.cli import main

    cfg = tmp_path / "cfg.json"
    save_config(small("data.augment.enabled=false", "optim.lr=3", "optim.warmup_iters=0",
                      "train.max_iters=40"), cfg)
    code = main(["train", str(cfg), "--data-root", str(data_dir / "coco_mini"),
                 "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code != 0
    error = [line for line in err.splitlines() if "error:" in line]
    assert len(error) == 1 and "loss diverged" in error[0] and "optim.lr" in error[0]
    assert "Traceback" not in err
    assert finite_state(tmp_path / "w" / "emergency.pth")
    assert not (tmp_path / "w" / "latest.pth").exists()


def test_resume_removes_partial_saves_and_keeps_the_log_unrepeated(tmp_path, data_dir):
    root = data_dir / "coco_mini"
    Trainer(small("train.max_iters=4"), root, tmp_path, stream=StringIO()).train()
    partial = tmp_path / "latest.pth.k2j4x9.tmp"           # a save killed half-way
    partial.write_bytes(b"\0" * 4096)
    log = tmp_path / "log.jsonl"
    with open(log, "a") as f:                              # logged after the last checkpoint
        f.write(json.dumps({"mode": "train", "iter": 5, "loss": 1.0}) + "\n")
        f.write('{"mode": "train", "iter": 6, "lo')        # killed mid-line
    stream = StringIO()
    Trainer(small("train.max_iters=8"), root, tmp_path, resume=True, stream=stream).train()
    assert not partial.exists() and "removed 1 unfinished checkpoint file" in stream.getvalue()
    iters = [json.loads(x)["iter"] for x in log.read_text().splitlines()]
    assert iters == list(range(1, 9))
    # a run from scratch in the same folder keeps the previous log aside
    Trainer(small("train.max_iters=1"), root, tmp_path, stream=StringIO()).train()
    assert [json.loads(x)["iter"] for x in log.read_text().splitlines()] == [1]
    assert len((tmp_path / "log.previous.jsonl").read_text().splitlines()) == 8


# ------------------------------------------------------------------ kill -9, then --resume
RUNNER = ("import sys, torch\ntorch.set_num_threads(1)\nfrom heatpose.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")
KILL_CFG = ["train.max_iters=14", "train.checkpoint_interval=1"]


def _logged_iter(log: Path) -> int:
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return 0
    iters = [0]
    for line in lines:
        try:
            iters.append(int(json.loads(line)["iter"]))
        except (ValueError, KeyError):
            pass
    return max(iters)


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path, data_dir):
    """Two runs killed (SIGKILL), one at a random moment (seeded), one as an epoch's
    checkpoints are being written, each resumed with --resume from the last checkpoint: the
    final weights are bit-equal to an uninterrupted run and the log holds every iteration
    once, with the uninterrupted run's losses."""
    root = data_dir / "coco_mini"
    cfg = tmp_path / "cfg.json"
    save_config(small(*KILL_CFG), cfg)
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    work = tmp_path / "killed"
    cmd = [sys.executable, str(runner), "train", str(cfg), "--data-root", str(root),
           "--work-dir", str(work), "--resume"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(9)
    kills = 0
    for attempt in range(2):
        logged = _logged_iter(work / "log.jsonl")
        # first mid-epoch after a random delay; then while the next epoch's checkpoint is
        # being written (its temporary file exists)
        target = logged + rng.randint(1, 3) if attempt == 0 else (logged // 4 + 1) * 4 - 1
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _logged_iter(work / "log.jsonl") < target and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        if attempt == 0:
            time.sleep(rng.uniform(0.0, 0.1))
        else:
            while proc.poll() is None and not list(work.glob("*.tmp")) and \
                    _logged_iter(work / "log.jsonl") <= target + 2:
                time.sleep(0.001)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 2
    assert list(work.glob("*.pth.*.tmp"))                 # the second kill cut a save short
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "removed 1 unfinished checkpoint file" in done.stderr
    assert not list(work.glob("*.tmp"))

    ref = Trainer(small(*KILL_CFG), root, tmp_path / "ref", stream=StringIO())
    ref.train()
    final = read_training_state(work / "latest.pth")
    assert final["progress"]["iteration"] == 14
    want = ref.model.state_dict()
    assert final["state_dict"].keys() == want.keys()
    for k, v in want.items():
        assert torch.equal(final["state_dict"][k], v), k
    log = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines()]
    ref_log = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    assert [x["iter"] for x in log] == list(range(1, 15))
    assert [x["loss"] for x in log] == [x["loss"] for x in ref_log]


# ------------------------------------------------------------------ the `heatpose test` loop
@pytest.mark.parametrize("workers", [0, 2])
def test_test_loop_skips_and_counts_unreadable_records(tmp_path, data_dir, tiny_checkpoint,
                                                       workers):
    """predict_records leaves out a corrupt image, a missing image and a NaN box, names each
    once, and predicts the others exactly as run_model does on them alone; strict mode stops
    at the first with the same line."""
    from heatpose.data.readers import read_dataset
    from heatpose.evaluation.testing import predict_records, run_model
    from heatpose.models.build import load_model

    root = data_copy(data_dir, tmp_path)
    records = read_dataset("coco", str(root / "annotations/person_keypoints_train2017.json"),
                           img_prefix=str(root / "train2017") + "/")[:12]
    corrupt, missing = Path(records[1].img_path), Path(records[7].img_path)
    corrupt.unlink()
    corrupt.write_bytes(b"GIF89a broken")
    missing.unlink()
    records[4].bbox = np.array([0, 0, np.inf, 20], np.float32)
    bad = {4} | {i for i, r in enumerate(records)
                 if r.img_path in (str(corrupt), str(missing))}
    model = load_model(tiny_checkpoint)
    lines = []
    out = predict_records(model, records, batch_size=4, workers=workers, report=lines.append)
    assert set(out.skipped) == bad and len(lines) == len(bad)
    assert all(records[i].img_path in out.skipped[i] and f"ann_id {records[i].ann_id}"
               in out.skipped[i] for i in bad)
    good = [r for i, r in enumerate(records) if i not in bad]
    assert out.records == good
    want = run_model(model, good, batch_size=4)
    np.testing.assert_array_equal(out.predictions.keypoints, want.keypoints)
    first = min(bad)
    with pytest.raises(InputError) as err:
        predict_records(model, records, batch_size=4, workers=workers, skip_bad=False)
    assert str(err.value).startswith(out.skipped[first]) and "\n" not in str(err.value)


# ------------------------------------------------------------------ DDP (gloo, CPU)
def _nan_box_first_on_rank1(trainer: Trainer) -> None:
    """Give the first sample process 1 draws in epoch 0 a NaN box."""
    from heatpose.engine.distributed import DistInfo, ResumableSampler

    sampler = ResumableSampler(range(len(trainer.train_set)), DistInfo(1, 2, 1), shuffle=True,
                               seed=0)
    sampler.set_epoch(0)
    trainer.train_set.records[list(sampler)[0]].bbox = np.full(4, np.nan, np.float32)


@pytest.mark.slow
def test_ddp_skips_a_step_on_every_process_when_one_has_no_readable_sample(tmp_path,
                                                                           data_dir):
    """Batch 1 per process: process 1's first sample is bad, so its batch is empty; both
    processes skip that step together (no hang), then train on; the replicas stay equal."""
    import torch.multiprocessing as mp

    from test_engine_train import _ddp_worker, _free_port

    overrides = SMALL + ["train.batch_size=1", "data.max_train_instances=4",
                         "train.max_iters=2"]
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(data_dir / "coco_mini"), str(tmp_path),
                                overrides, _nan_box_first_on_rank1), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["steps"] == r1["steps"] == 1
    assert (r0["samples"], r1["samples"]) == (0, 1)
    assert r0["losses"] == r1["losses"] and len(r0["losses"]) == 1
    for k, v in r0["state"].items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, r1["state"][k]), k


def test_mostly_unreadable_data_stops_instead_of_skipping_everything():
    """More than half of the samples bad (after 20 of them): a wrong data root, not a few
    damaged files; one line with the count and the last bad sample."""
    from heatpose.engine.samples import BadSample, SkipCounter

    counter = SkipCounter(skip=True)
    counter.batch({"skipped": [BadSample(i, f"img{i}.jpg: image not found") for i in range(3)]},
                  5)
    assert counter.count == 3 and counter.summary() == "3 unreadable samples skipped"
    with pytest.raises(InputError, match=r"^23 of 33 samples read so far are unreadable "
                                         r"\(last: img22.jpg: image not found\)"):
        counter.batch({"skipped": [BadSample(i, f"img{i}.jpg: image not found")
                                   for i in range(3, 23)]}, 5)


def test_sample_box_rule_is_the_readers():
    """A detection box with one zero side gets a crop (as the readers and MMPose keep it); a
    box with no size or a negative side is a bad sample."""
    from types import SimpleNamespace

    from heatpose.engine.samples import record_problem

    def rec(box):
        return SimpleNamespace(bbox=box, keypoints=np.zeros((17, 2)),
                               keypoints_visible=np.ones(17))
    assert record_problem(rec([10, 10, 10, 40]), train=False) is None
    assert "no area" in record_problem(rec([10, 10, 10, 10]), train=False)
    assert "no area" in record_problem(rec([10, 10, 5, 40]), train=False)
