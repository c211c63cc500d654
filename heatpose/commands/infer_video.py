"""heatpose infer on a video: frames decoded (and detected) ahead, the pose network on chunks of
frames, COCO records / per-frame JSON / the drawn video; unreadable frames, frames the detector
fails on and frames with NaN/Inf outputs are skipped and named in one line each."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Iterator, List

from heatpose.commands.frame_outputs import (Outputs, Report, _keypoint_names, chunk_people,
                                             detect_frames, skip_failed_detections, skip_frames,
                                             skip_nonfinite)
from heatpose.commands.infer import FRAMES_PER_STEP
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
    failed: Dict[int, str] = {}                     # frames the detector failed on: skipped
    tracking = getattr(pipe, "tracking", None)      # frame numbers: gaps = unseen

    def predict(chunk: List[tuple]) -> List[Any]:   # (index, frame, (boxes, scores))
        if not chunk:
            return []
        if tracking is not None:
            return tracking.indexed([(i, f) for i, f, _ in chunk], args.heatmaps,
                                    [found for _, _, found in chunk])
        return pipe([f for _, f, _ in chunk], bboxes=[b for _, _, (b, _) in chunk],
                    box_scores=[s for _, _, (_, s) in chunk], return_heatmaps=args.heatmaps)

    def read() -> Iterator[tuple]:      # chunks of (index, frame) and their (index, frame, boxes)
        for chunk in reader.chunks(FRAMES_PER_STEP):     # (None: tracked, detected below)
            yield chunk, None if tracking is not None else list(detect_frames(pipe, chunk,
                                                                               failed))

    try:      # frames are decoded (and detected) ahead in a background thread, overlapping
        for frames_read, chunk in in_background(read(), ahead=2):      # the pose network
            if chunk is None:
                chunk = list(detect_frames(pipe, frames_read, failed))
            found = chunk_people(lambda: predict(chunk))
            for (index, _, _), people in zip(chunk, found):
                if people is None:
                    nonfinite.append(index)
                    continue
                sink.keep(people, {"image_id": index, "file_name": path.name, "frame": index},
                          {"frame": index, "image_id": index,
                           "time": round(index / reader.fps, 4)},
                          None if writer is None else writer.write)
            progress.update(len(frames_read))
        finished = True
    finally:
        progress.close()
        results.close()
        finish_video(writer, finished, report)
    skip_nonfinite(report, path, nonfinite)
    skip_failed_detections(report, path, failed)
    report_bad_frames(reader, report)
    if not report.done and not report.read_skipped:
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
    the frame index ranges); the frames read are at least those done, skipped after reading
    (non-finite outputs, the detector failed: counted before) and unreadable (a container may
    give no frame count)."""
    report.inputs = max(report.inputs,
                        report.done + report.read_skipped + len(reader.bad_frames))
    skip_frames(report, reader.path, reader.bad_frames, "unreadable frame(s)")
