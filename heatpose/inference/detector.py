"""Person boxes for top-down pose estimation: a YOLOX ONNX detector, COCO detection files,
or the whole image.

All boxes are ``(N, 4)`` float32 ``x1, y1, x2, y2`` in image pixels; scores ``(N,)`` float32.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from heatpose.errors import HeatposeError, InputError, UnknownModelError
from heatpose.inference.pipeline import DET_SCORE_THR

__all__ = ["DEFAULT_YOLOX_NANO_URL", "YOLOXDetector", "letterbox", "unletterbox_boxes",
           "decode_yolox_outputs", "nms", "batched_nms", "boxes_from_coco_detections",
           "load_coco_detections", "read_detection_file", "DetectionFile", "whole_image_box"]

# Megvii's official YOLOX-nano export (COCO, 416x416, raw head outputs, BGR 0-255 input).
DEFAULT_YOLOX_NANO_URL = \
    "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"
# (url, sha256 prefix or None). The release file's hash could not be fetched and checked here,
# so none is enforced: a wrong prefix would make the default detector impossible to download.
_PRETRAINED = {"yolox-nano": (DEFAULT_YOLOX_NANO_URL, None)}
PAD_VALUE = 114
Detections = Tuple[np.ndarray, np.ndarray]


def letterbox(image: np.ndarray, input_size: Tuple[int, int]) -> Tuple[np.ndarray, float]:
    """YOLOX's preprocessing: resize by ``r = min(H_in / h, W_in / w)`` (bilinear), place the
    result at the top-left of an ``input_size`` (H, W) canvas filled with 114.

    Returns the (H_in, W_in, 3) uint8 canvas and ``r``; a point (x, y) of the image lands at
    (x * r, y * r) on the canvas."""
    in_h, in_w = int(input_size[0]), int(input_size[1])
    h, w = image.shape[:2]
    ratio = min(in_h / h, in_w / w)
    new_w, new_h = max(int(w * ratio), 1), max(int(h * ratio), 1)   # 1 px for a sliver
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(resized, 0, in_h - new_h, 0, in_w - new_w, cv2.BORDER_CONSTANT,
                                value=(PAD_VALUE,) * 3)
    return canvas, ratio


def unletterbox_boxes(boxes: np.ndarray, ratio: float, image_shape: Sequence[int]) -> np.ndarray:
    """Boxes (N, 4) xyxy in letterboxed-canvas pixels -> image pixels, clipped to the image
    of shape (h, w, ...)."""
    out = np.asarray(boxes, dtype=np.float32) / np.float32(ratio)
    h, w = image_shape[:2]
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out


def _grid_and_strides(input_size: Tuple[int, int], strides: Sequence[int]
                      ) -> Tuple[np.ndarray, np.ndarray]:
    cells, steps = [], []
    for stride in strides:
        gh, gw = input_size[0] // stride, input_size[1] // stride
        ys, xs = np.mgrid[0:gh, 0:gw]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full((gh * gw, 1), stride))
    return (np.concatenate(cells).astype(np.float32),
            np.concatenate(steps).astype(np.float32))


def decode_yolox_outputs(raw: np.ndarray, input_size: Tuple[int, int],
                         strides: Sequence[int] = (8, 16, 32)) -> np.ndarray:
    """Raw YOLOX head outputs (B, A, 5 + C) -> the same with (cx, cy, w, h) in canvas pixels:
    ``cxcy = (offset + cell) * stride`` and ``wh = exp(log_wh) * stride``, anchors ordered
    stride by stride, row-major within each stride."""
    grid, stride = _grid_and_strides(input_size, strides)
    if raw.shape[1] != len(grid):
        raise HeatposeError(f"YOLOX output has {raw.shape[1]} anchors; input {input_size} with "
                            f"strides {tuple(strides)} gives {len(grid)}")
    out = np.array(raw, dtype=np.float32, copy=True)
    out[..., :2] = (out[..., :2] + grid) * stride
    out[..., 2:4] = np.exp(out[..., 2:4]) * stride
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy non-maximum suppression. Boxes (N, 4) xyxy, scores (N,); returns the kept
    indices, best score first. A box is dropped when its IoU with a kept one is > ``iou_thr``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = iw * ih
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                iou_thr: float) -> np.ndarray:
    """Class-aware NMS: boxes only suppress boxes of the same label. Returns kept indices
    sorted by descending score."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # shift each class to its own region so that boxes of different classes never overlap
    span = boxes.max() - min(boxes.min(), 0.0) + 1.0
    shifted = boxes + (np.asarray(labels, dtype=np.float64) * span)[:, None]
    return nms(shifted, scores, iou_thr)


