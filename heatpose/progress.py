"""Progress on stderr (no dependency): downloads, inference, testing, training.

On a terminal: one line redrawn in place, ``label: [#####     ]  42.0% 21/50 4.2 it/s ETA 0:05``.
Elsewhere (a log file, CI): plain lines, no carriage returns, at the first item, then every
``line_interval`` seconds (``HEATPOSE_PROGRESS_INTERVAL``, default 30) and at the end.
Rate and ETA are shown from the first item on. :func:`format_table` prints end-of-run summaries.
"""
from __future__ import annotations

import os
import sys
import time
from typing import IO, Any, Optional, Sequence


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` (h:mm:ss / m:ss)."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """A progress line for ``total`` items (None: unknown total, no ETA).

    Args:
        total: number of items (or bytes, with ``unit``/``scale``).
        label: shown first on the line.
        enabled: False draws nothing (``--quiet``).
        unit, scale: how counts are shown (``unit="MB", scale=1e-6`` for bytes).
        done: where the count starts (a resumed download); the rate counts from there.
        min_interval: seconds between redraws on a terminal.
        stream: where to write (default: sys.stderr at the time of each write).
        line_interval: seconds between plain lines when ``stream`` is not a terminal.
    """

    def __init__(self, total: Optional[int], label: str, enabled: bool = True,
                 unit: str = "", scale: float = 1.0, done: int = 0,
                 min_interval: float = 0.2, stream: Optional[IO[str]] = None,
                 line_interval: Optional[float] = None) -> None:
        self.total, self.label, self.unit, self.scale = total, label, unit, scale
        self._stream = stream
        self.enabled = enabled and self.stream is not None
        self.done = self._start_done = done
        self.status = ""
        self.tty = _is_terminal(self.stream)
        if line_interval is None:
            line_interval = float(os.environ.get("HEATPOSE_PROGRESS_INTERVAL", 30))
        self.min_interval = min_interval if self.tty else line_interval
        self._start = time.monotonic()
        self._last: Optional[float] = None          # time of the last draw
        self._closed = False
        self._drawn: Optional[tuple] = None          # (done, status) last shown
        if self.enabled and self.tty:                # on a terminal: visible from the start
            self._draw(self._start, final=False)

    @property
    def stream(self) -> Optional[IO[str]]:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1, status: Optional[str] = None) -> None:
        """Count ``n`` more items; ``status`` (e.g. ``loss 0.0012``) is shown after the rate."""
        self.done += n
        if status is not None:
            self.status = status
        now = time.monotonic()
        if self.enabled and (self._last is None or now - self._last >= self.min_interval):
            self._last = now
            self._draw(now, final=False)

    def close(self) -> None:
        """Draw the final state (once; not again when the last line already shows it) and end
        the line."""
        if self.enabled and not self._closed:
            if self.tty or self._drawn != (self.done, self.status):
                self._draw(time.monotonic(), final=True)
        self._closed = True

    def _fmt(self, count: float) -> str:
        return f"{count * self.scale:.1f}" if self.unit else f"{int(count)}"

    def text(self, now: Optional[float] = None) -> str:
        """The progress line (without carriage return or newline)."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._start, 1e-6)
        counted = self.done - self._start_done
        rate = counted * self.scale / elapsed
        per_s = f"{rate:.1f} {self.unit or 'it'}/s" if rate >= 0.1 or not counted else \
            f"{elapsed / counted:.1f} s/{self.unit or 'it'}"
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            frac = min(self.done / self.total, 1.0)
            left = max(self.total - self.done, 0)
            timing = (f"ETA {format_duration(left * elapsed / counted)}"
                      if counted and left else f"{format_duration(elapsed)}")
            bar = f"[{'#' * int(frac * 30):<30}] " if self.tty else ""
            text = (f"{self.label}: {bar}{frac * 100:5.1f}% "
                    f"{self._fmt(self.done)}/{self._fmt(self.total)}{unit} {per_s} {timing}")
        else:
            text = f"{self.label}: {self._fmt(self.done)}{unit} {per_s} " \
                   f"{format_duration(elapsed)}"
        return f"{text} {self.status}".rstrip()

    def _draw(self, now: float, final: bool) -> None:
        stream = self.stream
        if stream is None:
            return
        text = self.text(now)
        self._drawn = (self.done, self.status)
        try:
            if self.tty:
                stream.write("\r\x1b[K" + text + ("\n" if final else ""))
            else:
                stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):       # a closed stderr must not end the work
            self.enabled = False


def format_table(rows: Sequence[Sequence[Any]], header: Optional[Sequence[str]] = None,
                 right: bool = True) -> str:
    """Plain aligned columns (first column left-aligned, the others right-aligned unless
    ``right`` is False)."""
    cells = [[str(c) for c in r] for r in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 or not right else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in cells]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
