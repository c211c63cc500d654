"""What infer and track do with each image's (or frame's) people: the run's Report (counts and
skipped inputs, one line each), the COCO records / per-frame JSON / drawing sinks (Outputs),
and the one-line reports of skipped frames (unreadable, the detector failed, or non-finite model
outputs)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from heatpose.errors import HeatposeError

@dataclass
class Report:
    """What a run did: counts for the summary, and the skipped inputs (one line each)."""

    unit: str
    inputs: int = 0
    done: int = 0
    people: int = 0
    skipped: List[str] = field(default_factory=list)
    skipped_count: int = 0       # inputs skipped: a message may name several video frames
    read_skipped: int = 0        # frames read but skipped: NaN/Inf outputs, detector failed
    files: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def skip(self, message: str, count: int = 1) -> None:
        self.skipped.append(message)
        self.skipped_count += count
        print(f"skipped {message}", file=sys.stderr)


@dataclass
class Outputs:
    """Where a run's people go: COCO records (``results``, a ResultsFile), per-frame JSON
    entries (``frames``; None without --per-frame-json) and the counts (``report``)."""

    results: Any
    frames: Optional[List[dict]]
    report: Report
    args: argparse.Namespace

    def keep(self, people: Any, keys: dict, entry: Optional[dict] = None,
             draw: Optional[Callable[[np.ndarray], Any]] = None) -> None:
        """One image's (or frame's) people: records with ``keys`` (image_id, file_name,
        frame), the per-frame entry with ``entry`` (default ``keys``), the drawing handed to
        ``draw`` (None: not drawn)."""
        self.results.add(people.to_records(**keys))
        if self.frames is not None:
            self.frames.append(_frame_entry(people, **(keys if entry is None else entry)))
        if draw is not None:
            draw(_draw(people, self.args))
        self.report.done += 1
        self.report.people += len(people)


def _draw(people: Any, args: argparse.Namespace) -> np.ndarray:
    if people.track_ids is not None:
        from heatpose.commands.track import draw_options
        from heatpose.tracking.output import draw_tracks

        return draw_tracks(people.image, people, people.schema, **draw_options(args))
    return people.draw(kpt_thr=args.kpt_thr, radius=args.radius, thickness=args.line_width,
                       show_boxes=not args.no_boxes, show_box_scores=args.box_scores,
                       show_heatmaps=args.heatmaps)


def chunk_people(predict: Callable[[], List[Any]]) -> List[Optional[Any]]:
    """``predict()``'s People for each frame of a chunk; None for a frame whose keypoints or
    scores came out non-finite (NaN/Inf). With tracking such a frame counts as unseen (as an
    unreadable one does) and the chunk's other frames are tracked."""
    from heatpose.inference.pipeline import NonFiniteOutput

    try:
        return list(predict())
    except NonFiniteOutput as err:
        return [p if p.finite else None for p in err.people]


def skip_frames(report: "Report", path: Any, indices: List[int], what: str) -> None:
    """One skipped line for the frames ``indices`` of the video ``path`` (index ranges)."""
    from heatpose.inference.media import describe_frames

    if indices:
        report.skip(f"{path}: {len(indices)} {what}: {describe_frames(indices)}",
                    count=len(indices))


def skip_nonfinite(report: "Report", path: Any, indices: List[int]) -> None:
    """One skipped line for the frames whose model outputs were NaN/Inf."""
    skip_frames(report, path, indices, "frame(s) where the model gave non-finite keypoints "
                "or scores (NaN/Inf)")
    report.read_skipped += len(indices)


def detect_frames(pipe: Any, frames: Iterable[Tuple[int, np.ndarray]],
                  failed: Dict[int, str]) -> Iterator[Tuple[int, np.ndarray, tuple]]:
    """``(index, frame)`` pairs (video frames, or the images of a tracked image set) with the
    frame's person boxes ``(boxes, scores)`` appended; a frame the detector fails on is left
    out (a jump in the indices: with tracking it counts as a frame in which no one was seen,
    as an unreadable one does) and its error kept in ``failed`` (index -> message; the caller
    reports them: :func:`skip_failed_detections` for a video, one line per file for images)."""
    for index, frame in frames:
        try:
            found = pipe.boxes(frame, index)
        except HeatposeError as err:
            failed[index] = str(err)
            continue
        yield index, frame, found


def skip_failed_detections(report: "Report", path: Any, failed: Dict[int, str]) -> None:
    """One skipped line for the frames the person detector failed on (the first error)."""
    if failed:
        first = min(failed)
        skip_frames(report, path, sorted(failed), "frame(s) where the person detector failed "
                    f"(frame {first}: {failed[first]})")
        report.read_skipped += len(failed)


def _frame_entry(people: Any, **keys: Any) -> dict:
    """A per-frame JSON entry: the people with xyxy boxes and (K, 2) keypoints."""
    instance = people.instance_scores                # computed for all people at once
    return {**keys, "people": [
        {"bbox": [float(v) for v in people.boxes[i]], "bbox_score": float(people.box_scores[i]),
         "score": float(instance[i]),
         "keypoints": np.asarray(people.keypoints[i], np.float32).tolist(),
         "keypoint_scores": np.asarray(people.scores[i], np.float32).tolist(),
         **({"track_id": int(people.track_ids[i])} if people.track_ids is not None else {}),
         **({"keypoints_visible": people.visibility[i].round(4).tolist()}
            if people.visibility is not None else {})}
        for i in range(len(people))]}


def _keypoint_names(pipe: Any) -> List[str]:
    return list(getattr(pipe.model.output_schema, "keypoint_names", []) or [])
