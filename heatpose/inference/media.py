"""Inputs and outputs of ``heatpose infer``: image files, folders, globs and videos.

- :func:`expand_images` lists the images a spec names; :func:`unique_names` and
  :func:`assign_image_ids` give each input file an output name and a COCO ``image_id`` that are
  unique even when two folders hold the same file name.
- :func:`read_images` yields an error message instead of an image for files it cannot read;
  :func:`in_background` runs such a reader in a thread, overlapping the network's forward
  pass.
- :class:`VideoReader` reads past damaged frames where OpenCV can and reports them;
  :class:`VideoWriter` writes H.264 where the installed codecs allow (PyAV, else OpenCV's
  'avc1'), else MPEG-4 Part 2 ('mp4v'); ``codec`` says which.
"""
from __future__ import annotations

import glob
import os
import queue
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

import cv2
import numpy as np

from heatpose.errors import HeatposeError, InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
# consecutive unreadable frames after which a video is taken to end (damaged tail)
MAX_BAD_FRAMES = 50

# FFmpeg (inside OpenCV) prints a line per damaged macroblock; heatpose reports bad frames itself
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def is_video(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def expand_images(spec: str) -> List[Path]:
    """Image files named by ``spec``: one file, a folder (sorted, not recursive) or a glob."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            nested = any(p.is_dir() for p in path.iterdir())
            raise InputError(f"{spec}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                             + (f"; for its subfolders too, quote a glob: '{path / '**' / '*.jpg'}'"
                                if nested else ""))
        return files
    if path.is_file():
        return [path]
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{spec}: the pattern matches no image files")
        return files
    raise InputError(f"{spec}: no such file or folder")


def relative_names(files: Sequence[Path]) -> List[str]:
    """Per file: its path relative to the files' common folder, with '/' separators
    (``a/0001.jpg``, ``b/0001.jpg``; files of one folder: their names)."""
    paths = [Path(os.path.abspath(f)) for f in files]
    if not paths:
        return []
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(root).as_posix() for p in paths]


def unique_names(files: Sequence[Path]) -> List[str]:
    """Per file: :func:`relative_names` without the suffix, folder separators as ``__``
    (``a/0001.jpg``, ``b/0001.jpg`` -> ``a__0001``, ``b__0001``; one folder -> the plain
    stems). Unique for distinct files."""
    names = [n.rsplit(".", 1)[0].replace("/", "__") if "." in n.rsplit("/", 1)[-1]
             else n.replace("/", "__") for n in relative_names(files)]
    seen: dict = {}
    out = []
    for name in names:                    # same stem, different suffix: a.jpg and a.png
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}~{n}")
    return out


def assign_image_ids(files: Sequence[Path]) -> List[int]:
    """COCO image ids: the numbers the file names are (``000000000785.jpg`` -> 785) when every
    name is a number and no two agree; otherwise the position in ``files`` (0, 1, ...)."""
    stems = [Path(f).stem for f in files]
    if stems and all(s.isdigit() for s in stems):
        ids = [int(s) for s in stems]
        if len(set(ids)) == len(ids):
            return ids
    return list(range(len(files)))


T = TypeVar("T")


def in_background(items: Iterable[T], ahead: int = 8) -> Iterator[T]:
    """The items of ``items``, produced by a background thread up to ``ahead`` in advance
    (image decoding releases the GIL, so it overlaps the network's forward pass). An exception
    in the producer is raised here, in order."""
    buffer: "queue.Queue" = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put((False, err))
        put((True, done))

    thread = threading.Thread(target=work, name="heatpose-reader", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()


def read_images(files: Sequence[Path]
                ) -> Iterator[Tuple[int, Path, Optional[np.ndarray], Optional[str]]]:
    """``(index, path, image, None)``, or ``(index, path, None, why)`` for a file that cannot
    be read, per file in order."""
    from heatpose.data.images import read_image

    for i, f in enumerate(files):
        try:
            yield i, f, read_image(f), None
        except HeatposeError as err:
            yield i, f, None, str(err)
        except Exception as err:  # noqa: BLE001 - a reader crash is one skipped file
            yield i, f, None, f"{f}: cannot read image ({type(err).__name__}: {err})"


class VideoReader:
    """Frames of a video file as BGR uint8 arrays; ``fps`` and ``size`` (w, h) as stored.

    Iterating yields ``(frame_index, frame)``; a frame OpenCV cannot decode is skipped and its
    index added to ``bad_frames`` (reading goes on where the decoder recovers; after
    ``MAX_BAD_FRAMES`` failures in a row, or past the stored frame count, the video ends)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: video file not found")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise InputError(f"{self.path}: cannot open video (corrupt or unsupported codec)")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.num_frames = max(int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self.bad_frames: List[int] = []

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray]]:
        index, run = 0, 0
        try:
            while True:
                ok, frame = self.cap.read()
                if ok and frame is not None:
                    run = 0
                    yield index, frame
                    index += 1
                    continue
                if not self.num_frames or index >= self.num_frames:
                    return                              # the end
                self.bad_frames.append(index)
                index, run = index + 1, run + 1
                if run >= MAX_BAD_FRAMES:               # a damaged tail: the rest is lost
                    self.bad_frames.extend(range(index, self.num_frames))
                    return
        finally:
            self.cap.release()

    def chunks(self, n: int) -> Iterator[List[Tuple[int, np.ndarray]]]:
        """``(index, frame)`` pairs in lists of up to ``n`` (boxes of several frames share a
        forward pass)."""
        return chunked(self, n)


