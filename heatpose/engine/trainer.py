"""The training loop: one CPU, one GPU, or one process per GPU under torchrun (DDP).

    trainer = Trainer(cfg, data_root, work_dir, device="cpu")
    result = trainer.train()            # -> TrainResult (losses, best metric, files)

Per iteration: lr from the MMPose schedule -> forward (autocast on CUDA) -> the recipe's heatmap
loss (``model.loss``: KeypointMSELoss, CombinedTargetMSELoss for UDP 'combined'; + visibility
BCE) -> backward (GradScaler on CUDA) -> losses and gradient norm checked (one host sync) ->
Adam step (torch's fused kernel on the CPU). Per epoch: ``epoch_<n>.pth`` and
``latest.pth`` every ``checkpoint_interval`` epochs and at the end (also when ``max_iters``
stops mid-epoch), validation every ``val_interval`` epochs (keeping ``best_<metric>.pth``, the
metric being the preset's key metric unless ``train.val_metric`` says otherwise). Every file
is a self-describing model file that also holds what ``--resume`` needs. Ctrl-C finishes the
running iteration, writes ``latest.pth`` and stops (a second Ctrl-C stops at once).

Faults (details in :mod:`heatpose.engine.samples` and :mod:`heatpose.engine.health`):
unreadable samples (missing or corrupt image, non-finite or empty box) are skipped and counted
with one line naming file and record (``train.skip_bad_samples=false``: the first one stops
the run); a non-finite loss or gradient stops with one line before the weights change (or,
``train.on_nonfinite=skip``, skips the step); a runaway loss stops (``train.divergence_factor``).
Any other exception first saves ``latest.pth`` (health stops: ``emergency.pth``, keeping the
last good ``latest.pth``), never a checkpoint with non-finite weights. A start or resume removes
the temporary files of a save that was killed and drops log records after the resumed
iteration. The run ends with a summary table on the log stream.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from heatpose.engine.config import ConfigError, TrainConfig, check_config
from heatpose.engine.data import build_dataset, build_loader, iters_per_epoch
from heatpose.engine.distributed import (DistInfo, any_process, barrier, broadcast_object,
                                         env_dist_info, process_device, reduce_mean, unwrap,
                                         wrap_model)
from heatpose.engine.health import (MAX_CONSECUTIVE_SKIPS, BufferSnapshot, LossWatch,
                                    TrainingHealthError,
                                    first_nonfinite, grad_norm, remove_partial_saves)
from heatpose.engine.interrupt import StopFlag
from heatpose.engine.logging import TrainLogger, train_summary
from heatpose.engine.model import (TrainStep, build_training_model, load_config_schema,
                                   training_model_name, unpack_batch)
from heatpose.engine.optim import build_optimizer, build_scheduler, load_optimizer_state
from heatpose.engine.samples import SafeSamples, SkipCounter, collate_skipping
from heatpose.engine.state import (Progress, read_training_state, rng_state, seed_everything,
                                   set_rng_state)
from heatpose.engine.metric_names import val_metric_name, val_rule_for
from heatpose.engine.validate import (build_val_dataset, compute_metrics, gather_predictions,
                                      predict_loader, val_schema)
from heatpose.data.dataset import collate_topdown
from heatpose.errors import CheckpointError

PathLike = Union[str, Path]


@dataclass
class TrainResult:
    """What a run did: ``losses`` (one float per iteration of this run, averaged over
    processes), ``iteration``/``epoch`` reached, validation history, best metric, files."""

    losses: List[float] = field(default_factory=list)
    iteration: int = 0
    epoch: int = 0
    metrics: List[Dict[str, float]] = field(default_factory=list)
    best: Optional[float] = None
    best_metric: Optional[str] = None
    checkpoints: List[str] = field(default_factory=list)
    interrupted: bool = False
    skipped_samples: int = 0
    skipped_steps: int = 0
    seconds: float = 0.0


class Trainer:
    """Train ``cfg`` on ``data_root``, writing logs and checkpoints to ``work_dir``.

    Args:
        resume: True = continue from ``work_dir/latest.pth`` (if present); a path = from
            that checkpoint.
        device: 'cpu' or 'cuda' (each torchrun process uses GPU ``LOCAL_RANK``).
        info: process placement (default: from the torchrun environment).
    """

    def __init__(self, cfg: TrainConfig, data_root: PathLike, work_dir: PathLike,
                 device: str = "cpu", resume: Union[bool, PathLike] = False,
                 info: Optional[DistInfo] = None, stream: Any = None) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available (use --device cpu)")
        self.cfg = cfg
        self.data_root = Path(data_root)
        self.work_dir = Path(work_dir)
        self.info = info or env_dist_info()
        self.device = process_device(device, self.info)
        self.amp = bool(cfg.train.amp) and self.device.type == "cuda"
        t = cfg.train
        check_config(cfg, "config")        # every section: also a config built in Python
        # resolved in place, so that the saved config and the caller see what chose the best
        t.val_metric = val_metric_name(t.val_metric, cfg.data.dataset)
        t.val_rule = val_rule_for(t.val_rule, t.val_metric)
        seed_everything(t.seed)
        self.schema = load_config_schema(cfg.model)
        self.model = build_training_model(cfg.model, self.schema,
                                          name=training_model_name(cfg)).to(self.device)
        self.step_module = wrap_model(TrainStep(self.model), self.info, self.device)
        self.optimizer = build_optimizer(self.model, cfg.optim, t.batch_size,
                                         self.info.world_size)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        collate = collate_skipping(collate_topdown)
        self.train_set = SafeSamples(build_dataset(cfg, self.data_root, "train", self.schema,
                                                   self.model.codec))
        self.train_loader, self.train_sampler = build_loader(
            self.train_set, self.info, t.batch_size, True, cfg.data.num_workers, t.seed, False,
            collate_fn=collate)
        self.iters_per_epoch = iters_per_epoch(len(self.train_set), t.batch_size,
                                               self.info.world_size, False)
        self.val_loader = None
        self.val_records: List[Any] = []
        self.val_schema = self.schema
        if cfg.data.val_ann_file:
            self.val_schema = val_schema(cfg, self.schema)    # output_keypoint_indices
            val_set = SafeSamples(build_val_dataset(cfg, self.data_root, self.val_schema,
                                                    self.model.codec))
            self.val_records = list(val_set.records)
            self.val_loader, _ = build_loader(val_set, self.info, cfg.data.val_batch_size,
                                              False, cfg.data.num_workers, t.seed, False,
                                              collate_fn=collate)
        self.total_iters = t.epochs * self.iters_per_epoch
        if t.max_iters is not None:
            self.total_iters = min(self.total_iters, int(t.max_iters))
        self.progress = Progress()
        partial = remove_partial_saves(self.work_dir) if self.info.is_main else (0, 0)
        if resume:
            path = Path(resume) if not isinstance(resume, bool) else self.work_dir / "latest.pth"
            if path.is_file():
                self.load_state(path)
            elif not isinstance(resume, bool):
                raise CheckpointError(f"{path}: checkpoint to resume from not found")
        self.logger = TrainLogger(self.work_dir, self.total_iters, enabled=self.info.is_main,
                                  stream=stream, start_iter=self.progress.iteration,
                                  log_interval=t.log_interval, log_seconds=t.log_seconds)
        if partial[0]:
            self.logger.message(f"removed {partial[0]} unfinished checkpoint file(s) (*.tmp, "
                                f"{partial[1] / 1e6:.1f} MB) left by an interrupted save")
        if resume and self.progress.iteration == 0 and isinstance(resume, bool):
            self.logger.message(f"no checkpoint in {self.work_dir}; starting from scratch")
        self.skips = SkipCounter(t.skip_bad_samples, report=self.logger.message)
        self.val_skips = SkipCounter(t.skip_bad_samples, report=self.logger.message)
        self.loss_watch = LossWatch(t.divergence_factor)
        self.buffers = BufferSnapshot(self.model)
        self.skipped_steps = 0
        self._skips_in_a_row = 0
        self._updating = False          # inside optimizer.step: the state is half-updated

    # ------------------------------------------------------------------ checkpoints
    def save(self, name: str) -> Path:
        """Write ``work_dir/name`` (main process only): model file + resumable state.
        Weights or buffers that are not finite are never written (TrainingHealthError)."""
        from heatpose.models.build import save_model

        path = self.work_dir / name
        if self.info.is_main:
            bad = first_nonfinite(self.model.state_dict())
            if bad is not None:
                raise TrainingHealthError(
                    f"{path}: not written: {bad} is not finite after iteration "
                    f"{self.progress.iteration}; lower optim.lr or set optim.grad_clip_norm")
            save_model(self.model, path, optimizer=self.optimizer.state_dict(),
                       scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
                       rng=rng_state(), progress=self.progress.to_dict(),
                       config=self.cfg.to_dict())
        return path

    def load_state(self, path: PathLike) -> None:
        """Restore model, optimizer, schedule, GradScaler, RNGs and loop position."""
        from heatpose.models.checkpoints import load_state_dict_checked

        payload = read_training_state(path)
        load_state_dict_checked(self.model, payload["state_dict"], source=str(path))
        try:
            load_optimizer_state(self.optimizer, payload["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: optimizer state does not fit this model ({exc})")
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        set_rng_state(payload["rng"])
        self.progress = Progress(**payload["progress"])

    # ------------------------------------------------------------------ loop
    def train(self) -> TrainResult:
        """Run until ``train.epochs`` (or ``train.max_iters``); returns a :class:`TrainResult`.
        Any exception but Ctrl-C saves an emergency checkpoint first (see module docstring)."""
        result = TrainResult(best=self.progress.best, best_metric=self.cfg.train.val_metric)
        start, self._start_iteration = time.perf_counter(), self.progress.iteration
        try:
            with StopFlag() as flag:
                self._loop(result, flag)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.logger.end_epoch()
            self._emergency_save(exc, result)
            raise
        finally:
            result.iteration, result.epoch = self.progress.iteration, self.progress.epoch
            result.skipped_samples, result.skipped_steps = self.skips.count, self.skipped_steps
            result.seconds = time.perf_counter() - start
            self.logger.end_epoch()
            if self.progress.iteration > self._start_iteration:
                self.logger.message(self.summary(result))
            self.logger.close()
        return result

    def _emergency_save(self, exc: Exception, result: TrainResult) -> None:
        """Save the state before the failed iteration: ``latest.pth`` (``emergency.pth`` when
        the numbers went bad), unless it is half-updated or not finite."""
        if not self.info.is_main or self.progress.iteration == self._start_iteration:
            return                      # nothing done since the start: nothing to lose
        name = "emergency.pth" if isinstance(exc, TrainingHealthError) else "latest.pth"
        if self._updating:
            self.logger.message(f"{type(exc).__name__} inside the optimizer step: no "
                                "emergency checkpoint (the weights are half-updated)")
            return
        try:
            path = self.save(name)
        except Exception as err:                        # noqa: BLE001 - report, keep the cause
            self.logger.message(f"no emergency checkpoint: {err}")
            return
        result.checkpoints.append(str(path))
        if name == "latest.pth":
            hint = "continue with --resume once the cause is fixed"
        else:
            hint = "the state when it stopped; the epoch_*.pth files are the regular checkpoints"
        self.logger.message(f"stopped at iteration {self.progress.iteration} "
                            f"({type(exc).__name__}); saved {path} ({hint})")

    def summary(self, result: TrainResult) -> str:
        """The end-of-run table (iterations, time, loss, best and last validation, skips)."""
        p, t = self.progress, self.cfg.train
        return train_summary(
            p.iteration, self.total_iters, p.epoch, t.epochs, result.losses, result.seconds,
            (t.val_metric, p.best, p.best_epoch), result.metrics[-1] if result.metrics else {},
            (result.skipped_samples, self.val_skips.count, result.skipped_steps),
            result.checkpoints[-1] if result.checkpoints else None)

    def _loop(self, result: TrainResult, flag: StopFlag) -> None:
        t, p = self.cfg.train, self.progress
        self.logger.message(
            f"training {self.cfg.model.name or self.cfg.model.backbone}: {len(self.train_set)} "
            f"instances, {self.iters_per_epoch} iterations/epoch, {self.info.world_size} "
            f"process(es) x batch {t.batch_size}, lr {self.scheduler.base_lrs[0]:.3g}, "
            f"device {self.device}{', amp' if self.amp else ''}")
        while p.epoch < t.epochs and p.iteration < self.total_iters:
            self.train_set.set_epoch(p.epoch)
            self.train_sampler.set_epoch(p.epoch)
            self.train_sampler.set_start(p.iter_in_epoch * t.batch_size)
            self.logger.start_epoch(p.epoch, t.epochs, self.iters_per_epoch, p.iter_in_epoch)
            tick, seen = time.perf_counter(), 0
            for batch in self.train_loader:
                # one collective: a Ctrl-C during the previous iteration, and empty batches
                stop, empty = any_process((flag.stop, batch[0] is None), self.info, self.device)
                if stop:        # the previous iteration is done; this batch is read on resume
                    self._interrupt(result)
                self.skips.batch(batch[3], 0 if batch[0] is None else len(batch[0]))
                self.scheduler.apply(p.iteration, p.epoch)
                if empty:
                    values = self._skip_step(f"iteration {p.iteration + 1}: no readable sample "
                                             "in the batch", stop=False)
                else:
                    values = self._step(batch)
                p.iteration += 1
                p.iter_in_epoch += 1
                last = p.iteration >= self.total_iters
                if values is not None:
                    seen += len(batch[0]) * self.info.world_size
                    result.losses.append(values["loss"])
                    speed = seen / max(time.perf_counter() - tick, 1e-9)
                    self.logger.train_step(
                        p.iteration, p.epoch, values, self.optimizer.param_groups[0]["lr"],
                        speed, force=last or p.iter_in_epoch in (1, self.iters_per_epoch))
                    warning = self.loss_watch.update(p.iteration, values["loss"])
                    if warning:
                        raise TrainingHealthError(
                            f"{warning}; stopped: lower optim.lr (now "
                            f"{self.scheduler.base_lrs[0]:.3g}) or set optim.grad_clip_norm "
                            f"(train.divergence_factor=0 turns this check off)")
                if (last or p.iter_in_epoch >= self.iters_per_epoch) and self._should_stop(flag):
                    self._interrupt(result)     # before the epoch's checkpoints and validation
                if last:
                    break
            self.logger.end_epoch()
            if p.iter_in_epoch >= self.iters_per_epoch:
                self._end_epoch(result)
            elif p.iteration >= self.total_iters:
                result.checkpoints.append(str(self.save("latest.pth")))
        barrier(self.info)

    def _should_stop(self, flag: StopFlag) -> bool:
        return any_process((flag.stop,), self.info, self.device)[0]

    def _interrupt(self, result: TrainResult) -> None:
        """Ctrl-C: save ``latest.pth`` at the last finished iteration and stop."""
        result.interrupted = True
        self.logger.end_epoch()
        result.checkpoints.append(str(self.save("latest.pth")))
        barrier(self.info)
        self.logger.message(f"interrupted at iteration {self.progress.iteration}: saved "
                            f"{self.work_dir / 'latest.pth'} (resume with --resume)")
        raise KeyboardInterrupt

    def _step(self, batch: Any) -> Optional[Dict[str, float]]:
        """One optimizer step on ``batch`` (samples on every process); None when it was skipped
        (a non-finite loss/gradient with ``on_nonfinite=skip``). The losses (averaged over
        processes) and the fp32 gradient norm come to the host in one all-reduce and one sync,
        after the backward pass and before the weights change."""
        p = self.progress
        inputs = unpack_batch(batch, self.device)     # images, heatmaps, weights[, vis weights]
        self.step_module.train()
        self.buffers.take()
        with torch.autocast(self.device.type, enabled=self.amp):
            losses = self.step_module(*inputs)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        norm = None
        if not self.amp:      # with AMP, GradScaler skips steps with non-finite gradients
            if self.cfg.optim.grad_clip_norm:
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                      self.cfg.optim.grad_clip_norm)
            else:
                norm = grad_norm(self.model.parameters())
        stats = [v.detach().float().reshape(()) for v in losses.values()]
        stats = reduce_mean(torch.stack(stats + ([] if norm is None else
                                                 [norm.float().to(stats[0].device)])),
                            self.info).tolist()
        values = dict(zip(losses, stats))
        if not math.isfinite(values["loss"]):
            return self._skip_step(f"loss is {values['loss']} at iteration {p.iteration + 1} "
                                   f"(epoch {p.epoch + 1})", stop=True)
        if norm is not None and not math.isfinite(stats[-1]):
            return self._skip_step(f"gradient norm is {stats[-1]} at iteration "
                                   f"{p.iteration + 1} (epoch {p.epoch + 1})", stop=True)
        if self.amp and self.cfg.optim.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip_norm)
        self._updating = True
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._updating = False
        self._skips_in_a_row = 0
        return values

    def _skip_step(self, what: str, stop: bool) -> None:
        """Undo the forward pass's side effects and skip the step; with ``stop`` (non-finite
        numbers) raise TrainingHealthError unless ``train.on_nonfinite=skip``."""
        if stop:            # non-finite numbers come after the forward pass: undo its BN updates
            self.buffers.restore()
        self.optimizer.zero_grad(set_to_none=True)
        self.skipped_steps += 1
        self._skips_in_a_row += 1
        if stop and (self.cfg.train.on_nonfinite == "stop"
                     or self._skips_in_a_row > MAX_CONSECUTIVE_SKIPS):
            why = (f" ({self._skips_in_a_row} steps in a row)"
                   if self.cfg.train.on_nonfinite == "skip" else "")
            raise TrainingHealthError(
                f"{what}{why}; stopped before the weights changed: lower optim.lr (now "
                f"{self.scheduler.base_lrs[0]:.3g}) or set optim.grad_clip_norm "
                "(train.on_nonfinite=skip skips such steps)")
        self.logger.message(f"{what}: step skipped")
        return None

    def _end_epoch(self, result: TrainResult) -> None:
        t, p = self.cfg.train, self.progress
        p.epoch += 1
        p.iter_in_epoch = 0
        done = p.epoch >= t.epochs or p.iteration >= self.total_iters
        save = p.epoch % t.checkpoint_interval == 0 or done
        if save:
            result.checkpoints.append(str(self.save(f"epoch_{p.epoch}.pth")))
        if self.val_loader is not None and (p.epoch % t.val_interval == 0 or done):
            metrics = self.validate()
            result.metrics.append(metrics)
            self.logger.validation(p.epoch - 1, p.iteration, metrics)
            value = metrics.get(t.val_metric)
            if value is None:
                self.logger.message(f"validation gave no {t.val_metric!r} (has: "
                                    f"{', '.join(metrics)}); set train.val_metric")
            elif math.isfinite(value) and (p.best is None or (
                    value > p.best if t.val_rule == "greater" else value < p.best)):
                p.best, p.best_epoch = float(value), p.epoch
                result.best = p.best
                name = "best_" + "".join(c if c.isalnum() or c in "@.-" else "_"
                                         for c in t.val_metric) + ".pth"
                result.checkpoints.append(str(self.save(name)))
        if save:
            result.checkpoints.append(str(self.save("latest.pth")))
        barrier(self.info)

    def validate(self) -> Dict[str, float]:
        """Metrics of the current model on the val split (all processes take part)."""
        if self.val_loader is None:
            return {}
        bar = self.logger.bar(len(self.val_loader), "validation")

        def on_batch(meta: Dict[str, Any], n: int) -> None:
            self.val_skips.batch(meta, n)
            bar.update(1)

        try:
            preds = predict_loader(self.model, self.val_loader, self.device, self.amp,
                                   on_batch=on_batch, schema=self.val_schema)
        finally:
            bar.close()
        preds = gather_predictions(preds, self.info)
        metrics = compute_metrics(self.cfg, self.data_root, self.val_schema, self.val_records,
                                  preds) if self.info.is_main else None
        return broadcast_object(metrics, self.info)


def train_model(cfg: TrainConfig, data_root: PathLike, work_dir: PathLike, device: str = "cpu",
                resume: Union[bool, PathLike] = False, stream: Any = None) -> TrainResult:
    """Build a :class:`Trainer` and run it (the Python form of ``heatpose train``)."""
    return Trainer(cfg, data_root, work_dir, device=device, resume=resume,
                   stream=stream).train()


__all__ = ["Trainer", "TrainResult", "train_model", "unwrap"]
