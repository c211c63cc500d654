"""heatpose track: track poses through a video or a folder of frames (an id per person).

INPUT is a video file, a folder of frames (sorted by name) or a folder of such folders
(PoseTrack's images/val: one sequence each, tracked on its own). Writes OUT/predictions.json:
COCO keypoint results as heatpose infer writes them (one record per person per frame with
image_id, file_name, frame, keypoints, score, bbox) plus each person's track_id; a PoseTrack18
file per sequence (OUT/posetrack/SEQUENCE.json, what heatpose eval --posetrack reads); the
drawn video per sequence (SEQUENCE_track.mp4: a colour and an id per track); with
--per-frame-json also OUT/frames.json (people grouped per frame).

Frames that cannot be read (a damaged stretch of video, a broken image) are skipped and named,
and so are frames the person detector fails on and frames where the model gives non-finite
(NaN/Inf) poses. The frames after them
continue the tracks: each skipped frame counts as a frame in which no one was seen (a track
ends after --max-age of them in a row), and no box is carried over the gap by the flow. Every
good result is written; the exit status is then 1 with a count.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from heatpose.errors import HeatposeError, InputError
from heatpose.tracking.config import FLOW_METHODS, TrackerConfig

EXAMPLES = """examples:
  heatpose track clip.mp4                               # person detector + default model
  heatpose track clip.mp4 --flow none --max-age 10      # no optical flow; L = 10 frames
  heatpose track frames/ --checkpoint my_model.pth --whole-image --per-frame-json
  heatpose track posetrack18/images/val/ --out pred/ --no-draw
  heatpose eval --posetrack posetrack18/annotations/val/ pred/posetrack/   # MOTA, AP

