"""The keypoint schema: what a model's output channels mean."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence, Tuple

from heatpose.errors import InputError

Color = Tuple[int, int, int]


@dataclass(frozen=True)
class KeypointSchema:
    """Keypoint definition of a dataset family (MMPose's ``dataset_meta``).

    Attributes:
        name: schema name; for built-ins the :func:`heatpose.schema.get_schema` key (MMPose's
            dataset name, e.g. ``coco``, ``mpii``, ``deepfashion2``, ``coco_aic``, ``humanart``).
        keypoint_names: K names, in channel order.
        flip_indices: K ints; channel ``i`` of a horizontally flipped image is channel
            ``flip_indices[i]`` of the original.
        skeleton: links as (i, j) keypoint index pairs.
        keypoint_colors: K (R, G, B) uint8 triples (MMPose stores RGB).
        skeleton_colors: one (R, G, B) per link.
        sigmas: K OKS sigmas (empty tuple where the dataset has none).
        joint_weights: K loss weights (1.0 where the dataset defines none).
        upper_body_ids / lower_body_ids: keypoint indices used by half-body augmentation.

    Sequences given as lists are stored as tuples; inconsistent lengths or out-of-range
    indices raise :class:`heatpose.errors.InputError` at construction.
    """

    name: str
    keypoint_names: Tuple[str, ...]
    flip_indices: Tuple[int, ...]
    skeleton: Tuple[Tuple[int, int], ...] = ()
    keypoint_colors: Tuple[Tuple[int, int, int], ...] = ()
    skeleton_colors: Tuple[Tuple[int, int, int], ...] = ()
    sigmas: Tuple[float, ...] = ()
    joint_weights: Tuple[float, ...] = ()
    upper_body_ids: Tuple[int, ...] = ()
    lower_body_ids: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("keypoint_names", tuple(str(n) for n in self.keypoint_names))
        set_("flip_indices", tuple(int(i) for i in self.flip_indices))
        set_("skeleton", tuple((int(a), int(b)) for a, b in self.skeleton))
        set_("keypoint_colors", tuple(_rgb(c) for c in self.keypoint_colors))
        set_("skeleton_colors", tuple(_rgb(c) for c in self.skeleton_colors))
        set_("sigmas", tuple(float(s) for s in self.sigmas))
        set_("joint_weights", tuple(float(w) for w in self.joint_weights))
        set_("upper_body_ids", tuple(int(i) for i in self.upper_body_ids))
        set_("lower_body_ids", tuple(int(i) for i in self.lower_body_ids))
        self._check()

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        k = self.num_keypoints
        where = f"keypoint schema {self.name!r}"
        if k == 0:
            raise InputError(f"{where}: no keypoints")
        if len(set(self.keypoint_names)) != k:
            dup = sorted({n for n in self.keypoint_names if self.keypoint_names.count(n) > 1})
            raise InputError(f"{where}: duplicate keypoint names {dup}")
        if len(self.flip_indices) != k:
            raise InputError(f"{where}: flip_indices has {len(self.flip_indices)} entries, "
                             f"expected {k}")
        for field_name, ids in (("flip_indices", self.flip_indices),
                                ("upper_body_ids", self.upper_body_ids),
                                ("lower_body_ids", self.lower_body_ids),
                                ("skeleton", [i for link in self.skeleton for i in link])):
            bad = [i for i in ids if not 0 <= i < k]
            if bad:
                raise InputError(f"{where}: {field_name} has indices {bad} outside 0..{k - 1}")
        for field_name, n, expected in (
                ("keypoint_colors", len(self.keypoint_colors), k),
                ("skeleton_colors", len(self.skeleton_colors), len(self.skeleton)),
                ("sigmas", len(self.sigmas), k),
                ("joint_weights", len(self.joint_weights), k)):
            if n not in (0, expected):
                raise InputError(f"{where}: {field_name} has {n} entries, expected {expected}")

    # --------------------------------------------------------------- accessors
    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_pairs(self) -> Tuple[Tuple[int, int], ...]:
        """(i, j) index pairs, i < j, of keypoints that swap under a horizontal flip."""
        return tuple((i, j) for i, j in enumerate(self.flip_indices) if i < j)

    def index(self, name: str) -> int:
        """Channel index of the keypoint called ``name`` (InputError if unknown)."""
        try:
            return self.keypoint_names.index(name)
        except ValueError:
            raise InputError(f"keypoint schema {self.name!r} has no keypoint {name!r} "
                             f"(known: {', '.join(self.keypoint_names)})") from None

    def weights(self) -> Tuple[float, ...]:
        """K joint weights (1.0 each where the schema has none)."""
        return self.joint_weights or (1.0,) * self.num_keypoints

    # ----------------------------------------------------------- serialization
    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly dict; ``KeypointSchema.from_dict(s.to_dict()) == s``."""
        return {
            "name": self.name,
            "keypoints": list(self.keypoint_names),
            "flip_indices": list(self.flip_indices),
            "skeleton": [list(link) for link in self.skeleton],
            "keypoint_colors": [list(c) for c in self.keypoint_colors],
            "skeleton_colors": [list(c) for c in self.skeleton_colors],
            "sigmas": list(self.sigmas),
            "joint_weights": list(self.joint_weights),
            "upper_body_ids": list(self.upper_body_ids),
            "lower_body_ids": list(self.lower_body_ids),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "<dict>") -> "KeypointSchema":
        """Build a schema from a heatpose dict (:meth:`to_dict`'s format, or the short form:
        ``keypoints`` + ``flip_pairs`` by name + optional ``skeleton`` by name...) or from an
        MMPose ``dataset_info`` dict (``keypoint_info`` / ``skeleton_info`` / ``joint_weights``
        / ``sigmas``). Errors are :class:`InputError` naming ``source`` and the field."""
        from heatpose.schema.parse import schema_from_dict

        return schema_from_dict(d, source=source)


def _rgb(c: Sequence[Any]) -> Color:
    vals = tuple(int(v) for v in c)
    if len(vals) != 3 or not all(0 <= v <= 255 for v in vals):
        raise InputError(f"colour {list(c)!r} is not an (R, G, B) triple of ints in 0..255")
    return vals  # type: ignore[return-value]
