"""The top-down estimator: backbone + head + codec, with batched crop, flip test and decode.

    image + boxes -> crop_inputs -> forward -> flip test -> codec.decode -> crop_to_image
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from heatpose.codecs.flip import merge_flip, merge_flip_visibility
from heatpose.data.geometry import (bbox_xyxy2cs, crop_matrix, crop_to_image, fix_aspect_ratio,
                                    warp_image)
from heatpose.data.images import read_image, validate_image
from heatpose.errors import InputError

# ImageNet statistics in RGB order, on the 0..255 scale (MMPose's PoseDataPreprocessor).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
BBOX_PADDING = 1.25

ImageLike = Union[np.ndarray, str, Path]


@dataclass
class PoseResult:
    """Predictions for N boxes of one image, in image pixels.

    keypoints: (N, K, 2) float32 (x, y); scores: (N, K) float32 (heatmap maxima);
    bboxes: (N, 4) xyxy; visibility: (N, K) probabilities for visibility-head models, else None;
    heatmaps: (N, K, h, w) the decoded (flip-averaged) heatmaps when asked for, else None;
    centers / scales: (N, 2) crop window centre and (w, h) size in image pixels.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    bboxes: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    visibility: Optional[np.ndarray] = None
    heatmaps: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.keypoints)


def validate_bboxes(bboxes: Any, image_shape: Optional[Tuple[int, int]] = None,
                    source: str = "bboxes") -> np.ndarray:
    """Check and return (N, 4) float32 xyxy boxes; raise InputError naming the bad box."""
    arr = np.asarray(bboxes, dtype=np.float32)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"{source}: expected an (N, 4) array of xyxy boxes, got shape {arr.shape}")
    for i, box in enumerate(arr):
        if not np.all(np.isfinite(box)):
            raise InputError(f"{source}[{i}] = {box.tolist()}: box has a non-finite coordinate")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise InputError(f"{source}[{i}] = {box.tolist()}: box must have x2 > x1 and y2 > y1 "
                             "(xyxy pixels; xywh boxes need bbox_xywh2xyxy first)")
        with np.errstate(over="ignore"):            # padding and the aspect fix grow it < 4x
            too_big = not np.all(np.isfinite((box[2:] - box[:2]) * np.float32(4)))
        if too_big:
            raise InputError(f"{source}[{i}] = {box.tolist()}: box is too large (its padded crop "
                             "size overflows float32)")
        if image_shape is not None:
            h, w = image_shape
            if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
                raise InputError(f"{source}[{i}] = {box.tolist()}: box lies entirely outside the "
                                 f"{w}x{h} image")
    return arr


@dataclass
class BatchOutput:
    """What a backend returns for one batch of crops: flip-averaged heatmaps (N, C, h, w),
    visibility (N, K) or None, and, when the backend decodes itself, keypoints (N, K, 2) in
    input-crop px with scores (N, K) (else None: the codec decodes the heatmaps)."""

    heatmaps: np.ndarray
    visibility: Optional[np.ndarray] = None
    keypoints: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None


def check_output_indices(indices: Optional[Sequence[int]], num_keypoints: int,
                         source: str = "output_keypoint_indices") -> Optional[List[int]]:
    """``indices`` as a list of ints, each one of ``num_keypoints`` network keypoints (None
    stays None: every keypoint is an output); ValueError naming ``source`` otherwise."""
    if indices is None:
        return None
    whole = lambda i: isinstance(i, (int, np.integer)) and not isinstance(i, bool)  # noqa: E731
    if isinstance(indices, (str, bytes)) or not isinstance(indices, (Sequence, np.ndarray)) \
            or not all(whole(i) for i in indices):      # no '0123', 1.7 or True read as ints
        raise ValueError(f"{source} {indices!r}: expected a list of keypoint indices "
                         "(integers)")
    out = [int(i) for i in indices]
    if not out or not all(0 <= i < num_keypoints for i in out):
        raise ValueError(f"{source} {out}: each must be one of the {num_keypoints} network "
                         f"keypoints (0..{num_keypoints - 1})")
    return out


