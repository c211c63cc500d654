"""Inputs and outputs of ``heatpose infer``: image files, folders, globs and videos."""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterator, List

import cv2
import numpy as np

from heatpose.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def expand_images(spec: str) -> List[Path]:
    """Image files named by ``spec``: one file, a folder (sorted, not recursive) or a glob."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{spec}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
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


class VideoReader:
    """Frames of a video file as BGR uint8 arrays; ``fps`` and ``size`` (w, h) as stored."""

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
        self.num_frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self.cap.read()
                if not ok:
                    return
                yield frame
        finally:
            self.cap.release()

    def chunks(self, n: int) -> Iterator[List[np.ndarray]]:
        """Frames in lists of up to ``n`` (so boxes of several frames share a forward pass)."""
        chunk: List[np.ndarray] = []
        for frame in self:
            chunk.append(frame)
            if len(chunk) == n:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class VideoWriter:
    """Writes BGR frames to an .mp4 (mp4v) file; opened on the first frame."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = Path(path), fps, None

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                          self.fps, (w, h))
            if not self.writer.isOpened():
                raise InputError(f"{self.path}: cannot open a video writer")
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def image_id_of(path: Path, index: int) -> int:
    """COCO-style id from a file name like 000000000785.jpg, else the index in the set."""
    stem = path.stem
    return int(stem) if stem.isdigit() else index
