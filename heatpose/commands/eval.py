"""heatpose eval: COCO-style keypoint AP/AR of a result file against an annotation file.

Metric names are the ones heatpose test, the training logs and metrics.json use: AP, AP50,
AP75, APm, APl, AR, AR50, AR75, ARm, ARl (CrowdPose adds AP(E), AP(M), AP(H)).
"""
from __future__ import annotations

import argparse
import json

EXAMPLES = """examples:
  heatpose eval --ann person_keypoints_val2017.json --pred heatpose_out/predictions.json
  heatpose eval --ann crowdpose_test.json --pred results.json --dataset crowdpose --json"""


def register(subparsers) -> None:
    from heatpose.evaluation.api import COCO_STYLE

    p = subparsers.add_parser(
        "eval", help="evaluate a COCO keypoint result file (OKS AP/AR)", epilog=EXAMPLES,
        description="Evaluate COCO keypoint results (a JSON list of {image_id, category_id, "
                    "keypoints, score},\nas heatpose infer and heatpose test write them) "
                    "against a COCO-style annotation file,\nexactly as MMPose 1.3.2's "
                    "CocoMetric / xtcocotools compute AP and AR.\n\n" + __doc__.split("\n\n")[1])
    p.add_argument("--ann", metavar="GT_FILE", help="COCO-style annotation JSON")
    p.add_argument("--pred", metavar="PRED_FILE", help="COCO keypoint results JSON")
    p.add_argument("--dataset", choices=sorted(COCO_STYLE), metavar="NAME",
                   help="keypoint set (sigmas, use_area, CrowdPose E/M/H): "
                        f"{', '.join(sorted(COCO_STYLE))}; default: inferred from the "
                        "keypoint count")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--posetrack", nargs=2, metavar=("GT_DIR", "PRED_DIR"),
                   help="PoseTrack18 per-sequence JSON folders: per-joint AP and MOTA, MOTP, "
                        "precision, recall as the official poseval computes them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heatpose.evaluation.api import evaluate_keypoint_file

    if args.posetrack:
        from heatpose.evaluation.poseval import print_report
        return print_report(*args.posetrack, as_json=args.json)
    if not (args.ann and args.pred):
        from heatpose.errors import InputError
        raise InputError("needs --ann GT_FILE and --pred PRED_FILE (or --posetrack GT_DIR PRED_DIR)")
    dataset, stats = evaluate_keypoint_file(args.ann, args.pred, args.dataset)
    if args.json:                        # the evaluators' names are already the short ones
        print(json.dumps({k: float(v) for k, v in stats.items()}))
        return 0
    print(f"dataset: {dataset}  ({args.pred} vs {args.ann})")
    width = max(len(k) for k in stats)
    for k, v in stats.items():
        print(f"  {k:<{width}}  {v:7.4f}" if v >= 0 else f"  {k:<{width}}      n/a")
    return 0
