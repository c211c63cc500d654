"""heatpose infer on a video: frames decoded (and detected) ahead, the pose network on chunks of
frames, COCO records / per-frame JSON / the drawn video; unreadable frames named in one line."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterator, List

from heatpose.commands.frame_outputs import (Outputs, Report, _keypoint_names, chunk_people,
                                             skip_frames, skip_nonfinite)
from heatpose.commands.infer import FRAMES_PER_STEP, detects_ahead
from heatpose.errors import InputError

def run_video(pipe: Any, path: Path, out: Path, args: argparse.Namespace) -> Report:
    from heatpose.inference.media import VideoReader, VideoWriter, in_background
    from heatpose.inference.outputs import ResultsFile, write_json
    from heatpose.progress import ProgressBar

    reader = VideoReader(path)
    report = Report("frames", inputs=reader.num_frames)
    writer = None if args.no_draw else VideoWriter(out / f"{path.stem}_pose.mp4", reader.fps)
    results = ResultsFile(out / "predictions.json")
    results.flush()
    frames: List[dict] = []
    sink = Outputs(results, frames if args.per_frame_json else None, report, args)
    progress = ProgressBar(reader.num_frames or None, "frames", enabled=not args.quiet)
    finished = False
    nonfinite: List[int] = []
    tracking = getattr(pipe, "tracking", None)      # frame numbers: gaps = unseen
    ahead = detects_ahead(args)

    def predict(chunk: List[tuple]) -> List[Any]:
        frames = [f for _, f, _ in chunk]
        if tracking is not None:
            return tracking.indexed([(i, f) for i, f, _ in chunk], args.heatmaps)
        if ahead:
            return pipe(frames, bboxes=[b for _, _, (b, _) in chunk],
                        box_scores=[s for _, _, (_, s) in chunk], return_heatmaps=args.heatmaps)
        return pipe(frames, return_heatmaps=args.heatmaps)

    def read() -> Iterator[List[tuple]]:        # (index, frame, its boxes or None) chunks
        for chunk in reader.chunks(FRAMES_PER_STEP):
            yield [(i, f, pipe.boxes(f, i) if ahead else None) for i, f in chunk]

    try:      # frames are decoded (and detected) ahead in a background thread, overlapping
        for chunk in in_background(read(), ahead=2):             # the pose network
            found = chunk_people(lambda: predict(chunk))
            for (index, _, _), people in zip(chunk, found):
                if people is None:
                    nonfinite.append(index)
                    continue
                sink.keep(people, {"image_id": index, "file_name": path.name, "frame": index},
                          {"frame": index, "image_id": index,
                           "time": round(index / reader.fps, 4)},
                          None if writer is None else writer.write)
            progress.update(len(chunk))
        finished = True
    finally:
        progress.close()
        results.close()
        finish_video(writer, finished, report)
    skip_nonfinite(report, path, nonfinite)
    report_bad_frames(reader, report)
    if not report.done and not report.nonfinite:
        raise InputError(f"{path}: the video has no readable frames")
    report.files.insert(0, str(results.path))
    if args.per_frame_json:
        write_json(out / "frames.json", {
            "source": str(path), "fps": reader.fps, "size": list(reader.size),
            "keypoint_names": _keypoint_names(pipe), "frames": frames})
        report.files.append(str(out / "frames.json"))
    return report


def finish_video(writer: Any, finished: bool, report: Report) -> None:
    """Close a drawn video (``finished``) or drop it; the file and its codec go into
    ``report``."""
    if writer is None:
        return
    written = writer.close() if finished else writer.abort()
    if written is not None:
        report.files.append(str(written))
        report.notes.append(f"video codec: {writer.codec}" +
                            ("" if writer.codec in ("avc1", "pyav-h264") else
                             " (no H.264 encoder installed; pip install av for "
                             "browser-playable H.264)"))


def report_bad_frames(reader: Any, report: Report) -> None:
    """Count a read video's unreadable frames into ``report`` (one line naming the file and
    the frame index ranges); the frames read are at least those done, skipped for non-finite
    outputs (counted before) and unreadable (a container may give no frame count)."""
    report.inputs = max(report.inputs, report.done + report.nonfinite + len(reader.bad_frames))
    skip_frames(report, reader.path, reader.bad_frames, "unreadable frame(s)")
