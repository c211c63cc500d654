"""``heatpose test NAME``: run a zoo model over its dataset's test split and score it as the
model zoo did (MMPose 1.3.2's test evaluator), next to the zoo's published numbers.

    heatpose test td-hm_res50_8xb64-210e_coco-256x192 --checkpoint res50.pth --data-root data/coco
    heatpose test res50_coco_256x192 --data-root data/coco \\
        --det-file data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
    heatpose test NAME --ann-file val.json --img-prefix images/ --json

``--data-root`` is the dataset's folder (what MMPose configs call ``data/coco/``): the test
annotation file and images are found where the preset's MMPose config puts them under it (see
heatpose/evaluation/testing.py). Boxes are the ground truth unless ``--det-file`` gives COCO
detection results (all person boxes, score threshold 0.0, as MMPose tests). Writes
``<out>/predictions.keypoints.json`` (COCO keypoint results; for COCO-style datasets the
rescored poses left after OKS-NMS, as MMPose writes them) and ``<out>/metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Dict

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
    p.add_argument("--headbox-file", help="MPII head boxes (mpii_gt_val.mat) for PCKh")
    p.add_argument("--batch-size", type=int, default=32, help="crops per forward pass (32)")
    p.add_argument("--workers", type=int, default=0, help="image-loading worker processes (0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", default="heatpose_test", help="output folder (default heatpose_test)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _device(name: str):
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available (torch "
                         f"{torch.__version__})")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name}: expected cpu or cuda[:N]") from None


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from heatpose.evaluation.dataset_metrics import (evaluate_with_results, format_table,
                                                     seed_table)
    from heatpose.evaluation.testing import read_test_records, resolve_test_data, run_model
    from heatpose.models.build import build_model
    from heatpose.models.zoo import get_preset

    if args.batch_size < 1:
        raise InputError(f"--batch-size {args.batch_size}: must be at least 1")
    preset = get_preset(args.name)
    device = _device(args.device)
    data = resolve_test_data(preset, args.data_root, args.ann_file, args.img_prefix,
                             args.det_file, args.headbox_file)
    records = read_test_records(data)
    if not records:
        raise InputError(f"{data.ann_file}: no test instances (after MMPose's top-down filter)")
    model = build_model(preset.name, checkpoint=args.checkpoint,
                        pretrained=args.checkpoint is None, device=device)

    bar = None
    if not (args.quiet or args.json):
        from heatpose.progress import ProgressBar

        bar = ProgressBar(len(records), "test")
    state = {"done": 0}

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - state["done"])
            state["done"] = done

    preds = run_model(model, records, batch_size=args.batch_size, workers=args.workers,
                      progress=progress)
    if bar is not None:
        bar.close()
    metrics, results = evaluate_with_results(preset.dataset, records, preds, data.ann_file,
                                             sigmas=model.schema.sigmas if model.schema else None)
    rows = seed_table(preset, metrics, data.setting)

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the output folder ({err.strerror})") from None
    pred_path, metrics_path = out / "predictions.keypoints.json", out / "metrics.json"
    summary: Dict[str, Any] = {
        "model": preset.name, "dataset": preset.dataset, "setting": data.setting,
        "checkpoint": args.checkpoint, "ann_file": data.ann_file,
        "img_prefix": data.img_prefix, "det_file": data.bbox_file,
        "num_instances": len(records), "metrics": metrics,
        "table": [r.to_dict() for r in rows],
        "files": {"predictions": str(pred_path), "metrics": str(metrics_path)},
    }
    _write_json(pred_path, results)
    _write_json(metrics_path, summary)
    if args.json:
        print(json.dumps(summary))
        return 0
    boxes = f"detections {data.bbox_file}" if data.bbox_file else "ground-truth boxes"
    print(f"{preset.name}: {len(records)} instances, {boxes}")
    print(format_table(rows))
    print(f"wrote {pred_path} and {metrics_path}")
    return 0
