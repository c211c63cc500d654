"""heatpose infer: keypoints for an image, a folder, a glob or a video; drawings + COCO results.

Writes OUT/predictions.json: COCO keypoint results, one record per person per image (or video
frame) with image_id, file_name (and frame for videos), keypoints [x, y, score] * K, score
(box score x mean keypoint score above 0.2, after OKS-NMS 0.9 as heatpose test and MMPose
score them, so heatpose eval on this file gives heatpose test's numbers) and bbox [x, y, w, h];
the drawings (NAME_pose.jpg, or VIDEO_pose.mp4); with --per-frame-json also OUT/frames.json.

Files that cannot be read (and damaged video frames), images and frames the person detector
fails on and images or frames where the model gives non-finite (NaN/Inf) keypoints are skipped
and named; every good result is written, and the exit status is then 1 with a count.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from heatpose.cli import add_device_arg, fraction, positive_float, positive_int
from heatpose.commands.frame_outputs import Outputs, Report, _keypoint_names, detect_frames
from heatpose.errors import HeatposeError, InputError

EXAMPLES = """examples:
  heatpose infer photo.jpg                          # person detector + default model
  heatpose infer photos/ --out out/ --device auto   # a folder; out/predictions.json + drawings
  heatpose infer 'frames/**/*.jpg' --no-draw        # a glob (quoted), results only
  heatpose infer clip.mp4 --box-scores --line-width 3
  heatpose infer val2017/ --det-file dets.json --det-thr 0 --no-draw   # boxes from a file
  heatpose infer img.jpg --checkpoint my_model.pth --whole-image

