"""``heatpose test NAME``: run a zoo model over its dataset's test split and score it as the
model zoo did (MMPose 1.3.2's test evaluator), next to the zoo's published numbers.

``--data-root`` is the dataset's folder (what MMPose configs call ``data/coco/``): the test
annotation file and images are found where the preset's MMPose config puts them under it (see
heatpose/evaluation/testing.py). Boxes are the ground truth unless ``--det-file`` gives COCO
detection results (the person boxes; those scoring below the recipe's test ``filter_cfg``
threshold dropped, as MMPose tests: PoseTrack18 HRNet 0.4, the others keep all). Writes
``<out>/predictions.keypoints.json`` (COCO keypoint results; for COCO-style datasets the
rescored poses left after OKS-NMS, as MMPose writes them) and ``<out>/metrics.json``.
COCO-style metrics carry the short names of ``heatpose eval`` and the training logs (AP, AP50,
AP75, APm, APl, AR, AR50, AR75, ARm, ARl).

examples:
  heatpose test td-hm_res50_8xb64-210e_coco-256x192 --checkpoint res50.pth --data-root data/coco
  heatpose test res50_coco_256x192 --data-root data/coco \\
      --det-file data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
  heatpose test NAME --ann-file val.json --img-prefix images/ --json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict

from heatpose.cli import add_device_arg, fraction, non_negative_int, positive_int
from heatpose.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser("test", help="evaluate a zoo model on its dataset's test split",
                              description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("name", metavar="NAME", help="zoo model name (MMPose 1.x or 0.x config name)")
    p.add_argument("--checkpoint", help="weights file (MMPose/official/heatpose checkpoint or a "
                   "state dict; default: download the zoo checkpoint)")
    p.add_argument("--data-root", help="the dataset folder (MMPose's data/<dataset>/)")
    p.add_argument("--ann-file", help="test annotation file (overrides the data-root layout)")
    p.add_argument("--img-prefix", help="folder the annotation's image file names are relative "
                   "to (default: from --data-root, else the annotation file's folder)")
    p.add_argument("--det-file", help="COCO detection results giving the boxes (default: "
                   "ground-truth boxes)")
    p.add_argument("--det-thr", type=fraction, default=None,
                   help="drop --det-file boxes scoring below this (default: the recipe's test "
                        "filter_cfg bbox_score_thr, as MMPose: PoseTrack18 HRNet 0.4; the "
                        "other recipes keep every box)")
    p.add_argument("--headbox-file", help="MPII head boxes (mpii_gt_val.mat) for PCKh")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="crops per forward pass (32)")
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="image-loading worker processes (0)")
    add_device_arg(p)
    p.add_argument("--out", default="heatpose_test", help="output folder (default heatpose_test)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--strict-data", action="store_true",
                   help="stop at the first unreadable sample (default: skip it, name it and "
                        "exit with status 1 after writing the results of the others)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heatpose.device import describe_device, resolve_device
    from heatpose.evaluation.dataset_metrics import (evaluate_with_results, format_table,
                                                     seed_table)
    from heatpose.evaluation.testing import predict_records, read_test_records, resolve_test_data
    from heatpose.inference.outputs import json_safe, make_out_folder, write_json
    from heatpose.models.build import build_model
    from heatpose.models.zoo import get_preset
    from heatpose.progress import ProgressBar, format_duration

    start = time.monotonic()
    if args.det_thr is not None and not args.det_file:
        raise InputError("--det-thr filters the boxes of --det-file; without --det-file the "
                         "ground-truth boxes are scored (add --det-file or drop --det-thr)")
    device = resolve_device(args.device)
    preset = get_preset(args.name)
    data = resolve_test_data(preset, args.data_root, args.ann_file, args.img_prefix,
                             args.det_file, args.headbox_file, args.det_thr)
    records = read_test_records(data)
    if not records:
        raise InputError(f"{data.ann_file}: no test instances (after MMPose's top-down filter)")
    out = make_out_folder(args.out)
    if not args.json:
        print(f"heatpose test: device {describe_device(device, args.device)}", file=sys.stderr)
    model = build_model(preset.name, checkpoint=args.checkpoint,
                        pretrained=args.checkpoint is None, device=device)

    bar = None if (args.quiet or args.json) else ProgressBar(len(records), "test")
    state = {"done": 0}

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - state["done"])
            state["done"] = done

    # the keypoints the model reports: COCO+AIC 'combine' models (19, tested on COCO) give
    # COCO's 17 (output_keypoint_indices)
    schema = model.output_schema
    tested = predict_records(model, records, batch_size=args.batch_size, workers=args.workers,
                             schema=schema, progress=progress, skip_bad=not args.strict_data,
                             report=lambda line: print(line, file=sys.stderr))
    records, preds, skipped = tested.records, tested.predictions, tested.skipped
    if bar is not None:
        bar.close()
    metrics, results = evaluate_with_results(preset.dataset, records, preds, data.ann_file,
                                             sigmas=schema.sigmas if schema else None)
    rows = seed_table(preset, metrics, data.setting)
    names = {r.img_id: os.path.relpath(r.img_path, data.img_prefix).replace(os.sep, "/")
             for r in records}
    for r in results:                          # predictions carry the image's file name
        r.setdefault("file_name", names.get(r.get("image_id")))
    pred_path, metrics_path = out / "predictions.keypoints.json", out / "metrics.json"
    summary: Dict[str, Any] = {
        "model": preset.name, "dataset": preset.dataset, "setting": data.setting,
        "checkpoint": args.checkpoint, "ann_file": data.ann_file,
        "img_prefix": data.img_prefix, "det_file": data.bbox_file,
        "det_thr": data.bbox_score_thr if data.bbox_file else None,
        "num_instances": len(records), "metrics": metrics,
        "skipped": [skipped[i] for i in sorted(skipped)],
        "seconds": round(time.monotonic() - start, 3),
        "table": json_safe([r.to_dict() for r in rows]),
        "files": {"predictions": str(pred_path), "metrics": str(metrics_path)},
    }
    write_json(pred_path, results)
    write_json(metrics_path, summary)
    if args.json:
        print(json.dumps(summary))
        return 1 if skipped else 0
    boxes = f"detections {data.bbox_file}" if data.bbox_file else "ground-truth boxes"
    if data.bbox_file and data.bbox_score_thr is not None:
        boxes += f" (score >= {data.bbox_score_thr:g})"
    rate = len(records) / max(summary["seconds"], 1e-6)
    print(f"{preset.name}: {len(records)} instances, {boxes}, "
          f"{format_duration(summary['seconds'])} ({rate:.1f} instances/s)")
    print(format_table(rows))
    print(f"wrote {pred_path} and {metrics_path}")
    if skipped:
        print(f"heatpose test: {len(skipped)} unreadable sample(s) skipped (named above); the "
              "metrics are over the others", file=sys.stderr)
    return 1 if skipped else 0