class YOLOXDetector:
    """A YOLOX detector exported to ONNX, run with onnxruntime (``pip install heatpose[detector]``).

    Input: BGR uint8 images (H, W, 3) as OpenCV reads them, fed to the network unnormalised
    (0-255) after :func:`letterbox`, as Megvii's official ONNX export expects.

    Args:
        model_path: the .onnx file (see :meth:`from_pretrained` for the released model).
        input_size: network input (H, W); a model with a fixed input shape must agree.
        score_thr: keep detections with ``objectness * class score > score_thr``.
        nms_thr: IoU above which NMS drops the lower-scored box of the same class.
        device: 'cpu' or 'cuda' (CUDA needs onnxruntime-gpu).
        classes: COCO class indices to keep (0 = person); None keeps all 80.
        decoded: whether the export decodes boxes inside the graph; None detects it.
        threads: ONNX Runtime intra-op threads (None: its default, one per core; 1 when the
            detector runs beside the pose network, as ``heatpose infer`` does).
    """

    def __init__(self, model_path: Union[str, Path], input_size: Tuple[int, int] = (416, 416),
                 score_thr: float = DET_SCORE_THR, nms_thr: float = 0.45, device: str = "cpu",
                 classes: Optional[Sequence[int]] = (0,), decoded: Optional[bool] = None,
                 threads: Optional[int] = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise HeatposeError("the YOLOX detector needs onnxruntime: "
                                "pip install heatpose[detector]") from err
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise InputError(f"detector model {self.model_path} does not exist")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise HeatposeError("device='cuda' needs onnxruntime-gpu "
                                    "(pip install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise InputError(f"cannot load the ONNX model {self.model_path}: {err}") from err
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        fixed = [d if isinstance(d, int) else None for d in inp.shape]
        if len(fixed) != 4:
            raise InputError(f"{self.model_path}: expected a (B, 3, H, W) input, got {inp.shape}")
        if fixed[2] and fixed[3] and (fixed[2], fixed[3]) != tuple(input_size):
            raise InputError(f"{self.model_path} takes {fixed[2]}x{fixed[3]} inputs, "
                             f"not input_size={tuple(input_size)}")
        self.fixed_batch = fixed[0]
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.score_thr, self.nms_thr = float(score_thr), float(nms_thr)
        self.classes = None if classes is None else np.asarray(list(classes), dtype=np.int64)
        self.decoded = decoded
        self.strides = (8, 16, 32)

    @classmethod
    def from_pretrained(cls, name: str = "yolox-nano", **kwargs) -> "YOLOXDetector":
        """The released model ``name`` ('yolox-nano'), downloaded into the heatpose cache on
        first use (see :func:`heatpose.inference.download.download`)."""
        from heatpose.inference.download import download
        if name not in _PRETRAINED:
            raise UnknownModelError(f"unknown detector {name!r}; known: {sorted(_PRETRAINED)}")
        url, sha = _PRETRAINED[name]
        return cls(download(url, expected_sha256_prefix=sha), **kwargs)

    # ------------------------------------------------------------------ inference
    def __call__(self, images: Union[np.ndarray, Sequence[np.ndarray]]
                 ) -> Union[Detections, List[Detections]]:
        """One BGR uint8 image -> (boxes (N, 4) xyxy float32 px, scores (N,) float32), best
        first; a list of images -> a list of such pairs."""
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            return [(b, s) for b, s, _ in self.detect([images])][0]
        return [(b, s) for b, s, _ in self.detect(list(images))]

    def detect(self, images: Sequence[np.ndarray]) -> List[Tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]]:
        """Per image: (boxes (N, 4), scores (N,), COCO class indices (N,) int64)."""
        canvases, ratios, shapes = [], [], []
        for i, image in enumerate(images):
            image = _as_bgr(image, f"image {i}")
            canvas, ratio = letterbox(image, self.input_size)
            canvases.append(canvas.transpose(2, 0, 1)[None].astype(np.float32, order="C"))
            ratios.append(ratio)
            shapes.append(image.shape)
        if not canvases:
            return []
        step = self.fixed_batch or len(canvases)
        raw = np.concatenate([
            self.session.run(None, {self.input_name: canvases[i] if step == 1 else
                                    np.concatenate(canvases[i:i + step])})[0]
            for i in range(0, len(canvases), step)])
        preds = self._decode(raw)
        return [self._postprocess(p, r, s) for p, r, s in zip(preds, ratios, shapes)]

    def _decode(self, raw: np.ndarray) -> np.ndarray:
        if raw.ndim != 3 or raw.shape[2] < 6:
            raise HeatposeError(f"{self.model_path}: unexpected YOLOX output shape {raw.shape}")
        if self.decoded is None:
            grid, _ = _grid_and_strides(self.input_size, self.strides)
            if raw.shape[1] != len(grid):       # maybe a P6 model (strides up to 64)
                self.strides = (8, 16, 32, 64)
            # raw offsets stay near [0, 1]; decoded centres spread over the whole canvas
            self.decoded = bool(np.abs(raw[..., :2]).max() > min(self.input_size) / 4)
        return raw.astype(np.float32) if self.decoded else \
            decode_yolox_outputs(raw, self.input_size, self.strides)

    def _postprocess(self, pred: np.ndarray, ratio: float, shape: Tuple[int, ...]
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        cls_scores = pred[:, 5:] * pred[:, 4:5]
        if self.classes is not None:
            cls_ids = self.classes
            cls_scores = cls_scores[:, cls_ids]
        else:
            cls_ids = np.arange(cls_scores.shape[1])
        anchor, col = np.nonzero(cls_scores > self.score_thr)
        scores = cls_scores[anchor, col]
        labels = cls_ids[col]
        cxcywh = pred[anchor, :4]
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2,
                                cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        keep = batched_nms(boxes, scores, labels, self.nms_thr)
        boxes = unletterbox_boxes(boxes[keep], ratio, shape)
        return boxes, scores[keep].astype(np.float32), labels[keep].astype(np.int64)


def _as_bgr(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InputError(f"{what}: expected a uint8 BGR image, got dtype {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
        raise InputError(f"{what}: expected an (H, W, 3) BGR image, got shape {image.shape}")
    return image


# ---------------------------------------------------------------------- other box sources
def whole_image_box(image: np.ndarray) -> np.ndarray:
    """The box covering the whole image: (1, 4) float32 ``[[0, 0, w, h]]``."""
    h, w = np.asarray(image).shape[:2]
    return np.array([[0.0, 0.0, w, h]], dtype=np.float32)


@dataclass(frozen=True)
class DetectionFile:
    """The person detections of a COCO detection-result file, in file order.

    ``image_ids`` (M,) int64; ``boxes`` (M, 4) float32 xyxy px; ``scores`` (M,) float32;
    ``records`` (M,) int64 each detection's index in the file's list and ``xywh`` (M, 4) its
    box as written, for messages that point at the record."""

    path: str
    image_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    records: np.ndarray
    xywh: np.ndarray

    def __len__(self) -> int:
        return len(self.records)

    def describe(self, j: int) -> str:
        """``record 17 (image_id 785, bbox [x, y, w, h], score 0.93)`` for row ``j``."""
        box = ", ".join(f"{v:g}" for v in self.xywh[j])
        return (f"record {int(self.records[j])} (image_id {int(self.image_ids[j])}, "
                f"bbox [{box}], score {float(self.scores[j]):g})")

    def rows_of(self, image_id: int, score_thr: float = 0.0) -> np.ndarray:
        """Rows of ``image_id`` with ``score >= score_thr``, in file order."""
        return np.flatnonzero((self.image_ids == int(image_id)) & (self.scores >= score_thr))

    def check_ids(self, image_ids: Sequence[int], inputs: str) -> None:
        """InputError when no detection belongs to any of ``image_ids`` (a file for other
        images, or inputs whose names carry no COCO id)."""
        if len(self) and not np.isin(self.image_ids, np.asarray(list(image_ids))).any():
            some = ", ".join(str(int(i)) for i in np.unique(self.image_ids)[:3])
            raise InputError(f"{self.path}: none of its {len(self)} detections belongs to "
                             f"{inputs} (the file's image_ids, e.g. {some}, are matched to "
                             "the numbers image file names are, e.g. 000000000785.jpg)")


def _finite(values: Sequence[float]) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float64))))


