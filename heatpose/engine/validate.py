"""Validation during training: predict the val split (sharded over processes), gather the
predictions on every process and score them with :mod:`heatpose.evaluation`.

Metrics by dataset: COCO-format datasets (coco, aic, crowdpose, ochuman, mhp, halpe, posetrack18)
report COCO AP/AR (OKS with the schema's sigmas, MMPose's rescoring and OKS-NMS); MPII reports
PCKh (with head sizes); the others PCK@0.2 (box-normalised), AUC and EPE. Every dataset also
reports ``PCK@0.05`` (box-normalised), useful on small sets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from torch.utils.data import DataLoader

from heatpose.engine.config import TrainConfig
from heatpose.engine.distributed import DistInfo, all_gather_objects

_COCO_STYLE = {"coco", "aic", "crowdpose", "ochuman", "mhp", "halpe", "posetrack18"}


@torch.no_grad()
def predict_loader(model: Any, loader: DataLoader, device: torch.device,
                   amp: bool = False) -> List[Dict[str, Any]]:
    """Per instance: ann_id, img_id, keypoints (K, 2) image px, scores (K,), gt keypoints,
    visibility, bbox (4,) xyxy, bbox score, crop scale — this process's shard only."""
    out: List[Dict[str, Any]] = []
    was_training = model.training
    model.eval()
    for images, _, _, meta in loader:
        crops = images.permute(0, 2, 3, 1).numpy()          # (N, h, w, 3) uint8 BGR
        centers = meta["center"].numpy()
        scales = meta["scale"].numpy()
        bboxes = meta["bbox"].numpy()
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            res = model.predict_crops(crops, centers, scales, bboxes)
        for i in range(len(crops)):
            rec = {"ann_id": meta["ann_id"][i], "img_id": meta["img_id"][i],
                   "keypoints": res.keypoints[i], "scores": res.scores[i],
                   "gt": meta["keypoints"][i].numpy(),
                   "visible": meta["keypoints_visible"][i].numpy(),
                   "bbox": bboxes[i], "bbox_score": float(meta["bbox_score"][i]),
                   "scale": scales[i]}
            if "head_size" in meta:
                rec["head_size"] = float(np.asarray(meta["head_size"][i]))
            out.append(rec)
    model.train(was_training)
    return out


def gather_predictions(preds: List[Dict[str, Any]], info: DistInfo) -> List[Dict[str, Any]]:
    """All processes' predictions, without the duplicates the padded sampler adds."""
    seen = set()
    merged: List[Dict[str, Any]] = []
    for part in all_gather_objects(preds, info):
        for p in part:
            key = (p["img_id"], p["ann_id"])
            if key not in seen:
                seen.add(key)
                merged.append(p)
    return merged


def pck_bbox(preds: List[Dict[str, Any]], thr: float) -> float:
    """Mean PCK@thr of visible keypoints, distances divided per axis by the gt box (w, h)."""
    from heatpose.evaluation.pck import bbox_sizes, pck_accuracy

    pred = np.stack([p["keypoints"] for p in preds]).astype(np.float32)
    gt = np.stack([p["gt"] for p in preds]).astype(np.float32)
    mask = np.stack([p["visible"] for p in preds]) > 0
    boxes = np.stack([p["bbox"] for p in preds]).astype(np.float32)
    return float(pck_accuracy(pred, gt, mask, thr, bbox_sizes(boxes))[1])


def compute_metrics(cfg: TrainConfig, data_root: Path, schema: Any,
                    preds: List[Dict[str, Any]]) -> Dict[str, float]:
    """Metrics of gathered predictions (see module docstring)."""
    if not preds:
        return {}
    metrics: Dict[str, float] = {"PCK@0.05": pck_bbox(preds, 0.05)}
    dataset = cfg.data.dataset
    if dataset in _COCO_STYLE and schema.sigmas and cfg.data.val_ann_file:
        from heatpose.evaluation.topdown import TopdownCocoEvaluator

        ann = Path(cfg.data.val_ann_file)
        ann = ann if ann.is_absolute() else Path(data_root) / ann
        crowd = dataset == "crowdpose"
        ev = TopdownCocoEvaluator(str(ann), schema.sigmas, use_area=dataset in ("coco",
                                                                              "ochuman", "halpe"),
                                  iou_type="keypoints_crowd" if crowd else "keypoints")
        for p in preds:
            ev.process(p["ann_id"], p["img_id"], p["keypoints"][None], p["scores"][None],
                       bboxes=p["bbox"][None], bbox_scores=np.array([p["bbox_score"]]),
                       bbox_scales=p["scale"][None])
        from heatpose.evaluation.coco_eval import short_names

        metrics.update({k: float(v) for k, v in short_names(ev.evaluate()).items()})
    elif dataset == "mpii" and all("head_size" in p for p in preds):
        from heatpose.evaluation.pck import mpii_pckh

        pred = np.stack([p["keypoints"] for p in preds])
        gt = np.stack([p["gt"] for p in preds])
        mask = np.stack([p["visible"] for p in preds]) > 0
        res = mpii_pckh(pred, gt, mask, np.array([p["head_size"] for p in preds]))
        metrics["PCKh"] = float(res["PCK"])
        metrics["PCKh@0.1"] = float(res["PCK@0.1"])
    else:
        from heatpose.evaluation.pck import pck_auc_epe

        pred = np.stack([p["keypoints"] for p in preds])
        gt = np.stack([p["gt"] for p in preds])
        mask = np.stack([p["visible"] for p in preds]) > 0
        boxes = np.stack([p["bbox"] for p in preds])
        metrics.update({k: float(v) for k, v in pck_auc_epe(pred, gt, mask, boxes).items()})
    return metrics