exit status: 0 all done; 1 done, but some frames were skipped (named above the summary);
2 nothing done (bad option, input or model file)."""
DEFAULTS = TrackerConfig()


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from heatpose.commands.infer import add_draw_args, add_model_args

    doc = __doc__.split("\n\n")
    p = sub.add_parser("track", help=doc[0].split(": ", 1)[1], description="\n\n".join(doc),
                       epilog=EXAMPLES)
    add_model_args(p)
    for action in p._actions:                     # the paper's detector threshold
        if action.dest == "det_thr":
            action.default = DEFAULTS.det_thr
            action.help = f"detector box score threshold (default {DEFAULTS.det_thr})"
    add_tracking_args(p)
    p.add_argument("input", help="a video file, a folder of frames (sorted by name) or a folder "
                   "of such folders (PoseTrack's images/val: one sequence each)")
    p.add_argument("--out", default="heatpose_out", help="output folder (default heatpose_out)")
    p.add_argument("--fps", type=float, default=25.0,
                   help="frame rate of the drawing for a folder of frames (default 25)")
    p.add_argument("--per-frame-json", action="store_true",
                   help="also write OUT/frames.json: people grouped per frame")
    add_draw_args(p)
    p.set_defaults(func=run)
    return p


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    """Tracker options (``heatpose track`` and ``heatpose infer --track``)."""
    g = p.add_argument_group("tracking")
    g.add_argument("--flow", choices=FLOW_METHODS, default=DEFAULTS.flow,
                   help=f"optical flow moving the joints to the next frame (default "
                        f"{DEFAULTS.flow}; none = no flow)")
    g.add_argument("--max-age", type=int, default=DEFAULTS.max_age,
                   help=f"frames a track survives unseen, L (default {DEFAULTS.max_age})")
    g.add_argument("--match-thr", type=float, default=DEFAULTS.match_thr,
                   help=f"OKS a pose needs to continue a track (default {DEFAULTS.match_thr})")
    g.add_argument("--box-nms-thr", type=float, default=DEFAULTS.box_nms_thr,
                   help=f"box NMS IoU unifying detector and propagated boxes (default "
                        f"{DEFAULTS.box_nms_thr})")


def tracker_config(args: argparse.Namespace, det_thr: Optional[float] = None) -> TrackerConfig:
    """The tracker settings of parsed :func:`add_tracking_args` options (``det_thr``: None =
    the tracker's default)."""
    return TrackerConfig.from_dict({"det_thr": det_thr, "flow": args.flow,
                                    "max_age": args.max_age, "match_thr": args.match_thr,
                                    "box_nms_thr": args.box_nms_thr})


Frames = Iterable[Tuple[int, np.ndarray]]


def track_sequences(pipe: Any, sources: List[Path], out: Path, config: TrackerConfig,
                    args: argparse.Namespace) -> Any:
    """Track each of ``sources`` (one video, or folders of frames) on its own with ``pipe``;
    results go into ``out`` as the module says, incrementally. Returns infer's Report."""
    from heatpose.commands.frame_outputs import Report, _keypoint_names
    from heatpose.commands.infer import ImageSet
    from heatpose.inference.media import expand_images, is_video
    from heatpose.inference.outputs import ResultsFile, write_json
    from heatpose.tracking.session import TrackingSession

    if sources[0].is_file() and not is_video(sources[0]):
        raise InputError(f"{sources[0]}: not a video file or a folder of frames")
    report = Report("frames")
    results = ResultsFile(out / "predictions.json")
    results.flush()                       # replaces a file an earlier run left
    frames: Optional[List[dict]] = [] if args.per_frame_json else None
    session = TrackingSession(pipe, config)
    (out / "posetrack").mkdir(exist_ok=True)
    try:
        if sources[0].is_file():
            _track_video(session, sources[0], out, args, report, results, frames)
        else:
            lists = [expand_images(str(s)) for s in sources]
            inputs = ImageSet.of([f for files in lists for f in files])
            offset = 0
            for source, files in zip(sources, lists):
                session.reset()           # ids restart for each sequence
                _track_folder(session, source, files, inputs, offset, out, args, report,
                              results, frames)
                offset += len(files)
    finally:
        results.close()
        if frames is not None:
            write_json(out / "frames.json", {"source": str(args.input),
                                             "keypoint_names": _keypoint_names(pipe),
                                             "tracker": config.to_dict(), "frames": frames})
    if not report.done and not report.read_skipped:
        raise InputError(f"{args.input}: no readable frames")
    report.files.insert(0, str(results.path))
    if frames is not None:
        report.files.append(str(out / "frames.json"))
    return report


def _track_video(session: Any, path: Path, out: Path, args: argparse.Namespace, report: Any,
                 results: Any, frames: Optional[List[dict]]) -> None:
    from heatpose.commands.infer_video import report_bad_frames
    from heatpose.inference.media import VideoReader, in_background

    reader = VideoReader(path)
    report.inputs += reader.num_frames
    _track_frames(session, path, in_background(reader, ahead=16), reader.num_frames,
                  lambda i: {"image_id": i, "file_name": path.name, "frame": i},
                  lambda i: f"{path.stem}/{i:06d}.jpg", reader.fps, out, args, report,
                  results, frames)
    report_bad_frames(reader, report)


def _track_folder(session: Any, source: Path, files: List[Path], inputs: Any, offset: int,
                  out: Path, args: argparse.Namespace, report: Any, results: Any,
                  frames: Optional[List[dict]]) -> None:
    """One sequence of image files; record keys as heatpose infer gives the same files (ids
    and names over all sequences), plus the frame index within the sequence."""
    from heatpose.inference.media import in_background, read_images

    def readable() -> Frames:
        for i, path, image, why in in_background(read_images(files), ahead=16):
            if image is None:
                report.skip(why or f"{path}: unreadable")
                continue
            yield i, image

    report.inputs += len(files)
    _track_frames(session, source, readable(), len(files),
                  lambda i: {"image_id": inputs.ids[offset + i],
                             "file_name": inputs.names[offset + i], "frame": i},
                  lambda i: f"{source.name}/{files[i].name}", args.fps, out, args, report,
                  results, frames)


def _track_frames(session: Any, source: Path, readable: Frames, total: int,
                  keys: Callable[[int], dict], posetrack_name: Callable[[int], str], fps: float,
                  out: Path, args: argparse.Namespace, report: Any, results: Any,
                  frames: Optional[List[dict]]) -> None:
    """Track one sequence (``source``: the video file or the folder of frames, named in
    skipped lines): ``readable`` yields ``(index, image)`` of its readable frames in
    order (a jump in ``index`` = frames skipped: :meth:`TrackingSession.indexed`); ``keys(index)``
    gives the record keys (image_id, file_name, frame); ``posetrack_name(index)`` the frame's
    file_name in the PoseTrack18 file. Writes the drawing and ``posetrack/NAME.json``."""
    from heatpose.commands.frame_outputs import (Outputs, _keypoint_names, chunk_people,
                                                 detect_frames, skip_failed_detections,
                                                 skip_nonfinite)
    from heatpose.commands.infer import FRAMES_PER_STEP
    from heatpose.commands.infer_video import finish_video
    from heatpose.inference.media import VideoWriter, chunked
    from heatpose.inference.outputs import write_json
    from heatpose.progress import ProgressBar
    from heatpose.tracking.output import posetrack_video

    schema = session.pipe.model.output_schema
    name = source.stem if source.is_file() else source.name
    writer = None if args.no_draw else VideoWriter(out / f"{name}_track.mp4", fps)
    tracked: Dict[int, Any] = {}
    progress = ProgressBar(total or None, f"{name} frames", enabled=not args.quiet)
    sink = Outputs(results, frames, report, args)
    nonfinite: List[int] = []             # frames whose outputs were NaN/Inf: skipped
    failed: Dict[int, str] = {}           # frames the detector failed on: skipped (unseen)

    def process(chunk: List[Tuple[int, np.ndarray]]) -> None:
        detected = list(detect_frames(session.pipe, chunk, failed))
        found = chunk_people(lambda: session.indexed([(i, im) for i, im, _ in detected], False,
                                                     [boxes for _, _, boxes in detected]))
        for (index, _, _), people in zip(detected, found):
            if people is None:
                nonfinite.append(index)
                continue
            sink.keep(people, keys(index), draw=None if writer is None else writer.write)
            tracked[index] = replace(people, image=None, heatmaps=None)
        progress.update(len(chunk))

    finished = False
    try:
        for chunk in chunked(readable, FRAMES_PER_STEP):   # index gaps: frames skipped
            process(chunk)
        finished = True
    finally:
        progress.close()
        skip_nonfinite(report, source, nonfinite)
        skip_failed_detections(report, source, failed)
        finish_video(writer, finished, report)
        if tracked:                                 # skipped frames: listed without people
            count = max(total, max(tracked) + 1)
            names = _keypoint_names(session.pipe)
            links = [(int(a) + 1, int(b) + 1) for a, b in getattr(schema, "skeleton", None) or []]
            path = write_json(out / "posetrack" / f"{name}.json", posetrack_video(
                [(posetrack_name(i), tracked.get(i)) for i in range(count)], names, links))
            report.files.append(str(path))


def pipeline_track(args: argparse.Namespace) -> Any:
    """The ``track`` argument of Pipeline for ``heatpose infer --track`` (False without it)."""
    if not getattr(args, "track", False):
        return False
    if getattr(args, "det_file", None):
        raise HeatposeError("--track needs the detector (or --whole-image): boxes from "
                            "--det-file are not tracked")
    return tracker_config(args, detector_threshold(args))


def detector_threshold(args: argparse.Namespace) -> float:
    """The detector box score threshold of parsed options: ``--det-thr`` when given, else the
    tracker's (0.5, the paper's) with ``--track``, else Pipeline's default."""
    if getattr(args, "det_thr", None) is not None:
        return float(args.det_thr)
    if getattr(args, "track", False):
        return DEFAULTS.det_thr
    from heatpose.inference.pipeline import DET_SCORE_THR

    return DET_SCORE_THR


def draw_options(args: argparse.Namespace) -> dict:
    """:func:`~heatpose.tracking.output.draw_tracks` options of ``add_draw_args`` flags (called
    only when drawing: ``--no-draw`` draws nothing)."""
    return {"kpt_thr": args.kpt_thr, "radius": args.radius, "thickness": args.line_width,
            "show_boxes": not args.no_boxes}


def run(args: argparse.Namespace) -> int:
    from heatpose.commands.infer import (announce_device, check_model_args,
                                         make_pipeline, print_summary)
    from heatpose.inference.outputs import make_out_folder
    from heatpose.tracking.session import sequences_of

    start = time.monotonic()
    if getattr(args, "det_file", None):
        raise HeatposeError("track: --det-file is not supported (boxes come from the detector "
                            "or --whole-image, plus propagation)")
    check_model_args(args)
    config = tracker_config(args, args.det_thr)
    sources = sequences_of(args.input)
    device = announce_device(args)
    pipe = make_pipeline(args, device)
    out = make_out_folder(args.out)          # only once the inputs and the model are good
    report = track_sequences(pipe, sources, out, config, args)
    print_summary(report, time.monotonic() - start, "track")
    return 1 if report.skipped else 0