@functools.lru_cache(maxsize=4)
def _read_detection_file(path: str, mtime: float, category_id: Optional[int]) -> DetectionFile:
    try:
        with open(path, encoding="utf-8") as fh:
            records = json.load(fh)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the detection file {path}: {err}") from err
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON list of COCO detection results")
    ids, xywh, scores, index = [], [], [], []
    for i, rec in enumerate(records):
        try:
            if category_id is not None and int(rec.get("category_id", 1)) != category_id:
                continue
            box = [float(v) for v in rec["bbox"]]
            image_id, score = int(rec["image_id"]), float(rec["score"])
            if len(box) != 4:
                raise ValueError(f"bbox has {len(box)} numbers")
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise InputError(f"{path}: record {i} is not a COCO detection "
                             f"(needs image_id, bbox [x, y, w, h], score): {err!r}") from err
        if not _finite(box + [score]):
            raise InputError(f"{path}: record {i} (image_id {image_id}) has a non-finite "
                             f"bbox {box} or score {score}")
        if box[2] < 0 or box[3] < 0:
            raise InputError(f"{path}: record {i} (image_id {image_id}) bbox {box} has a "
                             "negative size (COCO boxes are [x, y, w, h] with w, h >= 0)")
        ids.append(image_id), xywh.append(box), scores.append(score), index.append(i)
    if records and not ids:
        raise InputError(f"{path}: none of its {len(records)} records has category_id "
                         f"{category_id} (person): not a person detection file?")
    xywh_arr = np.asarray(xywh, np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh_arr[:, :2], xywh_arr[:, :2] + xywh_arr[:, 2:]], axis=1)
    return DetectionFile(path, np.asarray(ids, np.int64), xyxy.astype(np.float32),
                         np.asarray(scores, np.float32), np.asarray(index, np.int64), xywh_arr)


