"""MMPose's ``KeypointConverter``: one dataset's keypoints onto another's (COCO+AIC recipes).

``mapping`` lists ``[source, target]`` pairs; a source may also be a pair ``[s1, s2]``
(the target is their midpoint, visible only where both are). Targets no pair names are
(0, 0) and invisible.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np

Source = Union[int, Sequence[int]]


def convert_keypoints(keypoints: np.ndarray, visible: np.ndarray,
                      mapping: Sequence[Tuple[Source, int]], num_target: int
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """keypoints (N, K_src, 2) pixels (x, y), visible (N, K_src) -> (N, K_dst, 2), (N, K_dst),
    as ``KeypointConverter.transform`` (float64, like MMPose's zeros)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.asarray(visible, dtype=np.float64)
    n = keypoints.shape[0]
    out = np.zeros((n, num_target, 2))
    out_vis = np.zeros((n, num_target))
    if not len(mapping):
        return out, out_vis
    src1 = [int(s[0]) if isinstance(s, (list, tuple)) else int(s) for s, _ in mapping]
    src2 = [int(s[1]) if isinstance(s, (list, tuple)) else int(s) for s, _ in mapping]
    dst = [int(t) for _, t in mapping]
    if src1 == src2:
        out[:, dst] = keypoints[:, src1]
        out_vis[:, dst] = visible[:, src1]
    else:
        out[:, dst] = 0.5 * (keypoints[:, src1] + keypoints[:, src2])
        out_vis[:, dst] = visible[:, src1] * visible[:, src2]
    return out, out_vis
