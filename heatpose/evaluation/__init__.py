"""Evaluation as MMPose 1.3.2 reports it, without MMPose or xtcocotools.

- COCO-style OKS AP/AR (COCO, OCHuman, AIC, MHP, Halpe, Human-Art, ExLPose, CrowdPose E/M/H):
  :func:`evaluate_coco`, :class:`TopdownCocoEvaluator` (per-sample ``process`` + rescoring +
  OKS-NMS + ``evaluate``); COCO-WholeBody per part: :func:`evaluate_wholebody`.
- Inputs are checked first: NaN/infinity, dangling ids and wrong keypoint counts raise
  :class:`~heatpose.errors.InputError` naming the file and the record.
- PCK family: :func:`pck_auc_epe`, :func:`jhmdb_pck`, :func:`mpii_pckh`, :func:`mpii_trb_accuracy`.
- PoseTrack18 per-joint AP (poseval's algorithm): :func:`evaluate_posetrack18`,
  :class:`PoseTrack18Evaluator`.
- NMS: :func:`oks_nms`, :func:`soft_oks_nms`.
"""
from heatpose.evaluation.api import coco_settings, evaluate_keypoint_file, infer_dataset
from heatpose.evaluation.coco_eval import evaluate_coco, short_names
from heatpose.evaluation.nms import oks_iou, oks_nms, soft_oks_nms
from heatpose.evaluation.pck import (auc, epe, jhmdb_pck, mpii_head_sizes, mpii_pckh,
                                     mpii_trb_accuracy, pck_accuracy, pck_auc_epe)
from heatpose.evaluation.posetrack_eval import PoseTrack18Evaluator, evaluate_posetrack18
from heatpose.evaluation.topdown import TopdownCocoEvaluator, rescore
from heatpose.evaluation.wholebody import evaluate_wholebody

__all__ = ["coco_settings", "evaluate_keypoint_file", "infer_dataset", "evaluate_coco",
           "short_names", "oks_iou", "oks_nms", "soft_oks_nms", "auc", "epe", "jhmdb_pck",
           "mpii_head_sizes", "mpii_pckh", "mpii_trb_accuracy", "pck_accuracy", "pck_auc_epe",
           "PoseTrack18Evaluator", "evaluate_posetrack18", "TopdownCocoEvaluator", "rescore",
           "evaluate_wholebody"]
