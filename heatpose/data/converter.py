"""MMPose's ``KeypointConverter``: re-index one dataset's keypoints into a model's keypoints.

Multi-dataset recipes (COCO + AIC ``-merge`` / ``-combine``) give each train set a mapping
``[[source, target], ...]``: target keypoint ``t`` takes source keypoint ``s``; a source may be
a pair ``[[s1, s2], t]`` (the midpoint, visible only where both are). Targets no pair names
stay at (0, 0) and invisible, and get visibility-loss weight 0 (MMPose's
``keypoints_visible_weights``).

    conv = KeypointConverter(17, [[0, 6], [1, 8], ...])          # AIC -> COCO body joints
    kpts, vis, weights = conv(record.keypoints[None], record.keypoints_visible[None])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import numpy as np

from heatpose.errors import InputError

VIS_WEIGHTS = "keypoints_visible_weights"     # record extras / batch meta key


@dataclass(frozen=True)
class KeypointConverter:
    """``num_keypoints``: the target (model) keypoint count; ``mapping``: (source, target) pairs,
    a source being an index or a pair of indices to average."""

    num_keypoints: int
    mapping: Tuple[Tuple[Any, int], ...]

    def __post_init__(self) -> None:
        pairs = []
        for item in self.mapping:
            try:
                src, dst = item
                src = tuple(int(s) for s in src) if isinstance(src, (list, tuple)) else int(src)
                dst = int(dst)
            except (TypeError, ValueError):
                raise InputError(f"keypoint mapping entry {item!r}: expected [source, target] "
                                 "with integer indices (source may be a pair)") from None
            if isinstance(src, tuple) and len(src) != 2:
                raise InputError(f"keypoint mapping entry {item!r}: a paired source has 2 indices")
            if not 0 <= dst < self.num_keypoints:
                raise InputError(f"keypoint mapping entry {item!r}: target {dst} outside "
                                 f"0..{self.num_keypoints - 1}")
            pairs.append((src, dst))
        object.__setattr__(self, "mapping", tuple(pairs))

    @property
    def _sources(self) -> Tuple[List[int], List[int]]:
        first = [s[0] if isinstance(s, tuple) else s for s, _ in self.mapping]
        second = [s[1] if isinstance(s, tuple) else s for s, _ in self.mapping]
        return first, second

    def __call__(self, keypoints: np.ndarray, visible: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, K_src, 2) keypoints px and (N, K_src) visibility -> (N, K, 2), (N, K) visibility
        and (N, K) visibility-loss weights (1 on mapped targets); float64, as MMPose's."""
        keypoints = np.asarray(keypoints, np.float64)
        visible = np.asarray(visible, np.float64)
        if visible.ndim == 3:
            visible = visible[..., 0]
        n, k_src = keypoints.shape[:2]
        s1, s2 = self._sources
        if any(not 0 <= s < k_src for s in s1 + s2):
            raise InputError(f"keypoint mapping reads source index {max(s1 + s2)} but the "
                             f"annotation has {k_src} keypoints")
        targets = [t for _, t in self.mapping]
        out = np.zeros((n, self.num_keypoints, 2))
        vis = np.zeros((n, self.num_keypoints))
        weights = np.zeros((n, self.num_keypoints))
        weights[:, targets] = 1.0
        out[:, targets] = 0.5 * (keypoints[:, s1, :2] + keypoints[:, s2, :2])
        vis[:, targets] = visible[:, s1] * visible[:, s2]
        return out, vis, weights

    def convert_records(self, records: Sequence[Any]) -> List[Any]:
        """Copies of :class:`~heatpose.data.readers.InstanceRecord` s with converted keypoints
        and visibility (float32); ``extras[VIS_WEIGHTS]`` holds each record's (K,) weights."""
        if not records:
            return []
        kpts, vis, weights = self(np.stack([r.keypoints for r in records]),
                                  np.stack([r.keypoints_visible for r in records]))
        return [dataclasses.replace(r, keypoints=kpts[i].astype(np.float32),
                                    keypoints_visible=vis[i].astype(np.float32),
                                    extras={**r.extras, VIS_WEIGHTS: weights[i].astype(np.float32)})
                for i, r in enumerate(records)]

    def convert_record(self, record: Any) -> Any:
        """``convert_records`` of one record."""
        return self.convert_records([record])[0]


def converter_from_mapping(num_keypoints: int, mapping: Sequence[Sequence[Any]]) -> KeypointConverter:
    """A converter from a recipe's / TrainConfig's ``[[source, target], ...]`` list."""
    return KeypointConverter(int(num_keypoints), tuple(tuple(m) for m in mapping))