def read_detection_file(path: Union[str, Path], category_id: Optional[int] = 1
                        ) -> DetectionFile:
    """Read and check a COCO detection-result JSON (``[{image_id, category_id, bbox: [x, y,
    w, h], score}, ...]``; cached per file): a record without those fields, with a NaN/Inf
    number or an empty box is an InputError naming the file and the record."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"detection file {path} does not exist")
    return _read_detection_file(str(path.resolve()), path.stat().st_mtime, category_id)


def load_coco_detections(path: Union[str, Path], category_id: Optional[int] = 1
                         ) -> Dict[int, Detections]:
    """:func:`read_detection_file` as ``{image_id: (boxes (N, 4) xyxy, scores (N,))}``."""
    det = read_detection_file(path, category_id)
    return {int(k): (det.boxes[det.image_ids == k], det.scores[det.image_ids == k])
            for k in np.unique(det.image_ids)}


def _image_id(image_id_or_file: Union[int, str, Path]) -> int:
    if isinstance(image_id_or_file, (int, np.integer)):
        return int(image_id_or_file)
    stem = Path(str(image_id_or_file)).stem
    match = re.search(r"(\d+)$", stem)
    if not match:
        raise InputError(f"cannot tell a COCO image id from {image_id_or_file!r} "
                         "(expected e.g. 000000000785.jpg or 785)")
    return int(match.group(1))


def boxes_from_coco_detections(path: Union[str, Path], image_id_or_file: Union[int, str, Path],
                               score_thr: float = 0.0, category_id: Optional[int] = 1
                               ) -> Detections:
    """Boxes of one image from a COCO detection-result file (MMPose's
    ``COCO_val2017_detections_AP_H_56_person.json`` form).

    ``image_id_or_file`` is the COCO image id or a file name such as ``000000000785.jpg``.
    Returns (boxes (N, 4) xyxy float32 px, scores (N,)) with ``score >= score_thr`` (MMPose's
    ``bbox_score_thr`` rule), best first; empty arrays when the image has no boxes."""
    boxes, scores = load_coco_detections(path, category_id).get(
        _image_id(image_id_or_file), (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))
    keep = scores >= score_thr
    order = np.argsort(-scores[keep], kind="stable")
    return boxes[keep][order].copy(), scores[keep][order].copy()