exit status: 0 all done; 1 done, but some files or frames were skipped (named above the
summary); 2 nothing done (bad option, input or model file)."""
IMAGES_PER_STEP = 4          # images decoded and sent through the network together
FRAMES_PER_STEP = 8


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    p = sub.add_parser("infer", help=doc[0].split(": ", 1)[1], description="\n\n".join(doc),
                       epilog=EXAMPLES)
    p.add_argument("input", help="an image, a folder of images, a glob (quote it) or a video")
    add_model_args(p)
    p.add_argument("--out", default="heatpose_out", help="output folder (default heatpose_out)")
    p.add_argument("--per-frame-json", action="store_true",
                   help="also write OUT/frames.json: people grouped per image / frame")
    add_draw_args(p)
    from heatpose.commands.track import add_tracking_args

    p.add_argument("--track", action="store_true", help="track people through the video (or "
                   "the images in name order): records get track_id, drawings a colour and id "
                   "per track (heatpose track writes PoseTrack18 files too)")
    add_tracking_args(p)
    p.set_defaults(func=run)
    return p


def add_model_args(p: argparse.ArgumentParser) -> None:
    from heatpose.commands.track import DEFAULTS as TRACK_DEFAULTS
    from heatpose.inference.pipeline import DEFAULT_MODEL, DET_SCORE_THR, OKS_NMS_THR

    p.add_argument("--model", help=f"zoo model name (default: the model a heatpose --checkpoint "
                   f"describes, else {DEFAULT_MODEL})")
    p.add_argument("--checkpoint", help="weights file (default: download the zoo checkpoint)")
    p.add_argument("--onnx", metavar="FILE", help="run a `heatpose export` .onnx file with "
                   "ONNX Runtime instead of --model/--checkpoint")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default=None,
                   help="inference backend (default auto: ONNX Runtime on CPU, PyTorch on GPU)")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--detector", default="yolox-nano", choices=["yolox-nano"],
                       help="person detector (default yolox-nano, needs onnxruntime)")
    boxes.add_argument("--det-file", help="COCO detection-results JSON giving the boxes "
                       "(matched to images by the number in the file name)")
    boxes.add_argument("--whole-image", action="store_true", help="one box = the whole image")
    p.add_argument("--detector-model", help="a local YOLOX .onnx file for --detector")
    p.add_argument("--det-thr", type=fraction, default=None,
                   help=f"box score threshold in [0, 1] (default {DET_SCORE_THR}; with --track "
                        f"{TRACK_DEFAULTS.det_thr}, the tracking paper's)")
    p.add_argument("--nms-thr", type=positive_float, default=OKS_NMS_THR,
                   help=f"OKS-NMS threshold between the people of an image (default "
                        f"{OKS_NMS_THR}, as MMPose; 1 keeps one person per box)")
    add_device_arg(p)
    p.add_argument("--batch-size", type=positive_int,
                   help="crops per forward pass (default 8 on CPU, 64 on GPU)")
    p.add_argument("--no-flip", action="store_true", help="turn the flip test off")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_draw_args(p: argparse.ArgumentParser) -> None:
    from heatpose.inference.pipeline import DRAW_KPT_THR

    p.add_argument("--kpt-thr", type=fraction, default=DRAW_KPT_THR,
                   help=f"draw keypoints with score above this (default {DRAW_KPT_THR})")
    p.add_argument("--radius", type=positive_int, help="keypoint radius in pixels "
                   "(default: by image size, 4 for 640 px)")
    p.add_argument("--line-width", type=positive_int, help="skeleton and box line width in "
                   "pixels (default: by image size, 2 for 640 px)")
    p.add_argument("--box-scores", action="store_true", help="write the box score above boxes")
    p.add_argument("--no-boxes", action="store_true", help="do not draw the person boxes")
    p.add_argument("--heatmaps", action="store_true", help="overlay the heatmaps on the drawing")
    p.add_argument("--no-draw", action="store_true", help="write predictions only")


def check_model_args(args: argparse.Namespace) -> Optional[str]:
    """The --onnx file, after checking it goes with the other model options."""
    onnx = getattr(args, "onnx", None)
    if onnx and (args.model or args.checkpoint):
        raise InputError("--onnx FILE replaces --model and --checkpoint: give one or the other")
    if onnx and not str(onnx).lower().endswith(".onnx"):
        raise InputError(f"--onnx {onnx}: expected a .onnx file written by heatpose export (a "
                         "PyTorch checkpoint goes with --checkpoint)")
    return onnx


def make_pipeline(args: argparse.Namespace, device: Any = None,
                  detector_threads: Optional[int] = None) -> Any:
    from heatpose.commands.track import detector_threshold, pipeline_track
    from heatpose.inference.pipeline import Pipeline

    detector: Any = None if (args.whole_image or args.det_file) else args.detector
    onnx = check_model_args(args)
    return Pipeline(model=onnx or args.model, detector=detector, checkpoint=args.checkpoint,
                    device=device if device is not None else args.device,
                    detector_model=args.detector_model, det_score_thr=detector_threshold(args),
                    batch_size=args.batch_size, flip_test=False if args.no_flip else None,
                    nms_thr=args.nms_thr, backend=getattr(args, "backend", None),
                    track=pipeline_track(args), detector_threads=detector_threads)


def detects_ahead(args: argparse.Namespace) -> bool:
    """Whether infer finds the person boxes in its reader thread (with the detector,
    untracked), overlapping the detector with the pose network."""
    return not (args.whole_image or args.det_file or getattr(args, "track", False))


def infer_pipeline(args: argparse.Namespace, device: Any) -> Any:
    """The pipeline ``heatpose infer`` runs: a detector beside the pose network gets one
    thread (measured faster on 2 cores: benchmarks/bench_folder.py)."""
    return make_pipeline(args, device, detector_threads=1 if detects_ahead(args) else None)


def detect_ahead(pipe: Any, items: Iterator[tuple]) -> Iterator[tuple]:
    """read_images' ``(index, path, image, why)`` with each readable image's person boxes
    ``(boxes, scores)`` appended (None for unreadable files); a detector error turns the image
    into a skipped one (``why``). Runs in the reader thread, beside the pose network."""
    for i, path, image, why in items:
        found = None
        if image is not None:
            try:
                found = pipe.boxes(image, i)
            except HeatposeError as err:
                image, why = None, f"{path}: {err}"
        yield i, path, image, why, found


def _det_boxes(det: Any, image_id: int, image: np.ndarray, name: str, args: argparse.Namespace,
               report: Report) -> tuple:
    """Boxes and scores of one image from the detection file (file order); a box outside the
    image or without area is skipped and reported with its record."""
    from heatpose.commands.track import detector_threshold

    rows = det.rows_of(image_id, detector_threshold(args))
    h, w = image.shape[:2]
    keep = []
    for j in rows:
        x1, y1, x2, y2 = det.boxes[j]
        if x2 <= x1 or y2 <= y1:
            report.skip(f"{det.path}: {det.describe(j)}: box has no area (image {name})")
        elif x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            report.skip(f"{det.path}: {det.describe(j)}: box lies outside the {w}x{h} image "
                        f"{name}")
        else:
            keep.append(j)
    return det.boxes[keep], det.scores[keep]


@dataclass
class ImageSet:
    """The input images with their COCO ids, names relative to their common folder (the
    results' file_name) and unique output stems."""

    files: List[Path]
    ids: List[int]
    names: List[str]
    stems: List[str]

    @classmethod
    def of(cls, files: List[Path]) -> "ImageSet":
        from heatpose.inference.media import assign_image_ids, relative_names, unique_names

        return cls(files, assign_image_ids(files), relative_names(files), unique_names(files))


def run_images(pipe: Any, files: List[Path], out: Path, args: argparse.Namespace,
               det: Any = None) -> Report:
    from heatpose.inference.media import chunked, in_background, read_images
    from heatpose.inference.outputs import ResultsFile, write_image, write_json
    from heatpose.inference.pipeline import NON_FINITE, NonFiniteOutput
    from heatpose.progress import ProgressBar

    inputs = ImageSet.of(files)
    if det is not None:
        det.check_ids(inputs.ids, f"the {len(files)} input images")
    report = Report("images", inputs=len(files))
    results = ResultsFile(out / "predictions.json")
    results.flush()                       # replaces a file an earlier run left
    report.files.append(str(results.path))
    frames: List[dict] = []
    sink = Outputs(results, frames if args.per_frame_json else None, report, args)
    progress = ProgressBar(len(files), "images", enabled=not args.quiet and len(files) > 1)
    tracking = getattr(pipe, "tracking", None)      # --track: the images are frames, in order
    tracked = det is None and tracking is not None
    ahead = detects_ahead(args)
    detected: Dict[int, tuple] = {}       # image index -> its boxes (detector or --det-file)

    def predict(batch: List[tuple]) -> List[Any]:
        images = [image for _, image in batch]
        if tracked:                       # image numbers: gaps = unseen
            return tracking.indexed(batch, args.heatmaps, [detected[i] for i, _ in batch])
        if det is None and not ahead:     # the whole image
            return pipe(images, return_heatmaps=args.heatmaps)
        found = [detected[i] for i, _ in batch]     # the detector's or the file's boxes
        return pipe(images, bboxes=[b for b, _ in found], box_scores=[s for _, s in found],
                    return_heatmaps=args.heatmaps)

    def process(batch: List[tuple]) -> None:
        try:
            predicted(batch)
        finally:
            for i, _ in batch:
                detected.pop(i, None)

    def predicted(batch: List[tuple]) -> None:
        if tracked:                       # boxes first: no image is tracked twice
            batch = detect_tracked(batch)
        try:
            found = predict(batch)
        except NonFiniteOutput as err:    # (tracked: the bad images count as unseen)
            found = err.people            # every image's people: keep() skips the bad ones
        except HeatposeError as err:
            if tracked:                   # a retry would track the images again
                raise
            return isolate(batch, err)
        for item, people in zip(batch, found):
            keep(item, people)

    def detect_tracked(batch: List[tuple]) -> List[tuple]:
        """The batch's images the detector found boxes on (kept in ``detected``); an image it
        fails on is skipped and named (a gap in the image numbers: a frame unseen)."""
        failed: Dict[int, str] = {}
        found = list(detect_frames(pipe, batch, failed))
        for i in sorted(failed):
            report.skip(f"{files[i]}: {failed[i]}")
        detected.update((i, boxes) for i, _, boxes in found)
        return [(i, image) for i, image, _ in found]

    def isolate(batch: List[tuple], err: HeatposeError) -> None:
        if len(batch) == 1:
            report.skip(f"{files[batch[0][0]]}: {err}")
            return
        for item in batch:                # isolate the input the batch failed on
            try:
                keep(item, predict([item])[0])
            except HeatposeError as one:
                report.skip(f"{files[item[0]]}: {one}")

    def keep(item: tuple, people: Any) -> None:
        i = item[0]
        if not people.finite:
            report.skip(f"{files[i]}: {NON_FINITE}")
            return
        entry = {"image_id": inputs.ids[i], "file_name": inputs.names[i]}
        sink.keep(people, {**entry, **({} if tracking is None else {"frame": i})}, entry,
                  None if args.no_draw else
                  lambda drawn: write_image(out / f"{inputs.stems[i]}_pose.jpg", drawn))

    def readable() -> Iterator[tuple]:
        # decoding (and detection) run ahead in a background thread, overlapping the network
        items = detect_ahead(pipe, read_images(files)) if ahead else \
            (item + (None,) for item in read_images(files))
        for i, path, image, why, found in in_background(items, ahead=2 * IMAGES_PER_STEP):
            if image is None:
                report.skip(why or f"{path}: unreadable")
                progress.update(1)
                continue
            if found is not None:
                detected[i] = found
            elif det is not None:         # once per image (a retry in isolate reuses them)
                detected[i] = _det_boxes(det, inputs.ids[i], image, inputs.names[i], args, report)
            yield i, image

    try:
        for batch in chunked(readable(), IMAGES_PER_STEP):
            process(batch)
            progress.update(len(batch))
    finally:
        progress.close()
        results.close()
        if args.per_frame_json:
            write_json(out / "frames.json", {"source": args.input,
                                             "keypoint_names": _keypoint_names(pipe),
                                             "frames": frames})
    if args.per_frame_json:
        report.files.append(str(out / "frames.json"))
    if not args.no_draw and report.done:
        report.files.append(str(out / (f"{inputs.stems[0]}_pose.jpg" if len(files) == 1
                                       else "*_pose.jpg")))
    return report


def print_summary(report: Report, seconds: float, command: str = "infer") -> None:
    from heatpose.progress import format_duration, format_table

    rate = report.done / seconds if seconds > 0 else 0.0
    rows = [(f"{report.unit} done", f"{report.done} of {report.inputs}"),
            ("skipped", str(report.skipped_count)),
            ("people", str(report.people)),
            ("time", f"{format_duration(seconds)} ({rate:.2f} {report.unit}/s)")]
    rows += [("wrote", f) for f in report.files] + [("note", n) for n in report.notes]
    print(format_table(rows, right=False))
    if report.skipped:
        what = "frame(s)" if report.unit == "frames" else "input(s)"
        print(f"heatpose {command}: {report.skipped_count} {what} skipped (listed above); "
              "every other result was written", file=sys.stderr)


def announce_device(args: argparse.Namespace) -> Any:
    """The torch device ``--device`` names, said once on stderr (a command's first line)."""
    from heatpose.device import describe_device, resolve_device

    device = resolve_device(args.device)
    if not getattr(args, "device_named", False):
        command = getattr(args, "command", None) or "infer"
        print(f"heatpose {command}: device {describe_device(device, args.device)}",
              file=sys.stderr)
        args.device_named = True
    return device


def run(args: argparse.Namespace) -> int:
    from heatpose.device import resolve_device
    from heatpose.inference.outputs import make_out_folder
    from heatpose.commands.infer_video import run_video
    from heatpose.inference.media import expand_images, is_video

    start = time.monotonic()
    check_model_args(args)
    device = resolve_device(args.device)
    source = Path(args.input)
    video = source.is_file() and is_video(source)
    files: List[Path] = []
    det: Optional[Any] = None
    if video:
        if args.det_file:
            raise InputError("--det-file works with image sets (boxes by image id), not videos")
    else:
        files = expand_images(args.input)
    if args.det_file:
        from heatpose.inference.detector import read_detection_file

        det = read_detection_file(args.det_file)
    command = getattr(args, "command", None) or "infer"     # also run by heatpose demo
    announce_device(args)
    pipe = infer_pipeline(args, device)
    out = make_out_folder(args.out)          # only once the inputs, options and model are good
    report = run_video(pipe, source, out, args) if video else \
        run_images(pipe, files, out, args, det)
    print_summary(report, time.monotonic() - start, command)
    return 1 if report.skipped else 0
