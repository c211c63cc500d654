"""The metrics of a model-zoo dataset's test split, from per-instance top-down predictions,
as MMPose 1.3.2's test evaluator of that dataset's configs computes them, and the model-zoo
("seed") table view of them.

    records (heatpose.data.readers) + InstancePredictions (same order)
        --> evaluate_dataset(dataset, records, predictions, ann_file)  {MMPose metric name: value}
        --> seed_table(preset, metrics, setting)                       rows shaped like the zoo's

Families (dataset -> evaluator of the zoo configs):

- COCO-style OKS AP/AR (``CocoMetric``: box score x mean keypoint score > 0.2, OKS-NMS 0.9):
  coco, ochuman, aic, mhp, halpe (Whole AP/AR), crowdpose (+ AP(E)/AP(M)/AP(H)), humanart,
  exlpose, coco_aic (tested on COCO), coco_wholebody / ubody (``CocoWholeBodyMetric``: per-part
  ``<Part> AP``/``AR`` plus whole-body ``AP``...); needs the COCO annotation file.
  posetrack18: the same rescoring/NMS, then poseval AP per joint group
  (ground truth: the per-video folder next to ``ann_file``, MMPose's rule).
- mpii: PCKh@0.5 per joint group, Mean and Mean@0.1 (percent; needs ``head_size`` on the
  records, i.e. a head-box file); mpii_trb: skeleton / contour / mean accuracy (fractions).
- jhmdb: PCK@0.2 per joint group normalised by the box (``<Group> PCK``, ``PCK``) and by the
  torso (``<Group> tPCK``, ``tPCK``); deepfashion_*/deepfashion2: ``PCK`` (@0.2, box), ``AUC``
  (30 px, 20 thresholds), ``EPE`` (pixels).

Metric names: one scheme for ``heatpose test``, ``heatpose eval --json``, training logs and
``metrics.json``. COCO-style ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR``, ``AR50``,
``AR75``, ``ARm``, ``ARl`` (MMPose's ``AP .5``, ``AP (M)``, ... renamed,
:data:`heatpose.evaluation.coco_eval.SHORT_NAMES`); CrowdPose ``AP(E)``, ``AP(M)``, ``AP(H)``
(crowd levels); ``<Group> AP`` (PoseTrack18); ``PCK``, ``<Group> PCK``, ``PCK@0.1``, ``tPCK``,
``<Group> tPCK``, ``AUC``, ``EPE`` (PCK family as MMPose names them; MPII's ``PCK`` is PCKh);
``Skeleton_acc``, ``Contour_acc``, ``PCKh`` (MPII-TRB).

Metric values keep MMPose's units (fractions, except MPII PCKh and PoseTrack AP in percent and
EPE in pixels); :func:`seed_table` converts them to the unit of the zoo's table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.finite import nonfinite_rows

PathLike = Union[str, Path]

COCO_STYLE = ("coco", "ochuman", "aic", "mhp", "halpe", "crowdpose", "humanart", "exlpose",
              "coco_aic", "coco_wholebody", "ubody")
PCK_STYLE = ("deepfashion_upper", "deepfashion_lower", "deepfashion_full", "deepfashion2")
SUPPORTED = COCO_STYLE + PCK_STYLE + ("posetrack18", "mpii", "mpii_trb", "jhmdb")
# a training dataset whose test split is another dataset's (MMPose's coco-aic "combine" models
# are tested on COCO val2017 with the COCO keypoints and sigmas)
TEST_DATASET = {"coco_aic": "coco"}
_WHOLEBODY_PARTS = ("Body", "Foot", "Face", "Hand")
# datasets whose zoo tables print accuracies in percent (the others print fractions)
TABLE_PERCENT = ("posetrack18", "jhmdb", "deepfashion_upper", "deepfashion_lower",
                 "deepfashion_full")
# MMPose metrics reported in percent; EPE is in pixels; everything else is a fraction
NATIVE_PERCENT = ("posetrack18", "mpii")
_JHMDB = ("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank")
_MPII = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")


@dataclass
class InstancePredictions:
    """Predictions for N test instances, in the order of their records.

    keypoints: (N, K, 2) float32 image pixels (x, y); scores: (N, K) float32 heatmap maxima;
    bbox_scales: (N, 2) the crop window (w, h) in pixels (padded, aspect-fixed), whose product
    is the instance area OKS-NMS uses (MMPose's ``bbox_scales``); None = keypoint extent.
    visibility: (N, K) visibility-head probabilities, else None.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    bbox_scales: Optional[np.ndarray] = None
    visibility: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass
class TableRow:
    """One zoo-table row: its title (the zoo's split / normalisation), columns, heatpose's
    values and the zoo's (None where the zoo lists none) in the table's unit."""

    title: str
    columns: List[str]
    values: List[float]
    zoo: List[Optional[float]]
    percent: bool

    def to_dict(self) -> Dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "values": self.values,
                "zoo": self.zoo, "unit": "percent" if self.percent else "fraction"}