def select_schema(schema: Any, indices: Optional[Sequence[int]]) -> Any:
    """The keypoint schema of the ``indices`` keypoints of ``schema`` (their names, colours,
    sigmas and weights; flip partners and skeleton links renumbered, links to a dropped
    keypoint removed, a keypoint whose partner is dropped flips onto itself); ``schema``
    itself when ``indices`` is None. COCO+AIC 'combine' models: COCO's 17 keypoints."""
    if schema is None or indices is None:
        return schema
    from heatpose.schema import KeypointSchema

    keep = [int(i) for i in indices]
    new = {old: pos for pos, old in enumerate(keep)}
    links = [(j, (new[a], new[b])) for j, (a, b) in enumerate(schema.skeleton)
             if a in new and b in new]
    pick = lambda values: tuple(values[i] for i in keep) if values else ()  # noqa: E731
    return KeypointSchema(
        name=f"{schema.name}-{len(keep)}", keypoint_names=pick(schema.keypoint_names),
        flip_indices=[new.get(schema.flip_indices[old], pos) for pos, old in enumerate(keep)],
        skeleton=[link for _, link in links], keypoint_colors=pick(schema.keypoint_colors),
        skeleton_colors=[schema.skeleton_colors[j] for j, _ in links]
        if schema.skeleton_colors else (),
        sigmas=pick(schema.sigmas), joint_weights=pick(schema.joint_weights),
        upper_body_ids=[new[i] for i in schema.upper_body_ids if i in new],
        lower_body_ids=[new[i] for i in schema.lower_body_ids if i in new])


