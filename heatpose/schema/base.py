"""The keypoint schema: what a model's output channels mean."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class KeypointSchema:
    """Keypoint definition of a dataset family (MMPose's ``dataset_meta``).

    Attributes:
        name: dataset name as MMPose spells it (``coco``, ``mpii``, ``deepfashion2``...).
        keypoint_names: K names, in channel order.
        flip_indices: K ints; channel ``i`` of a horizontally flipped image is channel
            ``flip_indices[i]`` of the original.
        skeleton: links as (i, j) keypoint index pairs.
        keypoint_colors: K (R, G, B) uint8 triples (MMPose stores RGB).
        skeleton_colors: one (R, G, B) per link.
        sigmas: K OKS sigmas (empty tuple where the dataset has none).
        joint_weights: K loss weights (1.0 where the dataset defines none).
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

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)
