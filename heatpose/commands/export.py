"""heatpose export: write a model as an ONNX file that runs without heatpose's PyTorch code.

By default the graph is the network alone: a normalised (N, 3, H, W) float32 RGB batch in
((pixel - mean) / std on the 0..255 scale), raw heatmaps (N, K, h, w) out. --flip-test puts the
flip test inside the graph; --decode adds keypoints (N, K, 2) in input-crop pixels (x, y) and
their scores (N, K) as outputs (MSRA with MMPose's quarter-pixel step, DARK, UDP). The file's
metadata holds the schema, input size, codec, flip indices and normalisation, so
`heatpose infer --onnx FILE` and Pipeline(model=FILE) need nothing else.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from heatpose.errors import InputError

EXAMPLES = """examples:
  heatpose export td-hm_res50_8xb64-210e_coco-256x192 --out res50.onnx   # downloads the weights
  heatpose export td-hm_hrnet-w32_8xb64-210e_coco-256x192 --checkpoint w32.pth --flip-test --decode
  heatpose export --checkpoint work_dirs/run/best.pth --out mine.onnx   # a heatpose checkpoint
  heatpose export NAME --checkpoint FILE --batch-size 8                # fixed batch of 8
  heatpose infer photo.jpg --onnx res50.onnx                          # run it"""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from heatpose.cli import positive_int
    from heatpose.export.onnx import OPSET

    doc = __doc__.split("\n\n")
    p = sub.add_parser("export", help=doc[0].split(": ", 1)[1], description="\n\n".join(doc),
                       epilog=EXAMPLES)
    p.add_argument("model", nargs="?", metavar="NAME",
                   help="zoo model name (default: the model a heatpose --checkpoint describes)")
    p.add_argument("--checkpoint", help="weights file (default: download the zoo checkpoint)")
    p.add_argument("--out", help="output .onnx file (default: NAME.onnx)")
    p.add_argument("--flip-test", action="store_true",
                   help="run the flip test inside the graph (2N crops in one forward pass)")
    p.add_argument("--decode", action="store_true",
                   help="decode inside the graph: also output keypoints and scores")
    p.add_argument("--batch-size", type=positive_int,
                   help="fixed batch size (default: dynamic batch)")
    p.add_argument("--opset", type=positive_int, default=OPSET,
                   help=f"ONNX opset (default {OPSET})")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from heatpose.export.onnx import export_onnx
    from heatpose.models.build import build_model, load_model

    if args.model is None:
        if args.checkpoint is None:
            raise InputError("give a model NAME, a --checkpoint written by heatpose, or both")
        model = load_model(args.checkpoint)
    else:
        model = build_model(args.model, checkpoint=args.checkpoint,
                            pretrained=args.checkpoint is None)
    out = Path(args.out or f"{(args.model or model.name or 'model')}.onnx")
    if out.suffix.lower() != ".onnx":
        raise InputError(f"{out}: the output file name must end in .onnx")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder for --out")
    export_onnx(model, out, flip_test=args.flip_test, decode=args.decode,
                dynamic_batch=args.batch_size is None, batch_size=args.batch_size or 1,
                opset=args.opset)
    w, h = model.input_size
    outputs = ["heatmaps"] + (["visibility"] if model.has_visibility else []) + \
        (["keypoints", "scores"] if args.decode else [])
    batch = args.batch_size or "N"
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): input ({batch},3,{h},{w}) "
          f"normalised RGB -> {', '.join(outputs)}; flip test in the graph: "
          f"{'yes' if args.flip_test else 'no'}; codec {model.codec.to_dict()['type']}")
    return 0