class TopdownPredictor:
    """The inference path every backend shares (PyTorch, ONNX Runtime):

        image + boxes -> crop_inputs -> infer_batch (network, flip test) -> decode -> image px
            -> the output keypoints (``output_keypoint_indices``)

    A backend provides ``codec``, ``flip_test``, ``input_size``, ``num_keypoints``,
    ``has_visibility``, ``default_batch_size``, ``infer_batch``, ``schema`` (the network
    keypoints' schema or None) and ``output_keypoint_indices``: MMPose's test_cfg
    ``output_keypoint_indices``, the network keypoints that predictions report (as MMPose's
    ``inference_topdown``: keypoints, scores, visibility and heatmaps with one channel per
    keypoint), None = all."""

    codec: Any
    flip_test: bool
    schema: Any = None
    output_keypoint_indices: Optional[List[int]] = None

    @property
    def output_schema(self) -> Any:
        """The schema of the keypoints predictions report (:func:`select_schema` of
        ``schema``): what drawing, keypoint names, OKS-NMS and tracking use."""
        return select_schema(self.schema, self.output_keypoint_indices)

    def select_outputs(self, result: "PoseResult") -> "PoseResult":
        """``result`` with the output keypoints only (``output_keypoint_indices``; heatmaps
        when they have one channel per network keypoint, as MMPose selects them)."""
        keep = self.output_keypoint_indices
        if keep is None:
            return result
        hm = result.heatmaps
        if hm is not None and hm.shape[1] == self.num_keypoints:
            hm = hm[:, keep]
        return PoseResult(result.keypoints[:, keep], result.scores[:, keep], result.bboxes,
                          result.centers, result.scales,
                          None if result.visibility is None else result.visibility[:, keep], hm)

    def infer_batch(self, crops: np.ndarray, flip_test: bool) -> BatchOutput:
        """uint8 BGR crops (N, H, W, 3) -> network outputs (see :class:`BatchOutput`)."""
        raise NotImplementedError

    @property
    def default_batch_size(self) -> int:
        return 8

    def crop_inputs(self, image: np.ndarray, bboxes: np.ndarray
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Affine crops of the boxes (MMPose's GetBBoxCenterScale + TopdownAffine).

        Returns uint8 BGR crops (N, H, W, 3), centers (N, 2) and aspect-fixed scales (N, 2)."""
        w, h = self.input_size
        centers, scales = bbox_xyxy2cs(bboxes, padding=BBOX_PADDING)
        scales = fix_aspect_ratio(scales, aspect_ratio=w / h)
        crops = np.zeros((len(bboxes), h, w, 3), dtype=np.uint8)
        for i, (c, s) in enumerate(zip(centers, scales)):
            m = crop_matrix(c, s, 0.0, (w, h), use_udp=self.codec.use_udp)
            crops[i] = warp_image(image, m, (w, h))
        return crops, centers, scales

    def predict(self, image: ImageLike, bboxes: Optional[Any] = None,
                flip_test: Optional[bool] = None, batch_size: Optional[int] = None,
                return_heatmaps: bool = False) -> PoseResult:
        """Keypoints of the people in ``bboxes`` ((N, 4) xyxy pixels; None = whole image).

        ``image`` is a BGR uint8 (H, W, 3) array or an image file path."""
        if isinstance(image, (str, Path)):
            image = read_image(image)
        else:
            image = validate_image(image)
        if bboxes is None:
            bboxes = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
        bboxes = validate_bboxes(bboxes, image.shape[:2])
        crops, centers, scales = self.crop_inputs(image, bboxes)
        return self.predict_crops(crops, centers, scales, bboxes, flip_test=flip_test,
                                  batch_size=batch_size, return_heatmaps=return_heatmaps)

    def predict_crops(self, crops: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                      bboxes: np.ndarray, flip_test: Optional[bool] = None,
                      batch_size: Optional[int] = None, return_heatmaps: bool = False
                      ) -> PoseResult:
        """Run prepared crops (N, H, W, 3) uint8 BGR through the network and decode to image px;
        the result holds the output keypoints (see :class:`TopdownPredictor`).

        ``batch_size`` crops go through one forward pass (twice that with the flip test);
        default ``default_batch_size`` (8 on CPU, 64 on GPU for PyTorch)."""
        n = len(crops)
        if n == 0:
            k = len(self.output_keypoint_indices or range(self.num_keypoints))
            empty = np.zeros((0, k), np.float32)
            return PoseResult(np.zeros((0, k, 2), np.float32), empty, bboxes, centers, scales,
                              empty if self.has_visibility else None)
        flip = self.flip_test if flip_test is None else bool(flip_test)
        batch_size = batch_size or self.default_batch_size
        outs = [self.infer_batch(crops[s:s + batch_size], flip) for s in range(0, n, batch_size)]
        hm = np.concatenate([o.heatmaps for o in outs])
        if all(o.keypoints is not None for o in outs):
            kpts = np.concatenate([o.keypoints for o in outs])
            scores = np.concatenate([o.scores for o in outs])
        else:
            kpts, scores = self.codec.decode(hm)
        kpts = crop_to_image(kpts, self.input_size, centers, scales).astype(np.float32)
        vis = np.concatenate([o.visibility for o in outs]) if self.has_visibility else None
        return self.select_outputs(PoseResult(kpts, scores.astype(np.float32), bboxes, centers,
                                              scales, vis, hm if return_heatmaps else None))


def _split(out: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """A head's output -> (heatmaps, visibility or None)."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


class TopdownEstimator(TopdownPredictor, nn.Module):
    """A top-down heatmap pose model.

    ``forward(x)`` maps a normalised (N, 3, H, W) batch to raw heatmaps (N, K, h, w).
    ``predict(image, bboxes)`` runs the whole MMPose inference path on image boxes.

    ``output_keypoint_indices`` (MMPose's test_cfg; kept in checkpoints and ONNX exports):
    the network keypoints ``predict`` reports, e.g. COCO's 17 of the 19-keypoint COCO+AIC
    'combine' models; None = all. ``forward`` and ``num_keypoints`` stay the network's.

    The state_dict holds only ``backbone.*`` and ``head.*`` (MMPose 1.x names).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, codec: Any,
                 flip_indices: Sequence[int], name: Optional[str] = None,
                 schema: Any = None, preset: Any = None, flip_test: bool = True,
                 flip_shift: Optional[bool] = None,
                 output_keypoint_indices: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.codec = codec
        self.flip_indices = [int(i) for i in flip_indices]
        self.name = name
        self.schema = schema
        self.preset = preset
        self.flip_test = flip_test
        # the codec decides the flip shift; a preset may override it where MMPose's config does
        # (the HRNet "udp" DeepFashion configs run MSRA with shift_heatmap=False)
        self.flip_shift = codec.flip_shift if flip_shift is None else bool(flip_shift)
        self.output_keypoint_indices = check_output_indices(output_keypoint_indices,
                                                            len(self.flip_indices))
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    # ------------------------------------------------------------------ network
    @property
    def input_size(self) -> Tuple[int, int]:
        """Network input (w, h) in pixels."""
        return tuple(self.codec.input_size)

    @property
    def has_visibility(self) -> bool:
        return hasattr(self.head, "vis_head")

    @property
    def num_keypoints(self) -> int:
        return len(self.flip_indices)

    def forward_all(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(N, 3, H, W) -> (heatmaps (N, K, h, w), visibility probabilities (N, K) or None)."""
        return _split(self.head(self.backbone(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised RGB batch -> raw heatmaps (N, K, h, w)."""
        return self.forward_all(x)[0]

    def normalize(self, crops: torch.Tensor) -> torch.Tensor:
        """uint8 BGR crops (N, H, W, 3) -> float RGB (N, 3, H, W), ImageNet-normalised."""
        x = crops.to(self.pixel_mean.device).permute(0, 3, 1, 2).float().flip(1)
        return (x - self.pixel_mean) / self.pixel_std

    @torch.no_grad()
    def forward_test(self, x: torch.Tensor, flip_test: Optional[bool] = None,
                     network: Optional[Callable[[torch.Tensor], Any]] = None
                     ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Test-time forward with the flip test as one batched pass.

        ``network``: what maps the batch to heatmaps (or (heatmaps, visibility)); default
        backbone + head. Returns flip-averaged heatmaps (N, K, h, w) and visibility (N, K)
        or None."""
        flip = self.flip_test if flip_test is None else flip_test
        run = self.forward_all if network is None else (lambda t: _split(network(t)))
        if not flip:
            return run(x)
        n = x.shape[0]
        heatmaps, vis = run(torch.cat([x, x.flip(-1)], dim=0))
        heatmaps = merge_flip(heatmaps[:n], heatmaps[n:], self.flip_indices,
                              self.codec.flip_mode, self.flip_shift)
        if vis is not None:
            vis = merge_flip_visibility(vis[:n], vis[n:], self.flip_indices)
        return heatmaps, vis

    # --------------------------------------------------------------- inference
    @property
    def default_batch_size(self) -> int:
        """Crops per forward pass: 8 on CPU (larger batches fall out of cache), 64 on GPU."""
        return 8 if self.pixel_mean.device.type == "cpu" else 64

    def infer_batch(self, crops: np.ndarray, flip_test: bool) -> BatchOutput:
        """uint8 BGR crops (N, H, W, 3) -> flip-averaged heatmaps and visibility (numpy),
        through the BN-folded (channels-last on CPU) copy of the network."""
        from heatpose.inference.backends_torch import inference_network

        net, channels_last = inference_network(self)      # an eval-mode copy
        with torch.inference_mode():
            x = self.normalize(torch.from_numpy(crops))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            hm, vis = self.forward_test(x, flip_test, network=net)
        return BatchOutput(hm.float().cpu().numpy(),
                           None if vis is None else vis.float().cpu().numpy())

    # ------------------------------------------------------------------ metadata
    def metadata(self) -> Dict[str, Any]:
        """JSON-friendly description that, with the state_dict, rebuilds this model."""
        meta: Dict[str, Any] = {
            "model_name": self.name,
            "codec": self.codec.to_dict(),
            "input_size": list(self.input_size),
            "flip_indices": self.flip_indices,
            "flip_test": self.flip_test,
            "flip_shift": self.flip_shift,
        }
        if self.preset is not None:
            meta["preset"] = self.preset.to_dict()
        if self.schema is not None:
            meta["schema"] = self.schema.to_dict()
        if self.output_keypoint_indices is not None:     # MMPose test_cfg: the reported ones
            meta["output_keypoint_indices"] = list(self.output_keypoint_indices)
        return meta