def family(dataset: str) -> str:
    """'coco', 'crowdpose', 'halpe', 'posetrack18', 'mpii', 'mpii_trb', 'jhmdb' or 'pck'."""
    if dataset not in SUPPORTED:
        raise InputError(f"dataset {dataset!r} has no test evaluation; supported: "
                         f"{', '.join(SUPPORTED)}")
    if dataset in ("crowdpose", "halpe", "posetrack18", "mpii", "mpii_trb", "jhmdb"):
        return dataset
    if dataset in ("coco_wholebody", "ubody"):
        return "coco_wholebody"
    return "pck" if dataset in PCK_STYLE else "coco"


def _check(records: Sequence[Any], predictions: InstancePredictions) -> None:
    n = len(records)
    kp, sc = np.asarray(predictions.keypoints), np.asarray(predictions.scores)
    if kp.ndim != 3 or kp.shape[0] != n or kp.shape[2] != 2 or sc.shape != kp.shape[:2]:
        raise InputError(f"predictions: expected keypoints (N={n}, K, 2) and scores (N, K) in "
                         f"record order, got {kp.shape} and {sc.shape}")
    if n == 0:
        raise InputError("no test instances to evaluate (the annotation file lists none)")
    bad = nonfinite_rows(kp) | nonfinite_rows(sc)
    if bad.any():
        r = records[int(np.argmax(bad))]
        raise InputError(f"predictions: record ann_id {r.ann_id} ({r.img_path}): keypoints or "
                         f"scores hold NaN or infinity ({int(bad.sum())} of {n} records)")


def _coco_evaluator(dataset: str, records: Sequence[Any], predictions: InstancePredictions,
                    ann_file: Optional[PathLike], sigmas: Sequence[float]) -> Any:
    """A TopdownCocoEvaluator (PoseTrack18Evaluator) holding every instance."""
    from heatpose.evaluation.api import coco_settings
    from heatpose.evaluation.posetrack_eval import PoseTrack18Evaluator, posetrack_gt_folder
    from heatpose.evaluation.topdown import TopdownCocoEvaluator

    if dataset == "posetrack18":
        if ann_file is None:
            raise InputError("posetrack18: evaluation needs the annotation file (its per-video "
                             "folder holds the ground truth)")
        folder = posetrack_gt_folder(ann_file)
        if not folder.is_dir():
            raise InputError(f"{folder}: PoseTrack18 per-video ground-truth folder not found "
                             f"(MMPose's rule: next to {ann_file}, named for its last '_' part)")
        ev: Any = PoseTrack18Evaluator(str(folder), sigmas)
    else:
        settings = coco_settings(dataset)
        ev = TopdownCocoEvaluator(None if ann_file is None else str(ann_file), sigmas,
                                  use_area=bool(settings["use_area"]),
                                  iou_type=str(settings["iou_type"]))
    scales = predictions.bbox_scales
    for i, rec in enumerate(records):
        ev.process(rec.ann_id, rec.img_id, predictions.keypoints[i][None],
                   predictions.scores[i][None], bboxes=np.asarray(rec.bbox)[None],
                   bbox_scores=np.asarray([rec.bbox_score], np.float32),
                   bbox_scales=None if scales is None else np.asarray(scales[i])[None],
                   category_id=int(rec.category_id))
    return ev


