"""Detector + pose model: ``Pipeline(model=..., detector=...)(image)`` -> the people found.

    >>> from heatpose import Pipeline
    >>> pipe = Pipeline(model="td-hm_res50_8xb64-210e_coco-256x192", detector="yolox-nano")
    >>> people = pipe("photo.jpg")
    >>> people.keypoints.shape        # (N, 17, 2) image pixels
    >>> people.save("photo_pose.jpg")  # the drawing (or people.save("photo.json"): COCO results)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.device import DEFAULT_DEVICE
from heatpose.errors import HeatposeError, InputError

if TYPE_CHECKING:                      # torch and OpenCV are imported when a Pipeline is built
    from heatpose.models.estimator import TopdownEstimator

DEFAULT_MODEL = "td-hm_res50_8xb64-210e_coco-256x192"
DEFAULT_DETECTOR = "yolox-nano"
# MMPose's CocoMetric: instance score = box score x mean of the keypoint scores above this
KEYPOINT_SCORE_THR = 0.2
# ... then OKS-NMS per image at this threshold (what `heatpose test` scores)
OKS_NMS_THR = 0.9
DET_SCORE_THR = 0.3          # person detector boxes kept above this score
DRAW_KPT_THR = 0.3           # keypoints drawn above this score

NON_FINITE = ("the model gave non-finite keypoints or scores (NaN/Inf); its weights are "
              "probably broken (a diverged training run?)")

ImageLike = Union[np.ndarray, str, Path]
BoxSource = Callable[[np.ndarray, int], Tuple[np.ndarray, np.ndarray]]


@dataclass
class People:
    """The people of one image. boxes (N, 4) xyxy px; box_scores (N,); keypoints (N, K, 2)
    image px (x, y); scores (N, K); visibility (N, K) for visibility-head models, else None.

    ``image`` (the BGR image) and ``schema`` (the model's keypoint schema) let the result
    draw and save itself; ``track_ids`` (N,) are set by tracking; ``source`` is the image
    file's path when the pipeline read it from one."""

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    visibility: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None
    centers: Optional[np.ndarray] = None      # (N, 2) crop window centres, image px
    scales: Optional[np.ndarray] = None       # (N, 2) crop window (w, h), image px
    image: Optional[np.ndarray] = None
    schema: Any = None
    track_ids: Optional[np.ndarray] = None
    source: Optional[str] = None

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def finite(self) -> bool:
        """Whether every keypoint, keypoint score and visibility is finite (a model with
        broken weights gives NaN)."""
        return bool(np.isfinite(self.keypoints).all() and np.isfinite(self.scores).all()
                    and (self.visibility is None or np.isfinite(self.visibility).all()))

    def select(self, index: Any) -> "People":
        """The people at ``index`` (indices or a boolean mask), in that order."""
        def pick(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
            return None if a is None else np.asarray(a)[index]
        return replace(self, boxes=pick(self.boxes), box_scores=pick(self.box_scores),
                       keypoints=pick(self.keypoints), scores=pick(self.scores),
                       visibility=pick(self.visibility), heatmaps=pick(self.heatmaps),
                       centers=pick(self.centers), scales=pick(self.scales),
                       track_ids=pick(self.track_ids))

    @property
    def instance_scores(self) -> np.ndarray:
        """(N,) float32 person scores, MMPose's CocoMetric rescoring: box score x mean of the
        keypoint scores above 0.2 (0 when none is)."""
        from heatpose.evaluation.topdown import rescore

        box = np.asarray(self.box_scores, np.float32)
        kpt = np.asarray(self.scores, np.float32)
        return np.array([rescore(kpt[i], box[i], "bbox_keypoint", KEYPOINT_SCORE_THR)
                         for i in range(len(self))], np.float32).reshape(len(self))

    def suppress_duplicates(self, thr: float = OKS_NMS_THR,
                            sigmas: Optional[Sequence[float]] = None) -> "People":
        """OKS non-maximum suppression as MMPose's CocoMetric (and ``heatpose test``) applies
        it: the people left, best instance score first. ``sigmas``: OKS sigmas (default: the
        schema's); without sigmas nothing is suppressed."""
        from heatpose.evaluation.nms import oks_nms

        sigmas = sigmas if sigmas is not None else getattr(self.schema, "sigmas", None)
        if not len(self) or not sigmas or self.scales is None:
            return self
        if not self.finite:
            raise HeatposeError(NON_FINITE)
        kpts = np.concatenate([self.keypoints, self.scores[..., None]], axis=2)
        areas = np.prod(np.asarray(self.scales, np.float32), axis=1)
        scores = list(self.instance_scores)            # numpy float32 scalars, as MMPose
        return self.select(oks_nms(kpts.astype(np.float32), np.array(scores), areas, thr,
                                   np.asarray(sigmas, np.float32)))

    def to_records(self, image_id: Any = None, file_name: Optional[str] = None,
                   frame: Optional[int] = None) -> List[dict]:
        """COCO keypoint results, one per person: ``image_id``, ``category_id``, ``keypoints``
        ([x, y, score] * K), ``score`` (:attr:`instance_scores`), ``bbox`` [x, y, w, h],
        ``bbox_score``, and when given ``file_name``, ``frame``, ``track_id``,
        ``keypoints_visible``."""
        kpts = np.concatenate([np.asarray(self.keypoints, np.float32),
                               np.asarray(self.scores, np.float32)[..., None]], axis=2)
        inst = self.instance_scores
        out = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            rec: dict = {}
            if image_id is not None:
                rec["image_id"] = image_id
            rec.update({"category_id": 1, "keypoints": kpts[i].reshape(-1).tolist(),
                        "score": float(inst[i]), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "bbox_score": float(self.box_scores[i])})
            if file_name is not None:
                rec["file_name"] = file_name
            if frame is not None:
                rec["frame"] = int(frame)
            if self.track_ids is not None:
                rec["track_id"] = int(self.track_ids[i])
            if self.visibility is not None:
                rec["keypoints_visible"] = [round(float(v), 4) for v in self.visibility[i]]
            out.append(rec)
        return out

    def draw(self, image: Optional[np.ndarray] = None, kpt_thr: float = DRAW_KPT_THR,
             radius: Optional[int] = None, thickness: Optional[int] = None,
             show_boxes: bool = True, show_box_scores: bool = False,
             show_heatmaps: bool = False) -> np.ndarray:
        """The image (default: the one these people were found in) with skeletons drawn;
        see :func:`heatpose.inference.draw.draw_poses` for the options."""
        from heatpose.inference.draw import draw_poses, overlay_heatmaps

        canvas = self.image if image is None else image
        if canvas is None or self.schema is None:
            raise HeatposeError("People.draw needs the image (pass image=) and the model's "
                                "keypoint schema (set by Pipeline)")
        if show_heatmaps and self.heatmaps is not None and self.centers is not None:
            for hm, center, scale in zip(self.heatmaps, self.centers, self.scales):
                canvas = overlay_heatmaps(canvas, hm, center=center, scale=scale)
        return draw_poses(canvas, self.keypoints, self.scores, self.schema, kpt_thr=kpt_thr,
                          boxes=self.boxes if show_boxes else None, radius=radius,
                          thickness=thickness,
                          box_scores=self.box_scores if show_boxes and show_box_scores
                          else None)

    def save(self, path: Union[str, Path], image_id: Any = None, **draw_options: Any) -> Path:
        """Write the drawing (``.jpg``, ``.png``, ...) or the COCO results (``.json``) to
        ``path`` (atomically: a temporary file renamed into place). Returns the path.

        The results carry ``image_id`` (default: the number a COCO file name is, as
        ``heatpose infer`` assigns it, else 0) and the image's ``file_name`` when the pipeline
        read it from a file, so that ``heatpose eval`` takes the file as it is."""
        from heatpose.inference.outputs import write_image, write_json

        path = Path(path)
        if path.suffix.lower() == ".json":
            if image_id is None:
                from heatpose.inference.media import assign_image_ids

                image_id = assign_image_ids([Path(self.source)])[0] if self.source else 0
            write_json(path, self.to_records(
                image_id, file_name=Path(self.source).name if self.source else None))
        else:
            write_image(path, self.draw(**draw_options))
        return path


class NonFiniteOutput(HeatposeError):
    """The model gave NaN/Inf keypoints or scores for some images of a call: ``people`` holds
    every image's People as computed (duplicates not suppressed in the bad ones), ``bad``
    the indices of the images whose people are not :attr:`People.finite`."""

    def __init__(self, people: List[People], bad: List[int]) -> None:
        super().__init__(NON_FINITE)
        self.people, self.bad = people, bad


def _make_detector(detector: Any, detector_model: Optional[str], device: str,
                   score_thr: float, threads: Optional[int] = None) -> Optional[BoxSource]:
    if detector is None or detector in ("whole-image", "whole_image"):
        return None
    if callable(detector):
        return lambda image, index: detector(image)
    from heatpose.inference.detector import YOLOXDetector

    if detector_model is not None:
        det = YOLOXDetector(detector_model, device=device, score_thr=score_thr,
                            threads=threads)
    elif detector == DEFAULT_DETECTOR:
        det = YOLOXDetector.from_pretrained(detector, device=device, score_thr=score_thr,
                                            threads=threads)
    else:
        raise HeatposeError(f"unknown detector {detector!r}: use 'yolox-nano', 'whole-image', "
                            "a callable image -> (boxes, scores), or detector_model=FILE.onnx")
    return lambda image, index: det(image)


def _load_pose_model(name: Optional[str], checkpoint: Optional[Union[str, Path]],
                     device: Any) -> "TopdownEstimator":
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
        device: 'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'.
        detector_model: a local YOLOX .onnx file instead of the downloaded one.
        det_score_thr: detector score threshold.
        batch_size: crops per forward pass (x2 with flip test); default: 8 on CPU, 64 on GPU.
        flip_test: None = the model's setting.
        backend: 'auto' (default: ONNX Runtime on CPU, PyTorch on GPU), 'torch' or
            'onnxruntime' (see heatpose.inference.backends). ``model`` may also be a
            ``.onnx`` file written by ``heatpose export``.
        nms_thr: OKS-NMS threshold applied to each image's people (``heatpose infer`` uses
            0.9, as ``heatpose test`` and MMPose's CocoMetric); None = one person per box.
        track: True or a :class:`heatpose.tracking.TrackerConfig`: calls without ``bboxes``
            take consecutive video frames and give People with ``track_ids`` (tracks carry
            over between calls; ``pipe.tracking.reset()`` starts a new video).
        detector_threads: ONNX Runtime threads of the YOLOX detector (None: one per core);
            ``heatpose infer`` runs it with 1 in its reader thread, beside the pose network.
    """

    def __init__(self, model: Union[str, "TopdownEstimator", None] = None,
                 detector: Any = DEFAULT_DETECTOR, checkpoint: Optional[Union[str, Path]] = None,
                 device: Any = DEFAULT_DEVICE, detector_model: Optional[Union[str, Path]] = None,
                 det_score_thr: float = DET_SCORE_THR, batch_size: Optional[int] = None,
                 flip_test: Optional[bool] = None, nms_thr: Optional[float] = None,
                 backend: Optional[str] = None, track: Any = False,
                 detector_threads: Optional[int] = None) -> None:
        from heatpose.device import resolve_device

        if batch_size is not None and int(batch_size) < 1:
            raise InputError(f"batch_size={batch_size}: must be at least 1")
        if not 0.0 <= float(det_score_thr) <= 1.0:
            raise InputError(f"det_score_thr={det_score_thr}: must be in [0, 1]")
        if isinstance(model, (str, Path)) and str(model).lower().endswith(".onnx"):
            from heatpose.inference.backends import load_runner

            model = load_runner(model)          # a `heatpose export` file (ONNX Runtime, CPU)
        if model is None or isinstance(model, str):
            self.device = resolve_device(device)
            model = _load_pose_model(model, checkpoint, self.device)
        else:
            self.device = next(model.parameters()).device if hasattr(model, "parameters") \
                else resolve_device("cpu")
        self.model = model.eval()
        from heatpose.inference.backends import DEFAULT_BACKEND, as_backend

        self.model = as_backend(self.model, backend or DEFAULT_BACKEND)
        self.detect = _make_detector(detector, None if detector_model is None
                                     else str(detector_model), self.device.type,
                                     det_score_thr, detector_threads)
        self.batch_size = batch_size
        self.flip_test = flip_test
        self.nms_thr = nms_thr
        self.tracking = None
        if track:
            from heatpose.tracking import TrackerConfig, TrackingSession

            self.tracking = TrackingSession(self, track if isinstance(track, TrackerConfig)
                                            else None)

    def boxes(self, image: np.ndarray, index: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Person boxes (N, 4) xyxy and scores (N,) for one BGR image."""
        from heatpose.models.estimator import validate_bboxes

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
        through the network together, ``batch_size`` crops at a time. Raises
        :class:`NonFiniteOutput` (with every image's People) when the model's keypoints or
        scores for some image are NaN/Inf."""
        from heatpose.data.images import read_image, validate_image
        from heatpose.models.estimator import validate_bboxes

        if self.tracking is not None and bboxes is None:
            return self.tracking(images, return_heatmaps=return_heatmaps)
        single = isinstance(images, (str, Path)) or (isinstance(images, np.ndarray)
                                                     and images.ndim in (2, 3))
        batch = [images] if single else list(images)
        if bboxes is not None and single:
            bboxes = [bboxes]
            box_scores = None if box_scores is None else [box_scores]
        crops, centers, scales, boxes, all_scores, counts, read = [], [], [], [], [], [], []
        for i, image in enumerate(batch):
            image = read_image(image) if isinstance(image, (str, Path)) else \
                validate_image(image, f"image {i}")
            read.append(image)
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
        people: List[People] = []
        bad: List[int] = []
        start = 0
        schema = getattr(self.model, "output_schema", None)    # the keypoints predict reports
        for given, image, b, s, n in zip(batch, read, boxes, all_scores, counts):
            sl = slice(start, start + n)
            start += n
            found = People(b, s, result.keypoints[sl], result.scores[sl],
                           None if result.visibility is None else result.visibility[sl],
                           None if result.heatmaps is None else result.heatmaps[sl],
                           result.centers[sl], result.scales[sl], image=image, schema=schema,
                           source=str(given) if isinstance(given, (str, Path)) else None)
            if not found.finite:
                bad.append(len(people))
            elif self.nms_thr is not None:
                found = found.suppress_duplicates(self.nms_thr)
            people.append(found)
        if bad:
            raise NonFiniteOutput(people, bad)
        return people[0] if single else people
