"""Tracking with a :class:`~heatpose.inference.pipeline.Pipeline`: detector boxes of a chunk of
frames go through the pose network together (as ``heatpose infer`` batches them); then, frame
by frame, the propagated boxes that survive box NMS are estimated and ids assigned. A frame
whose poses come out non-finite (NaN/Inf) counts as a frame in which no one was seen; the
others of its chunk are tracked, and the call then raises
:class:`~heatpose.inference.pipeline.NonFiniteOutput` with every frame's People."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.tracking.config import TrackerConfig
from heatpose.tracking.tracker import PoseTracker

Frame = Union[np.ndarray, str, Path]
_ARRAYS = ("boxes", "box_scores", "keypoints", "scores", "visibility", "heatmaps", "centers",
           "scales", "track_ids")


def concat_people(a: Any, b: Any) -> Any:
    """Two People of one image as one (array fields joined; a field missing on one side is
    dropped)."""
    def join(x, y):
        return None if x is None or y is None else np.concatenate([x, y])
    return replace(a, **{f: join(getattr(a, f), getattr(b, f)) for f in _ARRAYS})


class TrackingSession:
    """Stateful tracking over consecutive frames with a pipeline's detector and model.

    Args:
        pipe: a Pipeline (its ``boxes`` gives detector boxes, its call estimates poses).
        config: tracker settings (default :class:`TrackerConfig`).

    Calling it with a list of frames (BGR arrays or image paths, in order) returns their
    People with ``track_ids``; later calls continue the same tracks.
    """

    def __init__(self, pipe: Any, config: Optional[TrackerConfig] = None) -> None:
        schema = getattr(pipe.model, "output_schema", None)    # the keypoints predict reports
        sigmas = getattr(schema, "sigmas", None)
        if not sigmas:
            raise InputError("tracking needs the model's keypoint schema with OKS sigmas")
        self.pipe = pipe
        self.tracker = PoseTracker(sigmas, config)

    @property
    def config(self) -> TrackerConfig:
        return self.tracker.config

    def __call__(self, images: Union[Frame, Sequence[Frame]],
                 return_heatmaps: bool = False) -> Union[Any, List[Any]]:
        """The next frame (array or path) -> its People; a list of frames -> a list. Raises
        NonFiniteOutput (every frame's People, the good ones tracked) when the model's outputs
        for some frames are NaN/Inf (those count as frames in which no one was seen)."""
        from heatpose.data.images import read_image

        single = isinstance(images, (str, Path)) or (isinstance(images, np.ndarray)
                                                     and images.ndim in (2, 3))
        frames = [read_image(im) if isinstance(im, (str, Path)) else im
                  for im in ([images] if single else images)]
        out = self._chunk(frames, return_heatmaps)
        return out[0] if single else out

    def indexed(self, frames: Sequence[Tuple[int, np.ndarray]], return_heatmaps: bool = False,
                boxes: Optional[Sequence[Tuple[np.ndarray, np.ndarray]]] = None) -> List[Any]:
        """People of ``(index, image)`` pairs of one video, in order (index: the frame's number
        from 0 since the start or the last :meth:`reset`). Frames missing between the indices
        (unreadable, or the detector failed on them) count as frames in which no track was
        seen (:meth:`skip`), as do frames with non-finite poses (then NonFiniteOutput is raised
        at the end, with every frame's People). ``boxes``: each frame's detector boxes (N, 4)
        xyxy pixels and scores (N,), found before (None: the pipeline's detector here)."""
        from heatpose.inference.pipeline import NonFiniteOutput

        out: List[Any] = []
        bad: List[int] = []
        start = 0
        for j in range(1, len(frames) + 1):       # runs of consecutive frames
            if j == len(frames) or frames[j][0] != frames[j - 1][0] + 1:
                self.skip(frames[start][0] - (self.tracker.frame + 1))
                try:
                    found = self._chunk([im for _, im in frames[start:j]], return_heatmaps,
                                        None if boxes is None else boxes[start:j])
                except NonFiniteOutput as err:    # the other frames of the run are tracked
                    found = err.people
                    bad += [len(out) + b for b in err.bad]
                out += found
                start = j
        if bad:
            raise NonFiniteOutput(out, bad)
        return out

    def skip(self, frames: int) -> None:
        """``frames`` frames between the last call and the next could not be read: they count
        as frames in which no track was seen (see :meth:`PoseTracker.skip`)."""
        self.tracker.skip(frames)

    def reset(self) -> None:
        """Forget every track (the next frame starts a new sequence; ids restart at 0)."""
        self.tracker = PoseTracker(self.tracker.sigmas, self.tracker.config)

    def _chunk(self, frames: List[np.ndarray], return_heatmaps: bool,
               dets: Optional[Sequence[Tuple[np.ndarray, np.ndarray]]] = None) -> List[Any]:
        from heatpose.inference.pipeline import NonFiniteOutput

        if dets is None:
            dets = [self.pipe.boxes(im, i) for i, im in enumerate(frames)]
        thr = self.config.det_thr
        try:
            det_people = self.pipe(frames, bboxes=[b[s >= thr] for b, s in dets],
                                   box_scores=[s[s >= thr] for _, s in dets],
                                   return_heatmaps=return_heatmaps)
        except NonFiniteOutput as err:            # every frame's People: the bad ones skip
            det_people = err.people
        out = [self._frame(im, people, return_heatmaps)
               for im, people in zip(frames, det_people)]
        bad = [j for j, people in enumerate(out) if not people.finite]
        if bad:
            raise NonFiniteOutput(out, bad)
        return out

    def _frame(self, image: np.ndarray, det: Any, return_heatmaps: bool) -> Any:
        """The tracked People of one frame; a frame with non-finite poses (returned as they
        are, without ids) counts as a frame in which no one was seen."""
        from heatpose.inference.pipeline import NonFiniteOutput

        if not det.finite:
            self.skip(1)
            return det
        prop_boxes, prop_scores = self.tracker.proposals(image)
        keep_det, keep_prop = self.tracker.unify(det.boxes, det.box_scores, prop_boxes,
                                                 prop_scores)
        people = det.select(keep_det)
        if len(keep_prop):
            try:
                extra = self.pipe(image, bboxes=prop_boxes[keep_prop],
                                  box_scores=prop_scores[keep_prop],
                                  return_heatmaps=return_heatmaps)
            except NonFiniteOutput as err:        # the frame started: no one seen in it
                k = len(self.tracker.sigmas)
                self.tracker.update(np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros((0, 4)),
                                    np.zeros(0))
                return concat_people(people, err.people[0])
            people = concat_people(people, extra)
        people.track_ids = self.tracker.update(people.keypoints, people.scores, people.boxes,
                                               people.box_scores)
        return people


def sequences_of(source: Union[str, Path]) -> List[Path]:
    """What to track: a video or a folder of frames -> itself; a folder of frame folders
    (PoseTrack's ``images/val``) -> those sub-folders (sorted), each one sequence."""
    from heatpose.inference.media import IMAGE_SUFFIXES

    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such video file or folder")
    if path.is_file():
        return [path]

    def has_images(d: Path) -> bool:
        return any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())

    if has_images(path):
        return [path]
    subs = sorted(d for d in path.iterdir() if d.is_dir() and has_images(d))
    if not subs:
        raise InputError(f"{source}: holds no frames (images) and no folders of frames")
    return subs
