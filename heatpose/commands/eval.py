"""``heatpose eval``: COCO-style keypoint AP/AR of a result file against an annotation file."""
from __future__ import annotations

import argparse
import json

from heatpose.evaluation.api import COCO_STYLE, evaluate_keypoint_file
from heatpose.evaluation.coco_eval import short_names


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a COCO keypoint result file (OKS AP/AR)",
        description="Evaluate COCO keypoint results (a JSON list of {image_id, category_id, "
                    "keypoints, score}) against a COCO-style annotation file, exactly as "
                    "MMPose 1.3.2's CocoMetric / xtcocotools compute AP and AR.")
    p.add_argument("--ann", required=True, metavar="GT_FILE", help="COCO-style annotation JSON")
    p.add_argument("--pred", required=True, metavar="PRED_FILE", help="COCO keypoint results JSON")
    p.add_argument("--dataset", choices=sorted(COCO_STYLE),
                   help="keypoint set (sigmas, use_area, CrowdPose E/M/H); default: inferred "
                        "from the keypoint count")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dataset, stats = evaluate_keypoint_file(args.ann, args.pred, args.dataset)
    short = short_names(stats)
    if args.json:
        print(json.dumps({k: float(v) for k, v in short.items()}))
        return 0
    print(f"dataset: {dataset}  ({args.pred} vs {args.ann})")
    width = max(len(k) for k in short)
    for k, v in short.items():
        print(f"  {k:<{width}}  {v:7.4f}" if v >= 0 else f"  {k:<{width}}      n/a")
    return 0