def _gt_arrays(records: Sequence[Any]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt = np.stack([r.keypoints for r in records]).astype(np.float32)
    mask = np.stack([r.keypoints_visible for r in records]) > 0
    boxes = np.stack([r.bbox for r in records]).astype(np.float32)
    return gt, mask, boxes


def _extras(records: Sequence[Any], key: str, need: str) -> np.ndarray:
    missing = [r for r in records if key not in r.extras]
    if missing:
        r = missing[0]
        raise InputError(f"record ann_id {r.ann_id} ({r.img_path}) has no '{key}': {need}")
    return np.stack([np.asarray(r.extras[key], np.float64) for r in records])


def evaluate_with_results(dataset: str, records: Sequence[Any],
                          predictions: InstancePredictions, ann_file: Optional[PathLike] = None,
                          sigmas: Optional[Sequence[float]] = None
                          ) -> Tuple[Dict[str, float], List[dict]]:
    """:func:`evaluate_dataset` plus the COCO keypoint results it scored.

    Results: for COCO-style datasets and PoseTrack18 the rescored instances left after OKS-NMS
    (MMPose's ``*.keypoints.json``); for the others every instance, scored as CocoMetric
    rescores (box score x mean of the keypoint scores above 0.2)."""
    _check(records, predictions)
    fam = family(dataset)
    dataset = TEST_DATASET.get(dataset, dataset)
    k = np.asarray(predictions.keypoints).shape[1]
    if sigmas is None or (fam != "pck" and sigmas and len(sigmas) != k):
        from heatpose.schema import get_schema

        sigmas = get_schema(dataset).sigmas          # (the training schema's may not apply)
    sigmas = list(sigmas or [])
    if fam in ("coco", "crowdpose", "halpe", "posetrack18", "coco_wholebody"):
        if fam != "posetrack18" and ann_file is None:
            raise InputError(f"{dataset}: COCO-style evaluation needs the annotation file")
        ev = _coco_evaluator(dataset, records, predictions, ann_file, sigmas)
        metrics = {k: float(v) for k, v in ev.evaluate().items()}
        return metrics, ev.results()
    pred = np.asarray(predictions.keypoints, np.float32)
    gt, mask, boxes = _gt_arrays(records)
    if fam == "pck":
        from heatpose.evaluation.pck import pck_auc_epe

        out = pck_auc_epe(pred, gt, mask, boxes, thr=0.2)
    elif fam == "jhmdb":
        from heatpose.evaluation.pck import jhmdb_pck

        out = jhmdb_pck(pred, gt, mask, boxes, thr=0.2)
    elif fam == "mpii":
        from heatpose.evaluation.pck import mpii_pckh

        sizes = _extras(records, "head_size", "MPII PCKh needs head sizes; read the "
                        "annotations with the head-box file (mpii_gt_val.mat)")
        out = mpii_pckh(pred, gt, mask, sizes)
    else:
        from heatpose.evaluation.pck import mpii_trb_accuracy

        heads = _extras(records, "headbox", "MPII-TRB accuracy needs the annotation's head box")
        out = mpii_trb_accuracy(pred, gt, mask, heads)
    metrics = {k: float(v) for k, v in out.items()}
    return metrics, _plain_results(records, predictions)


def _plain_results(records: Sequence[Any], predictions: InstancePredictions) -> List[dict]:
    """COCO results of every instance, no NMS (PCK-family datasets)."""
    from heatpose.evaluation.topdown import TopdownCocoEvaluator

    ev = TopdownCocoEvaluator(None, [], nms_mode="none")
    for i, rec in enumerate(records):
        ev.process(rec.ann_id, rec.img_id, predictions.keypoints[i][None],
                   predictions.scores[i][None], bboxes=np.asarray(rec.bbox)[None],
                   bbox_scores=np.asarray([rec.bbox_score], np.float32),
                   category_id=int(rec.category_id))
    return ev.results()


def evaluate_dataset(dataset: str, records: Sequence[Any], predictions: InstancePredictions,
                     ann_file: Optional[PathLike] = None,
                     sigmas: Optional[Sequence[float]] = None) -> Dict[str, float]:
    """The test metrics of a zoo dataset, named and valued as MMPose 1.3.2 reports them.

    Args:
        dataset: zoo dataset / schema name (``preset.dataset``: coco, crowdpose, mpii, ...).
        records: the test instances (:func:`heatpose.data.readers.read_dataset`; with a
            detection file for det-box COCO-style tests).
        predictions: one prediction per record, same order.
        ann_file: the annotation file the records came from (COCO-style datasets score
            against it; PoseTrack18 finds its per-video folder from it).
        sigmas: OKS sigmas (default: the dataset schema's).

    Returns:
        ``{name: value}``: COCO ``AP``, ``AP50``, ... ``ARl`` (CrowdPose: ``AP(E)`` ...);
        PoseTrack18 ``Head AP`` ... ``AP``; MPII ``Head PCK`` ... ``PCK``, ``PCK@0.1``;
        MPII-TRB ``Skeleton_acc``, ``Contour_acc``, ``PCKh``; JHMDB ``Head PCK`` ... ``PCK``,
        ``Head tPCK`` ... ``tPCK``; fashion ``PCK``, ``AUC``, ``EPE``.
    """
    return evaluate_with_results(dataset, records, predictions, ann_file, sigmas)[0]


def predictions_from_dicts(records: Sequence[Any], preds: Sequence[Dict[str, Any]]
                           ) -> InstancePredictions:
    """Align per-instance dicts (``img_id``, ``ann_id``, ``keypoints`` (K, 2), ``scores`` (K,),
    optional ``scale`` (2,)), e.g. gathered validation outputs, to ``records``' order."""
    by_key = {(p["img_id"], p["ann_id"]): p for p in preds}
    try:
        rows = [by_key[(r.img_id, r.ann_id)] for r in records]
    except KeyError as err:
        raise InputError(f"predictions: none for record (img_id, ann_id) = {err}") from None
    scales = None
    if all("scale" in p for p in rows):
        scales = np.stack([np.asarray(p["scale"], np.float32) for p in rows])
    return InstancePredictions(np.stack([p["keypoints"] for p in rows]).astype(np.float32),
                               np.stack([p["scores"] for p in rows]).astype(np.float32), scales)


# --------------------------------------------------------------------------- zoo table
def table_columns(dataset: str) -> List[Tuple[str, List[Tuple[str, str]], Optional[str]]]:
    """Rows of the zoo table for a dataset: (title suffix, [(column, metric name)], note
    keyword identifying the zoo row, or None)."""
    fam = family(dataset)
    if fam == "coco":
        return [("", [("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("AR", "AR"),
                      ("AR50", "AR50")], None)]
    if fam == "crowdpose":
        return [("", [("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("AR", "AR"),
                      ("AR50", "AR50"), ("AP (E)", "AP(E)"), ("AP (M)", "AP(M)"),
                      ("AP (H)", "AP(H)")], None)]
    if fam == "halpe":
        return [("", [("Whole AP", "AP"), ("Whole AR", "AR")], None)]
    if fam == "coco_wholebody":     # hands: xtcocotools scores left and right separately
        return [("Hand: the mean of the left and right hands, as the COCO-WholeBody benchmark",
                 [(f"{p} {m}", f"{p} {m}") for p in _WHOLEBODY_PARTS for m in ("AP", "AR")]
                 + [("Whole AP", "AP"), ("Whole AR", "AR")], None)]
    if fam == "posetrack18":
        from heatpose.evaluation.poseval_match import SHORT_GROUPS

        return [("", [(g, f"{g} AP") for g in SHORT_GROUPS] + [("Total", "AP")], None)]
    if fam == "mpii":
        return [("", [(g, f"{g} PCK") for g in _MPII] + [("Mean", "PCK"),
                                                           ("Mean@0.1", "PCK@0.1")], None)]
    if fam == "mpii_trb":
        return [("", [("Skeleton Acc", "Skeleton_acc"), ("Contour Acc", "Contour_acc"),
                      ("Mean Acc", "PCKh")], None)]
    if fam == "jhmdb":
        return [("PCK@0.2 normalised by person (bbox) size",
                 [(g, f"{g} PCK") for g in _JHMDB] + [("Mean", "PCK")], "bbox"),
                ("tPCK@0.2 normalised by torso size",
                 [(g, f"{g} tPCK") for g in _JHMDB] + [("Mean", "tPCK")], "torso")]
    return [("", [("PCK@0.2", "PCK"), ("AUC", "AUC"), ("EPE", "EPE")], None)]


def to_table_unit(dataset: str, metric: str, value: float) -> float:
    """A metric value (MMPose's unit) in the unit of the dataset's zoo table."""
    if metric == "EPE":
        return value
    native_pct = family(dataset) in NATIVE_PERCENT
    table_pct = dataset in TABLE_PERCENT
    if native_pct and not table_pct:
        return value / 100.0
    if table_pct and not native_pct:
        return value * 100.0
    return value


def seed_table(preset: Any, metrics: Dict[str, float], setting: str) -> List[TableRow]:
    """Zoo-shaped rows: heatpose's metrics next to the preset's published ``setting`` results
    (``'gt_boxes'`` / ``'det_boxes'``; zoo values None where it publishes none)."""
    dataset = preset.dataset
    rows = []
    for suffix, cols, note_key in table_columns(dataset):
        zoo_row = None
        for r in preset.results:
            if r.setting == setting and (note_key is None or note_key in (r.note or "")):
                zoo_row = r
                break
        split = zoo_row.dataset_split if zoo_row else (preset.results[0].dataset_split
                                                       if preset.results else dataset)
        title = split + (f", {suffix}" if suffix else "")
        if zoo_row is None:
            title += f" (the zoo lists no {setting.replace('_', ' ')} result)"
        values = [to_table_unit(dataset, m, metrics[m]) if m in metrics else float("nan")
                  for _, m in cols]
        zoo = [None if zoo_row is None else zoo_row.metrics.get(c) for c, _ in cols]
        rows.append(TableRow(title, [c for c, _ in cols], values, zoo, dataset in TABLE_PERCENT))
    return rows


def format_table(rows: Sequence[TableRow]) -> str:
    """Plain-text table: per row a header line, then 'heatpose' and 'zoo' lines."""
    lines = []
    for row in rows:
        width = max(8, *(len(c) + 1 for c in row.columns))
        lines.append(row.title)
        lines.append(" " * 10 + "".join(f"{c:>{width}}" for c in row.columns))
        for label, vals in (("heatpose", row.values), ("zoo", row.zoo)):
            cells = []
            for col, v in zip(row.columns, vals):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    cells.append(f"{'-':>{width}}")
                elif col == "EPE" or row.percent:
                    cells.append(f"{v:>{width}.2f}")
                else:
                    cells.append(f"{v:>{width}.4f}")
            lines.append(f"{label:<10}" + "".join(cells))
    return "\n".join(lines)
