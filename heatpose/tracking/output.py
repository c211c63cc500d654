"""What tracking writes besides ``heatpose infer``'s results: PoseTrack18 files (what poseval
reads) and drawings with one colour and the id per track."""
from __future__ import annotations

import colorsys
from typing import Any, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from heatpose.inference.pipeline import DRAW_KPT_THR


def track_color(track_id: int) -> Tuple[int, int, int]:
    """A distinct (R, G, B) colour per track id (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((int(track_id) * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_tracks(image: np.ndarray, people: Any, schema: Any, kpt_thr: float = DRAW_KPT_THR,
                radius: Optional[int] = None, thickness: Optional[int] = None,
                show_boxes: bool = True) -> np.ndarray:
    """A copy of ``image`` (BGR) with each person's skeleton, its box in the track's colour and
    ``#id`` above the box (radius / thickness in px: default by image size)."""
    from heatpose.inference.draw import default_sizes, draw_poses

    canvas = np.ascontiguousarray(image).copy()
    ids = people.track_ids if people.track_ids is not None else np.arange(len(people))
    thickness = thickness or default_sizes(canvas.shape)[1]
    for i in range(len(people)):
        color = track_color(ids[i])
        canvas = draw_poses(canvas, people.keypoints[i:i + 1], people.scores[i:i + 1], schema,
                            kpt_thr=kpt_thr, boxes=people.boxes[i:i + 1] if show_boxes else None,
                            box_color=color, radius=radius, thickness=thickness)
        x1, y1 = (int(round(v)) for v in people.boxes[i][:2])
        cv2.putText(canvas, f"#{int(ids[i])}", (x1 + 2, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness + 0.2, color[::-1], thickness,
                    cv2.LINE_AA)
    return canvas


def posetrack_video(frames: Sequence[Tuple[str, Any]], keypoint_names: Sequence[str],
                    skeleton: Sequence[Sequence[int]] = ()) -> dict:
    """A PoseTrack18 file for one sequence from ``[(file_name, People)]`` in frame order
    (People None: a frame that could not be read, listed without people):
    ``images`` (id = position + 1, ``file_name``, ``frame_id``), one annotation per person
    (``keypoints`` [x, y, score] × K, ``scores``, ``track_id``, ``bbox`` [x, y, w, h],
    ``score``) and the category with the keypoint names (1-based ``skeleton`` links)."""
    images: List[dict] = []
    anns: List[dict] = []
    for i, (name, people) in enumerate(frames):
        images.append({"id": i + 1, "file_name": name, "frame_id": i + 1,
                       "nframes": len(frames)})
        if people is None:
            continue
        inst = people.instance_scores if len(people) else []
        for j in range(len(people)):
            kp = np.concatenate([people.keypoints[j], people.scores[j][:, None]], 1)
            x1, y1, x2, y2 = (float(v) for v in people.boxes[j])
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1,
                         "track_id": int(people.track_ids[j]),
                         "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
                         "scores": [round(float(v), 5) for v in people.scores[j]],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(inst[j])})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person",
                            "keypoints": list(keypoint_names),
                            "skeleton": [list(s) for s in skeleton]}]}
