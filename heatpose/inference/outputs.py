"""Writing results so that no reader ever sees half a file: each write goes to a temporary file
beside the target and is renamed into place (``os.replace`` is atomic on one file system).

:class:`ResultsFile` keeps the results of a long run on disk as it goes (rewritten atomically
at most every ``every`` seconds and at the end), so an interrupted run keeps its work."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, List, Union

import numpy as np

from heatpose.errors import InputError

PathLike = Union[str, Path]


def _tmp_of(path: Path) -> Path:
    # the suffix stays last, so that OpenCV picks the image format from it
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/Inf floats (e.g. a metric a table lacks) replaced by None (null)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: PathLike, obj: Any) -> Path:
    """``obj`` as JSON at ``path`` (atomic). Non-finite numbers are refused (JSON has none)."""
    path = Path(path)
    tmp = _tmp_of(path)
    try:
        text = json.dumps(obj, allow_nan=False)
    except ValueError as err:
        raise InputError(f"{path}: refusing to write non-finite numbers (NaN/Inf) as JSON; "
                         "the model or its inputs produced them") from err
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_image(path: PathLike, image: np.ndarray) -> Path:
    """An image file at ``path`` (format from the suffix; atomic)."""
    import cv2

    path = Path(path)
    tmp = _tmp_of(path)
    try:
        if not cv2.imwrite(str(tmp), image):
            raise InputError(f"{path}: cannot write the image (unsupported suffix or folder "
                             "not writable)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class ResultsFile:
    """A JSON list written as it grows: ``add(records)``, then ``close()``.

    The file exists (possibly ``[]``) from the first :meth:`flush` on and always holds a
    complete JSON list of everything added up to the last flush. It is rewritten at most every
    ``every`` seconds, and less often as it grows: rewriting takes at most ``1 / SLOWDOWN`` of
    the run's time (an hour of video makes a file of hundreds of MB)."""

    SLOWDOWN = 20

    def __init__(self, path: PathLike, every: float = 10.0) -> None:
        self.path = Path(path)
        self.records: List[dict] = []
        self.every = every
        self._wait = every
        self._last = float("-inf")

    def add(self, records: List[dict]) -> None:
        self.records.extend(records)
        if time.monotonic() - self._last >= self._wait:
            self.flush()

    def flush(self) -> None:
        start = time.monotonic()
        write_json(self.path, self.records)
        self._last = time.monotonic()
        self._wait = max(self.every, self.SLOWDOWN * (self._last - start))

    def close(self) -> Path:
        self.flush()
        return self.path


def make_out_folder(spec: str) -> Path:
    """The ``--out`` folder, created (one line when it cannot be)."""
    out = Path(spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the output folder ({err.strerror})") from None
    return out
