"""Top-down post-processing before COCO-style evaluation, as MMPose 1.3.2's ``CocoMetric`` does it:
group instances by image, sort by instance id and drop duplicates, rescore (box score × mean
of the keypoint scores above 0.2 by default), OKS-NMS per image, and write COCO results.

:class:`TopdownCocoEvaluator` accumulates per-sample predictions (``process``) and evaluates
(``evaluate``); :func:`evaluate_coco` does the final AP/AR.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import GtLike, evaluate_coco, load_coco_gt
from heatpose.evaluation.nms import oks_nms, soft_oks_nms

SCORE_MODES = ("bbox", "bbox_keypoint", "bbox_rle", "keypoint")
NMS_MODES = ("oks_nms", "soft_oks_nms", "none")


def rescore(keypoint_scores: np.ndarray, bbox_score, mode: str = "bbox_keypoint",
            keypoint_score_thr: float = 0.2):
    """Instance score of one pose.

    Args:
        keypoint_scores: (K,) float32 keypoint confidences.
        bbox_score: detector score of the box (scalar; its numpy type is kept).
        mode: ``'bbox'`` (box score), ``'keypoint'`` (mean keypoint score), ``'bbox_rle'``
            (box + mean + max), ``'bbox_keypoint'`` (box × mean of the scores > thr, summed in
            float32 in keypoint order; 0 if none).

    Returns:
        the score (numpy scalar or float).
    """
    if mode == "bbox":
        return bbox_score
    if mode == "keypoint":
        return np.mean(keypoint_scores)
    if mode == "bbox_rle":
        return float(bbox_score + np.mean(keypoint_scores) + np.max(keypoint_scores))
    if mode != "bbox_keypoint":
        raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {mode!r}")
    valid = keypoint_scores > keypoint_score_thr
    n = int(valid.sum())
    if n == 0:
        return bbox_score * 0
    total = np.cumsum(np.where(valid, keypoint_scores, 0).astype(keypoint_scores.dtype))[-1]
    return bbox_score * (total / n)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes x1, y1, x2, y2 -> x, y, w, h (same dtype)."""
    out = boxes.copy()
    out[:, 2] = boxes[:, 2] - boxes[:, 0]
    out[:, 3] = boxes[:, 3] - boxes[:, 1]
    return out


