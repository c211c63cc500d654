"""Moving joints from one frame to the next with OpenCV's dense optical flow."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np


def _gray(image: np.ndarray, scale: float) -> np.ndarray:
    g = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale != 1.0:
        g = cv2.resize(g, (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(g)


class FlowPropagator:
    """Dense optical flow between consecutive frames, sampled at joints.

    Args:
        method: 'dis' (DIS, medium preset), 'farneback' or 'none' (joints do not move).
        max_side: frames are scaled down to this longer side (px) before the flow.
    """

    def __init__(self, method: str = "dis", max_side: int = 512) -> None:
        self.method, self.max_side = method, int(max_side)
        self._dis = None

    def flow(self, prev: np.ndarray, cur: np.ndarray) -> Optional[np.ndarray]:
        """(H, W, 2) float32 displacement (dx, dy) in full-resolution px from ``prev`` to
        ``cur`` (BGR or gray images of one size); None for 'none' or a size change."""
        if self.method == "none" or prev.shape[:2] != cur.shape[:2]:
            return None
        h, w = cur.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        a, b = _gray(prev, scale), _gray(cur, scale)
        if self.method == "dis":
            if self._dis is None:
                self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            f = self._dis.calc(a, b, None)
        else:
            f = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        if scale != 1.0:
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) / scale
        return f.astype(np.float32)

    @staticmethod
    def move(points: np.ndarray, flow: Optional[np.ndarray]) -> np.ndarray:
        """Points (..., 2) image px (x, y) moved by the flow (bilinear sample, points outside
        the image take the nearest border flow); unchanged without a flow."""
        pts = np.asarray(points, np.float32)
        if flow is None or pts.size == 0:
            return pts.copy()
        flat = pts.reshape(-1, 2)
        h, w = flow.shape[:2]
        x = np.clip(flat[:, 0], 0, w - 1)
        y = np.clip(flat[:, 1], 0, h - 1)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        d = (flow[y0, x0] * (1 - fx) * (1 - fy) + flow[y0, x1] * fx * (1 - fy)
             + flow[y1, x0] * (1 - fx) * fy + flow[y1, x1] * fx * fy)
        return (flat + d).reshape(pts.shape).astype(np.float32)
