"""Training logs: a progress line on stderr, a JSON-lines file, optional TensorBoard.

``<work_dir>/log.jsonl`` gets one JSON object per logged step (``{"mode": "train", "epoch",
"iter", "loss", "lr", "time", ...}``) and per validation (``{"mode": "val", "epoch",
<metric>: value}``). TensorBoard event files go to ``<work_dir>/tensorboard`` only when the
``tensorboard`` package is installed. Only the main process logs.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, TextIO


def format_duration(seconds: float) -> str:
    """``3725`` -> ``'1:02:05'``; ``'?'`` for unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _json_value(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class TrainLogger:
    """Logs of one training run.

    Args:
        work_dir: folder for ``log.jsonl`` (and ``tensorboard/``).
        total_iters: iterations the run will do (for the ETA).
        enabled: False on non-main processes (then every call is a no-op).
        stream: where the progress line goes (stderr).
        tensorboard: try to use TensorBoard (only if installed).
    """

    def __init__(self, work_dir: Path, total_iters: int, enabled: bool = True,
                 stream: Optional[TextIO] = None, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.total_iters = int(total_iters)
        self.stream = stream if stream is not None else sys.stderr
        self.work_dir = Path(work_dir)
        self._file: Optional[TextIO] = None
        self._writer: Any = None
        self._t0 = time.perf_counter()
        self._start_iter: Optional[int] = None
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if not enabled:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.work_dir / "log.jsonl", "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:             # tensorboard not installed: JSON lines only
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(self.work_dir / "tensorboard"))

    # ------------------------------------------------------------------------ writing
    def _write_json(self, record: Dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({k: _json_value(v) for k, v in record.items()}) + "\n")
            self._file.flush()

    def message(self, text: str) -> None:
        """A plain line on the progress stream (main process only)."""
        if self.enabled:
            if self._tty:
                self.stream.write("\n")
            self.stream.write(text + "\n")
            self.stream.flush()

    def train_step(self, iteration: int, epoch: int, values: Dict[str, float],
                   lr: float, samples_per_s: float, force_line: bool = False) -> None:
        """Record iteration ``iteration`` (1-based count of finished iterations)."""
        if not self.enabled:
            return
        if self._start_iter is None:
            self._start_iter = iteration - 1
            self._t0 = time.perf_counter()
        done = iteration - self._start_iter
        elapsed = time.perf_counter() - self._t0
        eta = elapsed / max(done, 1) * (self.total_iters - iteration)
        record = {"mode": "train", "epoch": epoch + 1, "iter": iteration, "lr": lr,
                  "samples_per_s": samples_per_s, **values}
        self._write_json(record)
        if self._writer is not None:
            for k, v in values.items():
                self._writer.add_scalar(f"train/{k}", v, iteration)
            self._writer.add_scalar("train/lr", lr, iteration)
        width = 24
        frac = min(1.0, iteration / max(self.total_iters, 1))
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        parts = " ".join(f"{k} {v:.6f}" for k, v in values.items())
        line = (f"epoch {epoch + 1} [{bar}] {iteration}/{self.total_iters} {parts} "
                f"lr {lr:.3e} {samples_per_s:.1f} samples/s ETA {format_duration(eta)}")
        if self._tty and not force_line:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

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
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()