def chunked(items: Iterable[T], n: int) -> Iterator[List[T]]:
    """The items in lists of ``n`` (the last one shorter), as they come."""
    chunk: List[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def describe_frames(indices: Sequence[int]) -> str:
    """``3, 7-12, 40`` for a sorted list of frame indices."""
    parts, start = [], None
    for j, i in enumerate(indices):
        if start is None:
            start = i
        if j + 1 == len(indices) or indices[j + 1] != i + 1:
            parts.append(str(start) if start == i else f"{start}-{i}")
            start = None
    return ", ".join(parts)


class VideoWriter:
    """Writes BGR frames to an .mp4 file, opened on the first frame: H.264 through PyAV when
    it is installed, else OpenCV's 'avc1' when its FFmpeg has an H.264 encoder, else 'mp4v'
    (MPEG-4 Part 2, which browsers do not play). ``codec`` names the choice once opened.

    Frames go to ``<name>.part.mp4`` and the file is renamed into place by :meth:`close`, so
    an interrupted run never leaves a truncated video under the final name."""

    def __init__(self, path: Path, fps: float, codec: Optional[str] = None) -> None:
        self.path, self.fps = Path(path), float(fps)
        self.tmp = self.path.with_name(self.path.stem + ".part" + self.path.suffix)
        self.requested = codec
        self.codec: Optional[str] = None
        self._cv = None
        self._av = None

    def _open(self, w: int, h: int) -> None:
        for name in ([self.requested] if self.requested else ["pyav-h264", "avc1", "mp4v"]):
            if name == "pyav-h264" and self._open_av(w, h):
                break
            if name != "pyav-h264" and self._open_cv(name, w, h):
                break
        else:
            raise InputError(f"{self.path}: cannot open a video writer "
                             f"({self.requested or 'H.264 or mp4v'})")
        self.codec = name

    def _open_av(self, w: int, h: int) -> bool:
        try:
            import av  # type: ignore[import-not-found]
        except ImportError:
            return False
        try:
            from fractions import Fraction

            container = av.open(str(self.tmp), mode="w")
            stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(
                1001))
            stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        except Exception:  # noqa: BLE001 - no H.264 encoder in this PyAV build
            return False
        self._av = (container, stream)
        return True

    def _open_cv(self, fourcc: str, w: int, h: int) -> bool:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc), self.fps,
                                     (w, h))
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not writer.isOpened():
            return False
        self._cv = writer
        return True

    def write(self, frame: np.ndarray) -> None:
        if self.codec is None:
            self._open(frame.shape[1], frame.shape[0])
        if self._av is not None:
            import av  # type: ignore[import-not-found]

            container, stream = self._av
            frame = frame[:stream.height, :stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame), format="bgr24")):
                container.mux(packet)
        else:
            self._cv.write(frame)

    def close(self) -> Optional[Path]:
        """Finish the file; returns its path (None when no frame was written)."""
        if self._av is not None:
            container, stream = self._av
            for packet in stream.encode():
                container.mux(packet)
            container.close()
            self._av = None
        elif self._cv is not None:
            self._cv.release()
            self._cv = None
        else:
            return None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._cv is not None:
            self._cv.release()
        if self._av is not None:
            try:
                self._av[0].close()
            except Exception:  # noqa: BLE001
                pass
        self._cv = self._av = None
        self.tmp.unlink(missing_ok=True)
