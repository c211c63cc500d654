"""MMPose's ``sample_interval`` (the UBody2d recipes' train sets, 10): ``BaseCocoStyleDataset``
reads only the images whose id is a multiple of it (``img_id % sample_interval == 0``), i.e.
every n-th frame of UBody's videos, whose image ids count frames.
"""
from __future__ import annotations

from numbers import Integral
from typing import List, Sequence

from heatpose.data.readers.record import InstanceRecord
from heatpose.errors import InputError


def every_nth_image(records: Sequence[InstanceRecord], interval: int,
                    where: str) -> List[InstanceRecord]:
    """The records of images whose id is a multiple of ``interval`` (>= 1); InputError naming
    ``where`` (the annotation file) and the record when an image id is not an integer."""
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise InputError(f"{where}: sample_interval {interval!r} must be an integer >= 1")
    out = []
    for rec in records:
        if isinstance(rec.img_id, bool) or not isinstance(rec.img_id, Integral):
            raise InputError(f"{where}: image id {rec.img_id!r} (ann_id {rec.ann_id}) is not an "
                             f"integer, so sample_interval {interval} cannot select images")
        if rec.img_id % interval == 0:
            out.append(rec)
    return out
