"""Ctrl-C during training: the first SIGINT asks the loop to stop after the running iteration
(it then saves ``latest.pth``); a second one interrupts at once."""
from __future__ import annotations

import signal
from typing import Any


class StopFlag:
    """SIGINT sets a flag the loop checks between iterations (a second SIGINT interrupts)."""

    def __init__(self) -> None:
        self.stop = False
        self._old: Any = None

    def __enter__(self) -> "StopFlag":
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:                      # not the main thread: no handler
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.stop = True
        signal.signal(signal.SIGINT, self._old or signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            try:
                signal.signal(signal.SIGINT, self._old)
            except ValueError:
                pass
