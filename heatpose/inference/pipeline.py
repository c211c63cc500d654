"""Detector + pose model: ``Pipeline(model=..., detector=...)(image)`` -> the people found.

    >>> from heatpose import Pipeline
    >>> pipe = Pipeline(model="td-hm_res50_8xb64-210e_coco-256x192", detector="yolox-nano")
    >>> people = pipe("photo.jpg")
    >>> people.keypoints.shape        # (N, 17, 2) image pixels
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.data.images import read_image, validate_image
from heatpose.errors import HeatposeError
from heatpose.models.estimator import TopdownEstimator, validate_bboxes

DEFAULT_MODEL = "td-hm_res50_8xb64-210e_coco-256x192"
DEFAULT_DETECTOR = "yolox-nano"

ImageLike = Union[np.ndarray, str, Path]
BoxSource = Callable[[np.ndarray, int], Tuple[np.ndarray, np.ndarray]]


@dataclass
class People:
    """The people of one image. boxes (N, 4) xyxy px; box_scores (N,); keypoints (N, K, 2)
    image px (x, y); scores (N, K); visibility (N, K) for visibility-head models, else None."""

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    visibility: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None
    centers: Optional[np.ndarray] = None      # (N, 2) crop window centres, image px
    scales: Optional[np.ndarray] = None       # (N, 2) crop window (w, h), image px

    def __len__(self) -> int:
        return len(self.boxes)

    def to_records(self, image_id: Any = None, rescore: bool = True) -> List[dict]:
        """COCO keypoint-result records (``keypoints`` as [x, y, score] * K; ``score`` = box
        score x mean of keypoint scores above 0.2, MMPose's rescoring)."""
        out = []
        for i in range(len(self)):
            kpt = np.concatenate([self.keypoints[i], self.scores[i][:, None]], axis=1)
            valid = self.scores[i][self.scores[i] > 0.2]
            score = float(self.box_scores[i]) * (float(valid.mean()) if rescore and valid.size
                                                 else 1.0)
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            rec = {"category_id": 1, "keypoints": [round(float(v), 3) for v in kpt.ravel()],
                   "score": score, "bbox": [x1, y1, x2 - x1, y2 - y1]}
            if image_id is not None:
                rec["image_id"] = image_id
            if self.visibility is not None:
                rec["keypoints_visible"] = [round(float(v), 4) for v in self.visibility[i]]
            out.append(rec)
        return out


def _make_detector(detector: Any, detector_model: Optional[str], device: str,
                   score_thr: float) -> Optional[BoxSource]:
    if detector is None or detector in ("whole-image", "whole_image"):
        return None
    if callable(detector):
        return lambda image, index: detector(image)
    from heatpose.inference.detector import YOLOXDetector

    if detector_model is not None:
        det = YOLOXDetector(detector_model, device=device, score_thr=score_thr)
    elif detector == DEFAULT_DETECTOR:
        det = YOLOXDetector.from_pretrained(detector, device=device, score_thr=score_thr)
    else:
        raise HeatposeError(f"unknown detector {detector!r}: use 'yolox-nano', 'whole-image', "
                            "a callable image -> (boxes, scores), or detector_model=FILE.onnx")
    return lambda image, index: det(image)


def _load_pose_model(name: Optional[str], checkpoint: Optional[Union[str, Path]],
                     device: str) -> TopdownEstimator:
    from heatpose.models.build import build_model, is_self_describing, model_from_checkpoint

    if name is None and checkpoint is not None:
        from heatpose.models.checkpoints import read_checkpoint

        state, meta = read_checkpoint(checkpoint)
        if is_self_describing(meta):
            return model_from_checkpoint(state, meta, checkpoint, device)
    return build_model(name or DEFAULT_MODEL, checkpoint=checkpoint,
                       pretrained=checkpoint is None, device=device)


class Pipeline:
    """Person detection + top-down pose estimation, batched across boxes and frames.

    Args:
        model: a zoo name or a built :class:`TopdownEstimator`; None = the model a heatpose
            ``checkpoint`` describes, else the default zoo model.
        detector: 'yolox-nano' (default, ONNX via onnxruntime), 'whole-image' / None (one box
            covering each image), or a callable ``image -> (boxes (N, 4) xyxy, scores (N,))``.
        checkpoint: weights for ``model`` (a file); otherwise the zoo checkpoint is downloaded.
        detector_model: a local YOLOX .onnx file instead of the downloaded one.
        det_score_thr: detector score threshold.
        batch_size: crops per forward pass (x2 with flip test); default: 8 on CPU, 64 on GPU.
    """

    def __init__(self, model: Union[str, TopdownEstimator, None] = None,
                 detector: Any = DEFAULT_DETECTOR, checkpoint: Optional[Union[str, Path]] = None,
                 device: str = "cpu", detector_model: Optional[Union[str, Path]] = None,
                 det_score_thr: float = 0.3, batch_size: Optional[int] = None,
                 flip_test: Optional[bool] = None) -> None:
        if model is None or isinstance(model, str):
            model = _load_pose_model(model, checkpoint, device)
        self.model = model.eval()
        self.detect = _make_detector(detector, None if detector_model is None
                                     else str(detector_model), device, det_score_thr)
        self.batch_size = batch_size
        self.flip_test = flip_test

    def boxes(self, image: np.ndarray, index: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Person boxes (N, 4) xyxy and scores (N,) for one BGR image."""
        if self.detect is None:
            h, w = image.shape[:2]
            return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        boxes, scores = self.detect(image, index)
        return validate_bboxes(boxes, source="detector boxes"), np.asarray(scores, np.float32)

    def __call__(self, images: Union[ImageLike, Sequence[ImageLike]],
                 bboxes: Optional[Sequence[Any]] = None,
                 box_scores: Optional[Sequence[Any]] = None,
                 return_heatmaps: bool = False) -> Union[People, List[People]]:
        """One image (array or path) -> People; a list of images (or video frames) -> a list.

        ``bboxes``: optional per-image boxes (skips the detector), with optional
        ``box_scores`` (default 1). Boxes of all images go
        through the network together, ``batch_size`` crops at a time."""
        single = isinstance(images, (str, Path)) or (isinstance(images, np.ndarray)
                                                     and images.ndim in (2, 3))
        batch = [images] if single else list(images)
        if bboxes is not None and single:
            bboxes = [bboxes]
            box_scores = None if box_scores is None else [box_scores]
        crops, centers, scales, boxes, all_scores, counts = [], [], [], [], [], []
        for i, image in enumerate(batch):
            image = read_image(image) if isinstance(image, (str, Path)) else \
                validate_image(image, f"image {i}")
            if bboxes is None:
                b, s = self.boxes(image, i)
            else:
                b = validate_bboxes(bboxes[i], image.shape[:2], source=f"bboxes[{i}]")
                s = np.ones(len(b), np.float32) if box_scores is None else \
                    np.asarray(box_scores[i], np.float32).reshape(len(b))
            if len(b):
                c, ctr, scl = self.model.crop_inputs(image, b)
                crops.append(c), centers.append(ctr), scales.append(scl)
            boxes.append(b), all_scores.append(s), counts.append(len(b))
        w, h = self.model.input_size
        result = self.model.predict_crops(
            np.concatenate(crops) if crops else np.zeros((0, h, w, 3), np.uint8),
            np.concatenate(centers) if centers else np.zeros((0, 2), np.float32),
            np.concatenate(scales) if scales else np.zeros((0, 2), np.float32),
            np.concatenate(boxes), flip_test=self.flip_test, batch_size=self.batch_size,
            return_heatmaps=return_heatmaps)
        people, start = [], 0
        for b, s, n in zip(boxes, all_scores, counts):
            sl = slice(start, start + n)
            start += n
            people.append(People(b, s, result.keypoints[sl], result.scores[sl],
                                 None if result.visibility is None else result.visibility[sl],
                                 None if result.heatmaps is None else result.heatmaps[sl],
                                 result.centers[sl], result.scales[sl]))
        return people[0] if single else people
