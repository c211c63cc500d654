"""PoseTrack18 multi-person pose AP (the per-joint-group table Head, Shou, Elb, Wri, Hip, Knee,
Ankl, Total that MMPose 1.3.2's ``PoseTrack18Metric`` gets from the external ``poseval``).

MMPose writes one prediction file per ground-truth video (the video's images; per image its
poses with ``keypoints`` = [x, y, score] × K, ``scores`` = the K scores and ``track_id`` = the
pose's index) and runs poseval's AP on the two folders. This module builds the same prediction
files in memory and evaluates them with :mod:`heatpose.evaluation.poseval` (the
re-implementation checked against poseval's own outputs), so every poseval rule applies:
labeled frames only, (0, 0, 0) points absent, ignore regions, 0.5 × head size (0.6 × head-box
diagonal) matching, pooled VOC AP, NaN joints left out of the total.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.coco_eval import load_json
from heatpose.evaluation.poseval import evaluate_sequences
from heatpose.evaluation.poseval_data import POSEVAL_JOINTS, SequenceFrames, sequence_frames
from heatpose.evaluation.poseval_match import SHORT_GROUPS, group_means, voc_ap
from heatpose.evaluation.topdown import TopdownCocoEvaluator

__all__ = ["POSEVAL_JOINTS", "voc_ap", "load_posetrack_videos", "evaluate_posetrack18",
           "posetrack_gt_folder", "PoseTrack18Evaluator"]


def load_posetrack_videos(gt: Union[str, Path, dict, Sequence[dict]]) -> List[Tuple[str, dict]]:
    """Ground truth as ``[(name, video_dict)]``: a folder of per-video PoseTrack18 JSON files
    (sorted by name), one such file, one dict, or a list of dicts or of (name, dict)."""
    if isinstance(gt, (str, Path)):
        p = Path(gt)
        files = sorted(glob.glob(os.path.join(str(p), "*.json"))) if p.is_dir() else [str(p)]
        if not files:
            raise InputError(f"{p}: no PoseTrack18 .json files found")
        return [(f, load_json(f, "PoseTrack18 annotation file")) for f in files]
    if isinstance(gt, dict):
        return [("annotations", gt)]
    return [v if isinstance(v, tuple) else (f"video #{i}", v) for i, v in enumerate(gt)]


def _prediction_video(video: dict, predictions: Mapping) -> dict:
    """The prediction file MMPose's PoseTrack18Metric writes for one ground-truth video."""
    anns = []
    for img in video.get("images", []):
        for track_id, p in enumerate(predictions.get(img.get("id"), [])):
            kp = np.asarray(p["keypoints"] if isinstance(p, dict) else p, dtype=np.float64)
            if kp.ndim != 2 or kp.shape[1] != 3:
                raise InputError(f"predictions for image {img.get('id')}: pose #{track_id} "
                                 f"must be (K, 3) [x, y, score], got shape {kp.shape}")
            anns.append({"image_id": img["id"], "keypoints": kp.reshape(-1).tolist(),
                         "scores": kp[:, 2].tolist(), "track_id": track_id})
    return {"images": video.get("images", []), "annotations": anns,
            "categories": video.get("categories")}


def evaluate_posetrack18(gt, predictions: Mapping[object, Sequence]) -> Dict[str, float]:
    """PoseTrack18 per-joint-group AP in percent (MMPose names ``Head AP`` ... ``AP``).

    Args:
        gt: PoseTrack18 ground truth (see :func:`load_posetrack_videos`).
        predictions: image id -> poses; a pose is (K, 3) [x, y, score] (image pixels, the
            dataset's keypoint order) or a dict with ``keypoints``.

    Returns:
        ``{'Head AP', 'Shou AP', 'Elb AP', 'Wri AP', 'Hip AP', 'Knee AP', 'Ankl AP', 'AP'}``.
    """
    seqs = [SequenceFrames(name, sequence_frames(video, _prediction_video(video, predictions),
                                                 name, f"predictions for {name}"))
            for name, video in load_posetrack_videos(gt)]
    ap = evaluate_sequences(seqs, tracking=False, per_sequence=False).ap.ap
    out = {f"{g} AP": v for g, v in zip(SHORT_GROUPS, group_means(ap))}
    out["AP"] = float(ap[-1])
    return out


def posetrack_gt_folder(ann_file: Union[str, Path]) -> Path:
    """MMPose's rule: ``.../posetrack18_val.json`` -> the per-video folder ``.../val/``."""
    ann_file = str(ann_file)
    return Path(os.path.dirname(ann_file)) / os.path.splitext(ann_file.split("_")[-1])[0]


class PoseTrack18Evaluator(TopdownCocoEvaluator):
    """Top-down PoseTrack18 evaluation: rescoring + OKS-NMS as CocoMetric, then poseval AP.

    Args:
        gt: the per-video ground truth (folder, file, dict or list of dicts).
        sigmas: PoseTrack18 OKS sigmas (for NMS).
    """

    def __init__(self, gt, sigmas: Sequence[float], **kwargs) -> None:
        super().__init__(None, sigmas, **kwargs)
        self.videos = load_posetrack_videos(gt)

    def evaluate(self) -> Dict[str, float]:
        kept = self.kept_instances()
        preds = {img: [inst["keypoints"] for inst in insts] for img, insts in kept.items()}
        return evaluate_posetrack18(self.videos, preds)
