"""COCO-WholeBody keypoint evaluation as MMPose 1.3.2's ``CocoWholeBodyMetric`` runs xtcocotools:
one COCO OKS evaluation per part (body, foot, face, left hand, right hand; each with its own
keypoints and sigmas) and one over all 133 keypoints.

Per part, a ground truth with no labelled keypoint of that part is ignored and a result with no
positive keypoint score of that part is dropped; the area that puts a result in the medium /
large range is the extent of its *body* keypoints (xtcocotools' ``loadRes`` on MMPose's result
files, which carry no box), for every part.

Returns the whole-body stats under the usual names (``AP``, ``AP50``, ... as MMPose reports
them) plus ``<Part> AP`` / ``<Part> AR`` for each part (``Body``, ``Foot``, ``Face``,
``Lefthand``, ``Righthand``) and ``Hand AP`` / ``Hand AR``: the mean of the two hands, the one
hand number of the COCO-WholeBody benchmark and of MMPose's model-zoo metafiles (xtcocotools
and MMPose's metric print the hands separately; the dataset's authors average them,
jin-s13/COCO-WholeBody issue #38).
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import evaluate_coco
from heatpose.evaluation.coco_inputs import (GtLike, annotation_label, column, load_coco_gt,
                                             numbers, result_label)

# (name, annotation field, keypoint count), in MMPose's 133-keypoint order
PARTS = (("Body", "keypoints", 17), ("Foot", "foot_kpts", 6), ("Face", "face_kpts", 68),
         ("Lefthand", "lefthand_kpts", 21), ("Righthand", "righthand_kpts", 21))
NUM_KEYPOINTS = sum(n for _, _, n in PARTS)


def evaluate_wholebody(gt: GtLike, results: Sequence[dict], sigmas: Sequence[float],
                       use_area: bool = True) -> Dict[str, float]:
    """COCO-WholeBody AP/AR of ``results`` (COCO keypoint results with all 133 keypoints in
    ``keypoints``, as :class:`~heatpose.evaluation.topdown.TopdownCocoEvaluator` writes them)
    against a COCO-WholeBody annotation file or dict (``keypoints``, ``foot_kpts``,
    ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts`` per annotation)."""
    data, name = load_coco_gt(gt)
    sig = np.asarray(sigmas, dtype=np.float32).reshape(-1)
    if sig.size != NUM_KEYPOINTS:
        raise InputError(f"COCO-WholeBody evaluation needs {NUM_KEYPOINTS} sigmas, got {sig.size}")
    anns = data["annotations"]

    ann_label = annotation_label(anns)
    parts_gt = [column(anns, field, name, ann_label) for _, field, _ in PARTS]
    for (_, field, n), values in zip(PARTS, parts_gt):
        numbers(values, n * 3, name, ann_label, field)          # the error names the field
    if not isinstance(results, (list, tuple)):
        raise InputError("results: results must be a list of objects")

    res_label = result_label(results)
    kpts = numbers(column(results, "keypoints", "results", res_label), NUM_KEYPOINTS * 3,
                   "results", res_label, "keypoints").reshape(len(results), NUM_KEYPOINTS, 3)
    body_x, body_y = kpts[:, :17, 0], kpts[:, :17, 1]
    extent = np.stack([body_x.min(1), body_y.min(1), body_x.max(1) - body_x.min(1),
                       body_y.max(1) - body_y.min(1)], axis=1) if len(results) else kpts[:, 0]
    out: Dict[str, float] = {}
    start = 0
    whole_gt = [sum((list(p[i]) for p in parts_gt), []) for i in range(len(anns))]
    for (part, _, n), values in zip(PARTS + (("Whole", None, NUM_KEYPOINTS),),
                                    parts_gt + [whole_gt]):
        lo, hi = (start, start + n) if part != "Whole" else (0, NUM_KEYPOINTS)
        stats = evaluate_coco(_with_keypoints(data, anns, values),
                              _part_results(results, kpts[:, lo:hi], extent),
                              sig[lo:hi], use_area=use_area)
        if part == "Whole":
            out.update(stats)
        else:
            out[f"{part} AP"], out[f"{part} AR"] = stats["AP"], stats["AR"]
            start += n
    for m in ("AP", "AR"):
        out[f"Hand {m}"] = (out[f"Lefthand {m}"] + out[f"Righthand {m}"]) / 2
    return out


def _with_keypoints(data: dict, anns: List[Any], values: List[Any]) -> dict:
    return dict(data, annotations=[dict(a, keypoints=v) for a, v in zip(anns, values)])


def _part_results(results: Sequence[dict], kpts: np.ndarray, extent: np.ndarray) -> List[dict]:
    return [dict(r, keypoints=k.ravel().tolist(), bbox=b.tolist())
            for r, k, b in zip(results, kpts, extent)]
