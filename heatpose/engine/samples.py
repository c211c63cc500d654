"""Unreadable samples in training, validation and ``heatpose test``: skip and count, or stop.

:class:`SafeSamples` wraps a :class:`~heatpose.data.dataset.TopdownDataset`. Its item ``i`` is
the dataset's item, or a :class:`BadSample` (index + one line naming the image file and the
record) when the record's box is not finite or has no area, a visible keypoint is not finite
(training), the image is missing or cannot be decoded, building the crop fails, or the
training target comes out non-finite. The check runs inside ``__getitem__``, i.e. in the
DataLoader worker when there are workers, so the main process receives the message as data:
the same line with and without workers, never a worker traceback.

:func:`collate_skipping` drops bad items from a batch and lists them in ``meta["skipped"]``
(a batch whose every item is bad collates to ``(None, None, None, {"skipped": [...]})``).
:class:`SkipCounter` (main process) reports each bad sample once, counts them, and raises
:class:`~heatpose.errors.InputError` with that line instead when skipping is turned off
(``train.skip_bad_samples=false``, ``heatpose train/test --strict-data``) or when more than
:data:`MAX_BAD_FRACTION` of the samples read so far were bad (a broken data root, not a few
damaged files).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset

from heatpose.data.readers.record import box_has_no_size
from heatpose.errors import InputError

# more bad samples than this fraction of those read (after MIN_BAD_TO_GIVE_UP of them) stops
MAX_BAD_FRACTION = 0.5
MIN_BAD_TO_GIVE_UP = 20


@dataclass(frozen=True)
class BadSample:
    """Dataset index ``index`` could not be made into a sample; ``message`` says why (one line
    naming the image file and the record)."""

    index: int
    message: str


def record_problem(rec: Any, train: bool) -> Optional[str]:
    """Why ``rec`` cannot be a sample (non-finite or empty box, non-finite visible keypoint in
    training), or None."""
    box = np.asarray(rec.bbox, dtype=np.float64).reshape(-1)
    if box.size != 4 or not np.isfinite(box).all():
        return f"box {box.tolist()} is not finite"
    if (box[2:] < box[:2]).any() or box_has_no_size(box):   # the readers' rule: one zero
        return f"box {box.tolist()} (x1, y1, x2, y2) has no area"     # side still gets a crop
    for name in ("bbox_center", "bbox_scale"):
        value = getattr(rec, name, None)
        if value is not None and not np.isfinite(np.asarray(value, np.float64)).all():
            return f"{name} {np.asarray(value).tolist()} is not finite"
    if train:
        kpts = np.asarray(rec.keypoints, np.float64)
        vis = np.asarray(rec.keypoints_visible, np.float64)
        if not np.isfinite(vis).all():
            return "keypoint visibility is not finite"
        bad = np.flatnonzero((vis > 0) & ~np.isfinite(kpts).all(axis=-1))
        if bad.size:
            return f"visible keypoint {int(bad[0])} is not finite"
    return None


def describe(dataset: Any, index: int, problem: str) -> str:
    """``'<image file>: <problem> (ann_id A, image id I)'``."""
    rec = dataset.records[index]
    path = os.path.join(dataset.image_root, rec.img_path)
    return f"{path}: {problem} (ann_id {rec.ann_id}, image id {rec.img_id})"


class SafeSamples(Dataset):
    """``dataset`` whose unreadable items become :class:`BadSample` (see module docstring).
    Forwards ``records``, ``set_epoch`` and the other attributes of the wrapped dataset."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._problems: Dict[int, Optional[str]] = {}     # record_problem per index, once

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "_problems"):        # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        ds = self.dataset
        if index not in self._problems:             # records do not change: check once
            self._problems[index] = record_problem(ds.records[index], bool(ds.train))
        problem = self._problems[index]
        if problem is not None:
            return BadSample(index, describe(ds, index, problem))
        try:
            item = ds[index]
        except InputError as exc:                   # read_image names the file and record
            return BadSample(index, str(exc))
        except Exception as exc:                    # noqa: BLE001 - one bad sample, not the run
            return BadSample(index, describe(ds, index, f"cannot build the sample "
                                                        f"({type(exc).__name__}: {exc})"))
        if ds.train and not (np.isfinite(item[1].numpy()).all()
                             and np.isfinite(item[2].numpy()).all()):
            return BadSample(index, describe(ds, index, "training target is not finite"))
        return item


def collate_skipping(collate: Callable[[List[Any]], Tuple[Any, ...]]
                     ) -> Callable[[List[Any]], Tuple[Any, ...]]:
    """A ``collate_fn`` that drops :class:`BadSample` items before ``collate`` and lists them
    in ``meta["skipped"]``."""
    return _SkippingCollate(collate)


class _SkippingCollate:
    """Picklable (DataLoader workers under spawn) form of :func:`collate_skipping`."""

    def __init__(self, collate: Callable[[List[Any]], Tuple[Any, ...]]) -> None:
        self.collate = collate

    def __call__(self, batch: List[Any]) -> Tuple[Any, ...]:
        bad = [b for b in batch if isinstance(b, BadSample)]
        good = [b for b in batch if not isinstance(b, BadSample)]
        if not good:
            return None, None, None, {"skipped": bad}
        images, heatmaps, weights, meta = self.collate(good)
        meta["skipped"] = bad
        return images, heatmaps, weights, meta


class SkipCounter:
    """Counts bad samples seen by the main process and reports each one once.

    Args:
        skip: False = the first bad sample raises InputError (its message + ``hint``).
        report: called with each message (e.g. a logger line); None = silent.
        hint: how to turn skipping on, appended to the error when ``skip`` is False.
    """

    def __init__(self, skip: bool = True, report: Optional[Callable[[str], None]] = None,
                 hint: str = "unreadable samples are skipped unless --strict-data or "
                             "train.skip_bad_samples=false"
                 ) -> None:
        self.skip = skip
        self.report = report
        self.hint = hint
        self.seen = 0
        self.skipped: Dict[int, str] = {}

    @property
    def count(self) -> int:
        return len(self.skipped)

    def batch(self, meta: Dict[str, Any], size: int) -> None:
        """Account for a collated batch: ``size`` good items and ``meta["skipped"]``."""
        bad: Sequence[BadSample] = meta.get("skipped", ())
        self.seen += size + len(bad)
        for b in bad:
            if not self.skip:
                raise InputError(f"{b.message} ({self.hint})")
            if b.index not in self.skipped:
                self.skipped[b.index] = b.message
                if self.report is not None:
                    self.report(f"skipped sample: {b.message}")
        if bad and self.count >= MIN_BAD_TO_GIVE_UP and self.count > MAX_BAD_FRACTION * self.seen:
            raise InputError(f"{self.count} of {self.seen} samples read so far are unreadable "
                             f"(last: {bad[-1].message}); check the data root and image prefix")

    def summary(self) -> str:
        """``'N unreadable samples skipped'`` ('' when none)."""
        if not self.skipped:
            return ""
        return f"{self.count} unreadable sample{'s' if self.count != 1 else ''} skipped"
