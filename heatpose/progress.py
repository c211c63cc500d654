"""A one-line text progress bar on stderr (no dependency): downloads, inference, testing."""
from __future__ import annotations

import sys
import time
from typing import Optional


class ProgressBar:
    """``label: [#####     ]  42.0% 21/50 4.2 it/s``, redrawn at most every ``min_interval`` s.

    ``unit``/``scale`` format the counts (e.g. ``unit="MB", scale=1e-6`` for bytes); ``done``
    is where the count starts (a resumed download)."""

    def __init__(self, total: Optional[int], label: str, enabled: bool = True,
                 unit: str = "", scale: float = 1.0, done: int = 0,
                 min_interval: float = 0.2) -> None:
        self.total, self.label, self.unit, self.scale = total, label, unit, scale
        self.enabled = enabled and sys.stderr is not None
        self.done = self._start_done = done
        self.min_interval = min_interval
        self._start = time.monotonic()
        self._last = float("-inf")

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.min_interval:
            self._last = now
            self._draw(now, end="")

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic(), end="\n")

    def _fmt(self, count: float) -> str:
        return f"{count * self.scale:.1f}" if self.unit else f"{int(count)}"

    def _draw(self, now: float, end: str) -> None:
        rate = (self.done - self._start_done) * self.scale / max(now - self._start, 1e-6)
        per_s = f"{rate:.1f} {self.unit or 'it'}/s"
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            text = (f"{self.label}: [{bar:<30}] {frac * 100:5.1f}% "
                    f"{self._fmt(self.done)}/{self._fmt(self.total)}{unit} {per_s}")
        else:
            text = f"{self.label}: {self._fmt(self.done)}{unit} {per_s}"
        sys.stderr.write("\r" + text + end)
        sys.stderr.flush()
