"""Training logs: a live bar per epoch and a validation bar on stderr, a JSON-lines file,
optional TensorBoard, and the end-of-run summary table.

On a terminal each epoch has a bar redrawn in place (rate, ETA, loss, lr; the bars of
:mod:`heatpose.progress`). Elsewhere (a log file, CI) a plain line is written at every log
event. A log event is every ``train.log_interval`` iterations or ``train.log_seconds`` seconds
after the previous one, whichever comes first, plus the first and last iteration of each
epoch; each also appends ``{"mode": "train", "epoch", "iter", "loss", "lr", "samples_per_s",
...}`` to ``<work_dir>/log.jsonl``. Validation appends ``{"mode": "val", "epoch", "iter",
<metric>: value}`` under the metric names of ``heatpose test`` / ``eval --json``.

The log describes the run whose checkpoints are in ``work_dir``: when a run resumes at
iteration N, records of later iterations (left by a run killed after its last checkpoint) are
dropped, so a resumed log never repeats iterations; a run started from scratch moves an
existing log to ``log.previous.jsonl``. TensorBoard event files go to
``<work_dir>/tensorboard`` only when the ``tensorboard`` package is installed. Only the main
process logs.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from heatpose.progress import ProgressBar, format_duration


def _json_value(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def truncate_log(path: Path, iteration: int) -> int:
    """Drop records of ``path`` (JSON lines) with ``iter`` > ``iteration`` and unreadable
    (half-written) lines, atomically; returns how many were dropped."""
    if not path.is_file():
        return 0
    kept: List[str] = []
    dropped = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            keep = isinstance(record, dict) and int(record.get("iter", 0)) <= iteration
        except (ValueError, TypeError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        os.replace(tmp, path)
    return dropped


class TrainLogger:
    """Logs of one training run.

    Args:
        work_dir: folder for ``log.jsonl`` (and ``tensorboard/``).
        total_iters: iterations the run will do (for the ETA).
        enabled: False on non-main processes (then every call is a no-op).
        stream: where bars and lines go (stderr).
        tensorboard: try to use TensorBoard (only if installed).
        start_iter: iteration the run starts (or resumes) at; later records are dropped.
        log_interval, log_seconds: a log event every N iterations or S seconds.
    """

    def __init__(self, work_dir: Path, total_iters: int, enabled: bool = True,
                 stream: Optional[TextIO] = None, tensorboard: bool = True,
                 start_iter: int = 0, log_interval: int = 50,
                 log_seconds: float = 20.0) -> None:
        self.enabled = enabled
        self.total_iters = int(total_iters)
        self.stream = stream if stream is not None else sys.stderr
        self.work_dir = Path(work_dir)
        self.log_interval, self.log_seconds = int(log_interval), float(log_seconds)
        self._file: Optional[TextIO] = None
        self._writer: Any = None
        self._t0 = time.perf_counter()
        self._last_event = time.monotonic()
        self._start_iter = int(start_iter)
        self._bar: Optional[ProgressBar] = None
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if not enabled:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = self.work_dir / "log.jsonl"
        if self._start_iter == 0 and log.is_file() and log.stat().st_size:
            os.replace(log, log.with_name("log.previous.jsonl"))
            self.message(f"{log}: a new run; the previous run's log is now log.previous.jsonl")
        dropped = truncate_log(log, self._start_iter)
        if dropped:
            self.message(f"{log}: dropped {dropped} record(s) after iteration "
                         f"{self._start_iter} (logged after the last checkpoint)")
        self._file = open(log, "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:             # tensorboard not installed: JSON lines only
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(self.work_dir / "tensorboard"),
                                             purge_step=self._start_iter + 1)

    # ------------------------------------------------------------------------ writing
    def _write_json(self, record: Dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({k: _json_value(v) for k, v in record.items()}) + "\n")
            self._file.flush()

    def _line(self, text: str) -> None:
        try:
            self.stream.write(("\r\x1b[K" if self._tty else "") + text + "\n")
            self.stream.flush()
        except (OSError, ValueError):       # a closed stderr must not end the training
            pass

    def message(self, text: str) -> None:
        """A plain line on the progress stream (main process only)."""
        if self.enabled:
            self._line(text)

    def bar(self, total: int, label: str, done: int = 0, plain_lines: bool = True
            ) -> ProgressBar:
        """A progress bar on the log stream: drawn in place on a terminal; elsewhere plain
        lines every ``log_seconds`` (or nothing, ``plain_lines=False``)."""
        return ProgressBar(total, label, enabled=self.enabled and (self._tty or plain_lines),
                           done=done, stream=self.stream, line_interval=self.log_seconds)

    def start_epoch(self, epoch: int, epochs: int, iters: int, done: int) -> None:
        """Begin the bar of ``epoch`` (0-based) of ``epochs``: ``done`` of ``iters`` done."""
        self.end_epoch()
        self._bar = self.bar(iters, f"epoch {epoch + 1}/{epochs}", done=done,
                             plain_lines=False)

    def end_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def train_step(self, iteration: int, epoch: int, values: Dict[str, float], lr: float,
                   samples_per_s: float, force: bool = False) -> bool:
        """Iteration ``iteration`` (1-based count of finished iterations) is done: move the bar;
        at a log event (or ``force``) write the JSON record (and a line off-terminal).
        Returns whether it was a log event."""
        if not self.enabled:
            return False
        parts = {k: v for k, v in values.items() if k == "loss" or len(values) > 2}
        status = " ".join(f"{k} {v:.6f}" for k, v in parts.items()) + f" lr {lr:.3e}"
        if self._bar is not None:
            self._bar.update(1, status=status)
        now = time.monotonic()
        event = force or iteration % self.log_interval == 0 or \
            now - self._last_event >= self.log_seconds
        if not event:
            return False
        self._last_event = now
        self._write_json({"mode": "train", "epoch": epoch + 1, "iter": iteration, "lr": lr,
                          "samples_per_s": samples_per_s, **values})
        if self._writer is not None:
            for k, v in values.items():
                self._writer.add_scalar(f"train/{k}", v, iteration)
            self._writer.add_scalar("train/lr", lr, iteration)
        if not self._tty:
            done = iteration - self._start_iter
            elapsed = time.perf_counter() - self._t0
            eta = elapsed / max(done, 1) * (self.total_iters - iteration)
            self._line(f"epoch {epoch + 1} iter {iteration}/{self.total_iters} {status} "
                       f"{samples_per_s:.1f} samples/s ETA {format_duration(eta)}")
        return True

    def validation(self, epoch: int, iteration: int, metrics: Dict[str, float]) -> None:
        """Record validation results after ``epoch`` (0-based)."""
        if not self.enabled:
            return
        self._write_json({"mode": "val", "epoch": epoch + 1, "iter": iteration, **metrics})
        if self._writer is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._writer.add_scalar(f"val/{k}", v, iteration)
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in metrics.items())
        self.message(f"epoch {epoch + 1} validation: {shown}")

    def close(self) -> None:
        self.end_epoch()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def train_summary(iteration: int, total_iters: int, epoch: int, epochs: int,
                  losses: Sequence[float], seconds: float, best: Tuple[str, Any, Any],
                  last_val: Dict[str, Any], skipped: Tuple[int, int, int],
                  checkpoint: Optional[str]) -> str:
    """The end-of-run table. ``best``: (metric, value or None, epoch); ``skipped``: (train
    samples, val samples, steps); ``losses``: this run's per-iteration losses."""
    rows: List[Tuple[str, Any]] = [
        ("iterations", f"{iteration}/{total_iters} ({epoch} of {epochs} epochs done)"),
        ("time", f"{format_duration(seconds)} ({len(losses) / max(seconds, 1e-9):.2f} it/s)"),
        ("loss", loss_summary(losses))]
    if best[1] is not None:
        rows.append((f"best {best[0]}", f"{best[1]:.4f} (epoch {best[2]})"))
    rows += [(f"last val {k}", f"{v:.4f}" if isinstance(v, float) else str(v))
             for k, v in last_val.items()]
    rows.append(("skipped samples", f"{skipped[0]} train, {skipped[1]} val"))
    rows.append(("skipped steps", skipped[2]))
    if checkpoint:
        rows.append(("last checkpoint", checkpoint))
    width = max(len(a) for a, _ in rows)
    lines = ["training summary", "-" * max(width, len("training summary"))]
    return "\n".join(lines + [f"{a:<{width}}  {b}" for a, b in rows])


def loss_summary(losses: Sequence[float], n: int = 20) -> str:
    """``'0.00231 -> 0.00102 (means of the first/last 20 iterations of this run)'``."""
    if not losses:
        return "-"
    k = max(1, min(n, len(losses) // 2))
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    return f"{first:.6g} -> {last:.6g} (means of the first/last {k} iterations of this run)"
