"""heatpose demo: the default model on the bundled photo (public domain, NASA).

Downloads the default model's weights (and the YOLOX-nano person detector) on first use;
with --checkpoint and --whole-image it runs offline.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heatpose.errors import DownloadError, HeatposeError

DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"
EXAMPLES = """examples:
  heatpose demo                                  # writes heatpose_demo/astronaut_pose.jpg
  heatpose demo --image me.jpg --out demo/ --box-scores
  heatpose demo --checkpoint model.pth --whole-image     # offline"""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from heatpose.commands.infer import add_draw_args, add_model_args

    doc = __doc__.split("\n\n")
    p = sub.add_parser("demo", help=doc[0].split(": ", 1)[1], description="\n\n".join(doc),
                       epilog=EXAMPLES)
    add_model_args(p)
    p.add_argument("--image", default=str(DEMO_IMAGE), help="photo to use (default: bundled)")
    p.add_argument("--out", default="heatpose_demo", help="output folder (default heatpose_demo)")
    add_draw_args(p)
    p.set_defaults(func=run, per_frame_json=False, input=None)
    return p


def run(args: argparse.Namespace) -> int:
    from heatpose.commands import infer

    from heatpose.inference.media import expand_images

    args.input = args.image
    args.quiet = True
    infer.check_model_args(args)
    expand_images(args.image)             # a bad --image or option: one line, nothing else
    infer.announce_device(args)           # the first line, before the detector is fetched
    if not (args.whole_image or args.det_file or args.detector_model):
        # one person fills the demo photo: without the detector the whole image is the box
        try:
            from heatpose.inference.detector import YOLOXDetector

            args.detector_model = str(YOLOXDetector.from_pretrained("yolox-nano").model_path)
        except (DownloadError, HeatposeError) as exc:
            print(f"note: person detector unavailable ({exc}); using the whole image as the box",
                  file=sys.stderr)
            args.whole_image = True
    try:
        code = infer.run(args)
    except DownloadError as exc:
        from heatpose.inference.pipeline import DEFAULT_MODEL

        raise DownloadError(f"the demo needs the weights of {args.model or DEFAULT_MODEL}. {exc} "
                            "(or pass --checkpoint FILE)") from None
    return code