class TopdownCocoEvaluator:
    """Accumulate top-down predictions, then rescore, NMS and evaluate them COCO-style.

    Args:
        gt: COCO annotation dict or path (may be None for ``results()`` only).
        sigmas: K OKS sigmas of the dataset (used for NMS and OKS).
        use_area, iou_type: see :func:`evaluate_coco` (CrowdPose: ``use_area=False,
            iou_type='keypoints_crowd'``; COCO-WholeBody: ``'keypoints_wholebody'``, see
            :func:`heatpose.evaluation.wholebody.evaluate_wholebody`).
        score_mode, keypoint_score_thr, nms_mode, nms_thr: as MMPose's CocoMetric.
    """

    def __init__(self, gt: Optional[GtLike], sigmas: Sequence[float], use_area: bool = True,
                 iou_type: str = "keypoints", score_mode: str = "bbox_keypoint",
                 keypoint_score_thr: float = 0.2, nms_mode: str = "oks_nms",
                 nms_thr: float = 0.9) -> None:
        if score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
        if nms_mode not in NMS_MODES:
            raise ValueError(f"nms_mode must be one of {NMS_MODES}, got {nms_mode!r}")
        self.gt = load_coco_gt(gt)[0] if gt is not None else None
        self.sigmas = np.asarray(sigmas, dtype=np.float32)
        self.use_area, self.iou_type = use_area, iou_type
        self.score_mode, self.keypoint_score_thr = score_mode, keypoint_score_thr
        self.nms_mode, self.nms_thr = nms_mode, nms_thr
        self._instances: List[dict] = []

    def process(self, id: int, img_id, keypoints: np.ndarray, keypoint_scores: np.ndarray,
                bboxes: Optional[np.ndarray] = None, bbox_scores: Optional[np.ndarray] = None,
                bbox_scales: Optional[np.ndarray] = None, category_id: int = 1) -> None:
        """Add the predictions of one sample (one box of the test set).

        Args:
            id: sample id (annotation id, or detection index); duplicates within an image are
                dropped at evaluation (first kept).
            img_id: COCO image id.
            keypoints: (N, K, 2) image pixels (x, y), usually N = 1; float32.
            keypoint_scores: (N, K) float32.
            bboxes: (N, 4) xyxy pixels, written to the results as ``bbox`` (x, y, w, h).
            bbox_scores: (N,) detector scores (default 1).
            bbox_scales: (N, 2) the crop scale (w, h) in pixels; its product is the instance
                area used by OKS-NMS (default: the keypoints' extent).
            category_id: written to the results.
        """
        kpts = np.asarray(keypoints, dtype=np.float32)
        scores = np.asarray(keypoint_scores, dtype=np.float32)
        if kpts.ndim != 3 or kpts.shape[2] != 2 or scores.shape != kpts.shape[:2]:
            raise InputError(f"sample id {id}: keypoints must be (N, K, 2) and keypoint_scores "
                             f"(N, K), got {kpts.shape} and {scores.shape}")
        if len(self.sigmas) and kpts.shape[1] != len(self.sigmas):
            raise InputError(f"sample id {id}: {kpts.shape[1]} keypoints but {len(self.sigmas)} "
                             "sigmas")
        n = len(kpts)
        if bbox_scores is None:
            bbox_scores = np.ones(n)
        for what, value in (("keypoints", kpts), ("keypoint_scores", scores),
                            ("bboxes", bboxes), ("bbox_scores", bbox_scores),
                            ("bbox_scales", bbox_scales)):
            if value is not None and not np.isfinite(np.asarray(value, np.float64)).all():
                raise InputError(f"sample id {id} (image_id {img_id!r}): {what} hold NaN or "
                                 "infinity; non-finite predictions would silently change AP")
        boxes = None if bboxes is None else xyxy_to_xywh(np.asarray(bboxes).reshape(n, 4))
        if bbox_scales is not None:
            areas = np.prod(np.asarray(bbox_scales).reshape(n, 2), axis=1)
        else:
            areas = ((kpts[:, :, 0].max(1) - kpts[:, :, 0].min(1))
                     * (kpts[:, :, 1].max(1) - kpts[:, :, 1].min(1)))
        for i in range(n):
            inst = {"id": id, "img_id": img_id, "category_id": category_id,
                    "keypoints": np.concatenate([kpts[i], scores[i][:, None]], axis=-1),
                    "bbox_score": bbox_scores[i], "area": areas[i]}
            if boxes is not None:
                inst["bbox"] = boxes[i]
            self._instances.append(inst)

    def __len__(self) -> int:
        return len(self._instances)

    def kept_instances(self) -> Dict[object, List[dict]]:
        """Per image (first-seen order): the instances left after dedupe, rescoring and NMS,
        in NMS order; each dict has ``keypoints`` (K, 3) float32 and ``score``."""
        per_img: Dict[object, List[dict]] = {}
        for inst in self._instances:
            per_img.setdefault(inst["img_id"], []).append(inst)
        out: Dict[object, List[dict]] = {}
        for img_id, insts in per_img.items():
            insts = sorted(insts, key=lambda x: x["id"])
            insts = [x for j, x in enumerate(insts) if j == 0 or x["id"] != insts[j - 1]["id"]]
            for inst in insts:
                inst["score"] = rescore(inst["keypoints"][:, 2], inst["bbox_score"],
                                        self.score_mode, self.keypoint_score_thr)
            if self.nms_mode == "none":
                out[img_id] = insts
                continue
            kpts = np.stack([x["keypoints"] for x in insts])
            scores = np.array([x["score"] for x in insts])
            areas = np.array([x["area"] for x in insts])
            if self.nms_mode == "oks_nms":
                keep = oks_nms(kpts, scores, areas, self.nms_thr, self.sigmas)
            else:
                keep = soft_oks_nms(kpts, scores, areas, self.nms_thr, self.sigmas)
            out[img_id] = [insts[k] for k in keep]
        return out

    def results(self) -> List[dict]:
        """COCO keypoint results (what MMPose writes to ``*.keypoints.json``)."""
        res = []
        for img_id, insts in self.kept_instances().items():
            for inst in insts:
                r = {"image_id": img_id, "category_id": int(inst["category_id"]),
                     "keypoints": inst["keypoints"].reshape(-1).tolist(),
                     "score": float(inst["score"])}
                if "bbox" in inst:
                    r["bbox"] = inst["bbox"].tolist()
                res.append(r)
        return res

    def evaluate(self) -> Dict[str, float]:
        """Rescore, NMS, then COCO AP/AR (MMPose's stat names, without the ``coco/`` prefix)."""
        if self.gt is None:
            raise InputError("TopdownCocoEvaluator: no ground truth given")
        return evaluate_coco(self.gt, self.results(), self.sigmas, use_area=self.use_area,
                             iou_type=self.iou_type)
