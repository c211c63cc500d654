"""Registry-free entry points: the COCO-style settings of each dataset (as the model-zoo configs
use them) and evaluation of a COCO keypoint result file against an annotation file."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import evaluate_coco, load_coco_gt, load_json

# dataset -> (use_area, iou_type); everything else of CocoMetric stays at its defaults.
COCO_STYLE = {
    "coco": (True, "keypoints"),
    "ochuman": (True, "keypoints"),
    "mhp": (True, "keypoints"),
    "halpe": (True, "keypoints"),
    "posetrack18": (True, "keypoints"),
    "aic": (False, "keypoints"),
    "crowdpose": (False, "keypoints_crowd"),
    "humanart": (True, "keypoints"),
    "exlpose": (False, "keypoints"),
    "coco_wholebody": (True, "keypoints_wholebody"),
    "ubody": (True, "keypoints_wholebody"),
}
_BY_COUNT = {17: "coco", 16: "mhp", 136: "halpe"}


def coco_settings(dataset: str) -> Dict[str, object]:
    """``{'sigmas', 'use_area', 'iou_type'}`` for a COCO-style dataset (sigmas via heatpose.schema)."""
    if dataset not in COCO_STYLE:
        raise InputError(f"dataset {dataset!r} has no COCO-style keypoint evaluation; "
                         f"choose one of {sorted(COCO_STYLE)}")
    from heatpose.schema import get_schema      # imported here: only the command needs it
    use_area, iou_type = COCO_STYLE[dataset]
    return {"sigmas": tuple(get_schema(dataset).sigmas), "use_area": use_area,
            "iou_type": iou_type}


def infer_dataset(gt: dict, name: str) -> str:
    """Guess the dataset from the keypoint count most annotations have (14: CrowdPose if the
    images carry ``crowdIndex``, else AIC). The most common count decides, so that one odd
    annotation is the record the evaluation blames, not the healthy ones."""
    anns = gt.get("annotations", [])
    if anns and all(isinstance(a, dict) and "foot_kpts" in a for a in anns):
        return "coco_wholebody"
    counts: Counter = Counter()
    for ann in anns:
        if isinstance(ann, dict) and isinstance(ann.get("keypoints"), list):
            counts[len(ann["keypoints"]) // 3] += 1
    if not counts:
        raise InputError(f"{name}: no annotation with 'keypoints'; pass --dataset")
    known = set(_BY_COUNT) | {14}
    k = max(counts, key=lambda c: (counts[c], c in known))      # ties: a known count
    if k == 14:
        crowd = all(isinstance(im, dict) and "crowdIndex" in im
                    for im in gt.get("images", [])) and gt.get("images")
        return "crowdpose" if crowd else "aic"
    if k not in _BY_COUNT:
        raise InputError(f"{name}: cannot tell the dataset from {k} keypoints; pass --dataset "
                         f"(one of {sorted(COCO_STYLE)})")
    return _BY_COUNT[k]


def evaluate_keypoint_file(ann_file: Union[str, Path], pred_file: Union[str, Path],
                           dataset: Optional[str] = None) -> Tuple[str, Dict[str, float]]:
    """Evaluate a COCO keypoint result file; returns ``(dataset, stats)`` (the names of
    :func:`evaluate_coco`: AP, AP50, ...). Errors name the file and the record."""
    gt, gt_name = load_coco_gt(ann_file)
    results = load_json(pred_file, "result file")
    if not isinstance(results, list):
        raise InputError(f"result file {pred_file}: expected a JSON list of results")
    dataset = dataset or infer_dataset(gt, gt_name)
    cfg = coco_settings(dataset)
    try:
        stats = evaluate_coco(gt, results, **cfg)
    except InputError as exc:
        msg = str(exc)
        if msg.startswith("results:"):
            msg = f"result file {pred_file}:" + msg[len("results:"):]
        elif msg.startswith("annotations:"):
            msg = f"annotation file {ann_file}:" + msg[len("annotations:"):]
        raise InputError(msg) from None
    return dataset, stats
