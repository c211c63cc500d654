"""Validation during training: predict the val split (sharded over processes), gather the
predictions on every process and score them with the shared test-split evaluation,
:func:`heatpose.evaluation.dataset_metrics.evaluate_dataset` (the metric names, values and
units MMPose 1.3.2's evaluator of that dataset reports, under the short names ``heatpose test``
and ``heatpose eval --json`` use: COCO-style ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``,
``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl``; CrowdPose ``AP(E)``...; PoseTrack18
``<joint> AP`` and ``AP`` (percent); MPII ``<joint> PCK``, ``PCK``, ``PCK@0.1`` (percent,
needs head boxes); MPII-TRB ``PCKh``...; JHMDB ``PCK``/``tPCK``;
DeepFashion(2) ``PCK``, ``AUC``, ``EPE``). Every dataset also reports the cheap
``PCK@0.05`` (box-normalised, fraction), useful on small sets; datasets the shared evaluation
does not know (e.g. coco_wholebody, or a custom schema without OKS sigmas) report ``PCK``,
``AUC`` and ``EPE`` (box-normalised) instead.

The "best checkpoint" metric: ``train.val_metric`` names a metric above or a zoo table column,
else the dataset's zoo key metric (the rules live in :mod:`heatpose.engine.metric_names`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from heatpose.engine.config import ConfigError, TrainConfig
from heatpose.engine.distributed import DistInfo, all_gather_objects



def val_schema(cfg: TrainConfig, schema: Any) -> Any:
    """The val split's keypoint schema: the model's ``schema``, or, when
    ``model.output_keypoint_indices`` selects some of the model's keypoints (MMPose's test_cfg:
    COCO's 17 of the 19-keypoint COCO+AIC model), ``data.dataset``'s own schema, as MMPose reads
    the val set with its dataset's metainfo and scores it with that dataset's sigmas."""
    idx = cfg.model.output_keypoint_indices
    if idx is None:
        return schema
    from heatpose.errors import HeatposeError
    from heatpose.schema import schema_for_dataset

    try:
        own = schema_for_dataset(cfg.data.dataset)
    except HeatposeError as exc:
        raise ConfigError(f"data.dataset = {cfg.data.dataset!r}: no keypoint schema for "
                          f"validation with model.output_keypoint_indices ({exc})") from None
    if own.num_keypoints != len(idx):
        raise ConfigError(f"model.output_keypoint_indices selects {len(idx)} keypoints but "
                          f"data.dataset {cfg.data.dataset!r} (validation) has "
                          f"{own.num_keypoints}")
    return own


def build_val_dataset(cfg: TrainConfig, data_root: Path, schema: Any, codec: Any) -> Any:
    """The val split in test mode (box crops, no targets). MPII records get ``head_size`` from
    ``data.val_headbox_file`` (PCKh needs it; ConfigError when it is unset or missing)."""
    from heatpose.data.dataset import TopdownDataset
    from heatpose.engine.data import build_dataset, data_augment, resolve_path

    d = cfg.data
    if d.dataset != "mpii":
        return build_dataset(cfg, data_root, "val", schema, codec)
    from heatpose.data.readers import read_dataset

    if not d.val_headbox_file:
        raise ConfigError("data.val_headbox_file is not set: MPII validation (PCKh) needs the "
                          "head boxes (annotations/mpii_gt_val.mat); or set "
                          "data.val_ann_file=null to train without validation")
    headbox = resolve_path(data_root, d.val_headbox_file)
    ann = resolve_path(data_root, str(d.val_ann_file))
    for path, key in ((ann, "val_ann_file"), (headbox, "val_headbox_file")):
        if not path.is_file():
            raise ConfigError(f"{path}: file not found (data.{key} under --data-root "
                              f"{data_root})")
    records = read_dataset("mpii", str(ann), d.val_img_prefix, headbox_file=str(headbox))
    if not records:
        raise ConfigError(f"{ann}: no usable instances for val")
    return TopdownDataset(records, str(data_root), schema, codec, train=False,
                          augment=data_augment(d), seed=cfg.train.seed)


@torch.no_grad()
def predict_loader(model: Any, loader: DataLoader, device: torch.device,
                   amp: bool = False,
                   on_batch: Optional[Callable[[Dict[str, Any], int], None]] = None,
                   schema: Any = None) -> List[Dict[str, Any]]:
    """Per instance: ``img_id``, ``ann_id``, ``keypoints`` (K, 2) image px (x, y), ``scores``
    (K,), ``scale`` (2,) the crop window (w, h) px — this process's shard only. K: the
    keypoints of the val data's ``schema`` (default the model's), the model's
    ``output_keypoint_indices`` when it has them.

    ``on_batch(meta, n)`` is called for each batch of ``n`` readable crops (a loader with
    :func:`heatpose.engine.samples.collate_skipping` lists unreadable ones in
    ``meta["skipped"]``; they get no prediction)."""
    from heatpose.evaluation.testing import output_keypoints

    schema = schema if schema is not None else model.output_schema
    if schema is not None:
        output_keypoints(model, schema)       # predict_crops reports the output keypoints
    out: List[Dict[str, Any]] = []
    was_training = model.training
    model.eval()
    for images, _, _, meta in loader:
        if on_batch is not None:
            on_batch(meta, 0 if images is None else len(images))
        if images is None:
            continue
        crops = images.permute(0, 2, 3, 1).numpy()          # (N, h, w, 3) uint8 BGR
        centers = meta["center"].numpy()
        scales = meta["scale"].numpy()
        bboxes = meta["bbox"].numpy()
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            res = model.predict_crops(crops, centers, scales, bboxes)
        for i in range(len(crops)):
            out.append({"ann_id": meta["ann_id"][i], "img_id": meta["img_id"][i],
                        "keypoints": res.keypoints[i], "scores": res.scores[i],
                        "scale": scales[i]})
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


def compute_metrics(cfg: TrainConfig, data_root: Path, schema: Any, records: Sequence[Any],
                    preds: List[Dict[str, Any]]) -> Dict[str, float]:
    """Metrics of the gathered predictions of the val ``records`` (see module docstring);
    records without a prediction (unreadable, skipped) are left out."""
    from heatpose.engine.data import resolve_path
    from heatpose.evaluation.dataset_metrics import (COCO_STYLE, SUPPORTED, evaluate_dataset,
                                                     predictions_from_dicts)
    from heatpose.evaluation.pck import bbox_sizes, pck_accuracy, pck_auc_epe

    have = {(p["img_id"], p["ann_id"]) for p in preds}
    records = [r for r in records if (r.img_id, r.ann_id) in have]
    if not preds or not records:
        return {}
    predictions = predictions_from_dicts(records, preds)
    gt = np.stack([r.keypoints for r in records]).astype(np.float32)
    mask = np.stack([r.keypoints_visible for r in records]) > 0
    boxes = np.stack([r.bbox for r in records]).astype(np.float32)
    metrics: Dict[str, float] = {"PCK@0.05": float(pck_accuracy(
        predictions.keypoints, gt, mask, 0.05, bbox_sizes(boxes))[1])}
    dataset = cfg.data.dataset
    sigmas = list(schema.sigmas or [])
    needs_sigmas = dataset in COCO_STYLE or dataset == "posetrack18"
    if dataset in SUPPORTED and (sigmas or not needs_sigmas):
        ann = resolve_path(data_root, cfg.data.val_ann_file) if cfg.data.val_ann_file else None
        metrics.update(evaluate_dataset(dataset, records, predictions, ann_file=ann,
                                        sigmas=sigmas or None))
    else:
        metrics.update({k: float(v) for k, v in
                        pck_auc_epe(predictions.keypoints, gt, mask, boxes).items()})
    return metrics
