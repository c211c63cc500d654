"""Build a :class:`KeypointSchema` from readable tables of keypoint and link names.

The built-in schema modules describe each dataset as two tables:

* keypoints: ``(name, mirror, part, colour)`` rows in channel order; ``mirror`` is the name
  of the keypoint it becomes under a horizontal flip (``""``: itself); ``part`` is
  ``"upper"``, ``"lower"`` or ``""`` (half-body augmentation groups);
* links: ``(name_a, name_b, colour)`` rows.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple

from heatpose.errors import InputError
from heatpose.schema.base import Color, KeypointSchema

KeypointRow = Tuple[str, str, str, Color]
LinkRow = Tuple[str, str, Color]


def schema_from_tables(name: str, keypoints: Sequence[KeypointRow], links: Iterable[LinkRow],
                       sigmas: Sequence[float] = (),
                       joint_weights: Optional[Sequence[float]] = None) -> KeypointSchema:
    """Schema from keypoint/link tables (see module docstring); weights default to 1.0."""
    names = [row[0] for row in keypoints]
    ids = {n: i for i, n in enumerate(names)}

    def idx(n: str, what: str) -> int:
        if n not in ids:
            raise InputError(f"schema {name!r}: {what} names unknown keypoint {n!r}")
        return ids[n]

    flip = [idx(m, f"mirror of {n!r}") if m else i
            for i, (n, m, _, _) in enumerate(keypoints)]
    links = list(links)
    return KeypointSchema(
        name=name,
        keypoint_names=tuple(names),
        flip_indices=tuple(flip),
        skeleton=tuple((idx(a, "link"), idx(b, "link")) for a, b, _ in links),
        keypoint_colors=tuple(row[3] for row in keypoints),
        skeleton_colors=tuple(c for _, _, c in links),
        sigmas=tuple(sigmas),
        joint_weights=tuple(joint_weights) if joint_weights is not None else (1.0,) * len(names),
        upper_body_ids=tuple(i for i, row in enumerate(keypoints) if row[2] == "upper"),
        lower_body_ids=tuple(i for i, row in enumerate(keypoints) if row[2] == "lower"),
    )


def mirrored(names: Sequence[str], left: str = "left", right: str = "right") -> list:
    """For each name, its left/right counterpart (``""`` where the name has no side).

    ``mirrored(["nose", "left_eye", "right_eye"]) == ["", "right_eye", "left_eye"]``."""
    out = []
    for n in names:
        if left in n:
            out.append(n.replace(left, right))
        elif right in n:
            out.append(n.replace(right, left))
        else:
            out.append("")
    return out
