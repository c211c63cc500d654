"""``heatpose track INPUT``: track poses through a video or a folder of frames.

INPUT is a video file or an image-sequence folder (PoseTrack layout). Writes the drawn video
(colour and id per track), per-frame records with ``track_id``, and a PoseTrack18 file
(``posetrack/<sequence>.json``, ready for ``heatpose eval --posetrack``)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional, Tuple

from heatpose.errors import HeatposeError
from heatpose.tracking.config import FLOW_METHODS, TrackerConfig

DEFAULTS = TrackerConfig()


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from heatpose.commands.infer import add_draw_args, add_model_args

    p = sub.add_parser("track", help="track poses through a video or a folder of frames",
                       description=__doc__)
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


def track_source(pipe: Any, source: Path, out: Path, config: TrackerConfig,
                 draw: Optional[dict] = None, fps: float = 25.0,
                 quiet: bool = False) -> List[Path]:
    """Track ``source`` (video or folder of frames) with ``pipe``; write into ``out`` the drawn
    video (unless ``draw`` is None: else the options of :func:`draw_tracks`),
    ``<name>_tracks.json`` and ``posetrack/<name>.json``. Returns the paths written."""
    from heatpose.inference.media import VideoReader, VideoWriter, is_video
    from heatpose.inference.outputs import write_json
    from heatpose.progress import ProgressBar
    from heatpose.tracking.output import draw_tracks, frame_record, posetrack_video
    from heatpose.tracking.session import TrackingSession, frames_of

    video = source.is_file() and is_video(source)
    total = None
    if video:
        meta = VideoReader(source)
        total, fps = meta.num_frames or None, meta.fps
        meta.cap.release()
    name = source.stem if video else source.name
    session = TrackingSession(pipe, config)
    schema = pipe.model.schema
    writer = VideoWriter(out / f"{name}_track.mp4", fps) if draw is not None else None
    records: List[dict] = []
    tracked: List[Tuple[str, Any]] = []
    progress = ProgressBar(total, f"{name} frames", enabled=not quiet)
    try:
        for chunk in frames_of(source):
            for (index, file_name, image), people in zip(chunk, session([c[2] for c in chunk])):
                records.append(frame_record(index, file_name, people))
                tracked.append((file_name, replace(people, image=None, heatmaps=None)))
                if writer is not None:
                    writer.write(draw_tracks(image, people, schema, **draw))
            progress.update(len(chunk))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        progress.close()
    if not records:
        raise HeatposeError(f"{source}: no readable frames")
    written = []
    if writer is not None:
        written.append(writer.close())
    names = list(getattr(schema, "keypoint_names", []))
    written.append(write_json(out / f"{name}_tracks.json", {
        "source": str(source), "fps": fps, "keypoint_names": names,
        "tracker": config.to_dict(), "frames": records}))
    (out / "posetrack").mkdir(exist_ok=True)
    links = getattr(schema, "skeleton", None) or []
    written.append(write_json(out / "posetrack" / f"{name}.json", posetrack_video(
        tracked, names, [(int(a) + 1, int(b) + 1) for a, b in links])))
    return [w for w in written if w is not None]


def pipeline_track(args: argparse.Namespace) -> Any:
    """The ``track`` argument of Pipeline for ``heatpose infer --track`` (False without it)."""
    if not getattr(args, "track", False):
        return False
    if getattr(args, "det_file", None):
        raise HeatposeError("--track needs the detector (or --whole-image): boxes from "
                            "--det-file are not tracked")
    return tracker_config(args)


def draw_options(args: argparse.Namespace) -> Optional[dict]:
    """:func:`~heatpose.tracking.output.draw_tracks` options of ``add_draw_args`` flags (None:
    ``--no-draw``)."""
    if args.no_draw:
        return None
    return {"kpt_thr": args.kpt_thr, "radius": args.radius, "thickness": args.line_width,
            "show_boxes": not args.no_boxes}


def run(args: argparse.Namespace) -> int:
    from heatpose.commands.infer import make_pipeline

    if getattr(args, "det_file", None):
        raise HeatposeError("track: --det-file is not supported (boxes come from the detector "
                            "or --whole-image, plus propagation)")
    from heatpose.tracking.session import sequences_of

    config = tracker_config(args, args.det_thr)
    sources = sequences_of(args.input)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = make_pipeline(args)
    for source in sources:                        # each sequence tracked on its own
        for path in track_source(pipe, source, out, config, draw=draw_options(args),
                                 fps=args.fps, quiet=args.quiet):
            print(f"wrote {path}")
    return 0
