"""Training health: non-finite values, runaway loss, leftovers of interrupted saves.

Rules (documented for users in :mod:`heatpose.engine.trainer`):

- A non-finite loss, or (fp32) a non-finite gradient norm, stops training with one line
  (:class:`TrainingHealthError`) before the optimizer step, or with ``train.on_nonfinite=skip``
  skips that step (weights, optimizer and BatchNorm statistics as before it); more than
  :data:`MAX_CONSECUTIVE_SKIPS` skipped steps in a row stop all the same.
- Runaway loss: the reference is the run's first positive loss, lowered to any smaller mean
  of :data:`LOSS_WINDOW` consecutive iterations; once :data:`LOSS_WINDOW` iterations are done,
  when the mean loss of the last :data:`LOSS_WINDOW` iterations exceeds
  ``train.divergence_factor`` times the reference, training stops (a heatmap loss far above
  where it started means the outputs blew up; ``train.divergence_factor=0`` turns it off).
- A checkpoint whose weights or buffers are not finite is never written.
"""
from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import Deque, Dict, Iterable, List, Optional, Tuple

import torch

from heatpose.errors import HeatposeError

LOSS_WINDOW = 10
MAX_CONSECUTIVE_SKIPS = 10


class TrainingHealthError(HeatposeError):
    """Training stopped because its numbers went bad (non-finite loss or gradient, runaway
    loss, non-finite weights). The message says where and what to change."""


def first_nonfinite(tensors: Dict[str, torch.Tensor]) -> Optional[str]:
    """The first key of a state dict whose floating-point tensor holds NaN or Inf, or None."""
    for key, value in tensors.items():
        if torch.is_tensor(value) and value.is_floating_point() and \
                not bool(torch.isfinite(value).all()):
            return key
    return None


class LossWatch:
    """The runaway-loss rule (module docstring). ``update`` returns a message when it fires."""

    def __init__(self, factor: float, window: int = LOSS_WINDOW) -> None:
        self.factor = float(factor)
        self.window = int(window)
        self._recent: Deque[float] = deque(maxlen=self.window)
        self.lowest: Optional[Tuple[float, int]] = None        # (loss level, iteration)

    def update(self, iteration: int, loss: float) -> Optional[str]:
        """Add the loss of iteration ``iteration`` (1-based); a message if the rule fires."""
        if self.factor <= 0 or not math.isfinite(loss):
            return None
        if self.lowest is None and loss > 0:
            self.lowest = (loss, iteration)
        self._recent.append(loss)
        if len(self._recent) < self.window or self.lowest is None:
            return None
        mean = sum(self._recent) / len(self._recent)
        if mean < self.lowest[0]:
            self.lowest = (mean, iteration)
            return None
        low, at = self.lowest
        if mean > self.factor * low:
            return (f"loss diverged: mean of the last {self.window} iterations is {mean:.4g} at "
                    f"iteration {iteration}, over {self.factor:g} x its lowest level {low:.4g} "
                    f"(iteration {at})")
        return None


class BufferSnapshot:
    """Copies of a model's buffers (BatchNorm statistics) taken before each forward pass, so
    that a step that is not applied leaves them as they were."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.buffers: List[torch.Tensor] = [b for b in model.buffers()]
        self.copies: List[torch.Tensor] = [b.detach().clone() for b in self.buffers]

    def take(self) -> None:
        with torch.no_grad():
            for c, b in zip(self.copies, self.buffers):
                c.copy_(b)

    def restore(self) -> None:
        with torch.no_grad():
            for c, b in zip(self.copies, self.buffers):
                b.copy_(c)


def grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Total L2 norm of the gradients (0 when there are none)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, 2.0, error_if_nonfinite=False)


def remove_partial_saves(work_dir: Path) -> Tuple[int, int]:
    """Delete ``*.pth.*.tmp`` files an interrupted save left in ``work_dir`` (see
    :func:`heatpose.models.checkpoints.save_checkpoint`); returns (files, bytes) removed."""
    count = size = 0
    for path in Path(work_dir).glob("*.pth.*.tmp"):
        try:
            n = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        count, size = count + 1, size + n
    return count, size
