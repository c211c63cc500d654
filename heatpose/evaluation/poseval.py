"""PoseTrack18 multi-person pose AP and tracking MOTA as the official ``poseval`` computes them
(``python -m poseval.evaluate -e -t``), without poseval, shapely, pandas or motmetrics
(the tracking metrics use scipy's assignment solver, as motmetrics does: ``pip install scipy``).

- Reading the files: :mod:`heatpose.evaluation.poseval_data`; per-frame matching and AP:
  :mod:`heatpose.evaluation.poseval_match`; identity tracking counts: :mod:`.poseval_mot`.
- AP pools every labeled frame of every sequence. Tracking runs one accumulator per joint and
  sequence over the sequence's labeled frames except the last one (poseval leaves it out; a
  sequence with a single labeled frame adds nothing, where poseval stops with an error);
  counts are summed over sequences, metrics computed per joint and averaged.
- All numbers are percent, as poseval prints and saves them.

``evaluate_folders(gt_dir, pred_dir)`` -> :class:`PosevalResult` (``to_json()``,
``format_table()``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from heatpose.evaluation.poseval_data import JOINT_NAMES, NJ, SequenceFrames, folder_pairs
from heatpose.evaluation.poseval_match import (GROUPS, SHORT_GROUPS, APResult,
                                               average_precision, group_means, match_frame)
from heatpose.evaluation.poseval_mot import COUNTS, JointAccumulator, mot_metrics

TABLE_GROUPS = SHORT_GROUPS + ("Total",)
JOINT_SHORT = ("rAnk", "rKne", "rHip", "lHip", "lKne", "lAnk", "rWri", "rElb", "rSho", "lSho",
               "lElb", "lWri", "Neck", "Nose", "HTop")


def _num(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _per_joint(values: np.ndarray) -> Dict[str, Optional[float]]:
    return {n: _num(v) for n, v in zip(JOINT_NAMES, values[:NJ])}


@dataclass
class PosevalResult:
    """AP (always) and tracking metrics (``mot``: None unless requested), percent.

    ap: :class:`APResult` (arrays of 16 = 15 joints + total); mot: ``{'mota', 'motp', 'pre',
    'rec'}`` arrays of 16; mot_counts: (15, 6) in ``COUNTS`` order; per_sequence: name ->
    ``{'ap', 'ap_precision', 'ap_recall'[, 'mot_mota', 'mot_motp', 'mot_pre', 'mot_rec']}``.
    """
    ap: APResult
    mot: Optional[Dict[str, np.ndarray]] = None
    mot_counts: Optional[np.ndarray] = None
    per_sequence: Dict[str, Dict[str, List[Optional[float]]]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """One JSON-ready dict (NaN -> null), the layout of the shared poseval reference."""
        ap = self.ap
        out: dict = {
            "joint_order": list(JOINT_NAMES),
            "ap": {"per_joint": _per_joint(ap.ap),
                   "groups": {g: _num(v) for g, v in zip(GROUPS, group_means(ap.ap))},
                   "total": _num(ap.ap[NJ]),
                   "precision_per_joint": _per_joint(ap.precision),
                   "precision_total": _num(ap.precision[NJ]),
                   "recall_per_joint": _per_joint(ap.recall),
                   "recall_total": _num(ap.recall[NJ])},
            "mot": None,
            "counts": {"ap": {"n_gt": ap.n_gt.astype(int).tolist(), "n_pred": ap.n_pred.tolist(),
                              "n_tp": ap.n_tp.tolist()}},
            "per_sequence": self.per_sequence,
        }
        if self.mot is not None:
            m = self.mot
            groups = {g: _num(v) for g, v in zip(GROUPS, group_means(m["mota"]))}
            out["mot"] = {"mota_per_joint": _per_joint(m["mota"]), "mota_groups": groups,
                          "mota_total": _num(m["mota"][NJ]), "motp_total": _num(m["motp"][NJ]),
                          "precision_total": _num(m["pre"][NJ]), "recall_total": _num(m["rec"][NJ]),
                          "motp_per_joint": _per_joint(m["motp"]),
                          "precision_per_joint": _per_joint(m["pre"]),
                          "recall_per_joint": _per_joint(m["rec"])}
            out["counts"]["mot"] = {k: (self.mot_counts[:, i].tolist() if k == "sum_dist"
                                        else self.mot_counts[:, i].astype(int).tolist())
                                    for i, k in enumerate(COUNTS)}
        return out

    def format_table(self) -> str:
        """poseval's printed tables (per joint group), then one table per metric per joint."""
        lines = ["Average Precision (AP) metric:", _header(TABLE_GROUPS),
                 _row(group_means(self.ap.ap) + [self.ap.ap[NJ]])]
        rows = [("AP", self.ap.ap), ("AP precision", self.ap.precision),
                ("AP recall", self.ap.recall)]
        if self.mot is not None:
            m = self.mot
            lines += ["Multiple Object Tracking (MOT) metrics:",
                      _header(("MOTA",) * 8 + ("MOTP", "Prec", "Rec")),
                      _header(TABLE_GROUPS + ("Total",) * 3),
                      _row(group_means(m["mota"]) + [m["mota"][NJ], m["motp"][NJ], m["pre"][NJ],
                                                     m["rec"][NJ]])]
            rows += [("MOTA", m["mota"]), ("MOTP", m["motp"]), ("MOT precision", m["pre"]),
                     ("MOT recall", m["rec"])]
        for name, vals in rows:
            lines += [f"{name} per joint:", _header(JOINT_SHORT + ("Total",)), _row(list(vals))]
        return "\n".join(lines)


def _header(names: Sequence[str]) -> str:
    """poseval's header cells: ' Head &', ' Elb  &', ' Total&', last one ending in '\\\\'."""
    last = len(names) - 1
    return "&" + "".join(" " + n.ljust(4) + (" " if len(n) <= 4 else "")
                         + ("&" if i < last else "\\\\") for i, n in enumerate(names))


def _row(values: Sequence[float]) -> str:
    """poseval's ``getFormatRow``: '& 86.5 & ...  88.2 \\\\'."""
    cells = ["{:>5}".format("%1.1f" % v) for v in values]
    return "&" + "".join(c + " &" for c in cells[:-1]) + cells[-1] + " \\\\"


def _seq_lists(*arrays: np.ndarray) -> List[List[Optional[float]]]:
    return [[_num(v) for v in a] for a in arrays]


def evaluate_sequences(sequences: Sequence[SequenceFrames], tracking: bool = True,
                       per_sequence: bool = True) -> PosevalResult:
    """AP (and, with ``tracking``, MOT metrics) of already-read sequences."""
    matches = [[match_frame(f) for f in s.frames] for s in sequences]
    result = PosevalResult(average_precision([m for ms in matches for m in ms]))
    if per_sequence:
        for s, ms in zip(sequences, matches):
            if ms:
                a = average_precision(ms)
                keys = ("ap", "ap_precision", "ap_recall")
                result.per_sequence[s.name] = dict(zip(keys, _seq_lists(a.ap, a.precision,
                                                                        a.recall)))
    if not tracking:
        return result
    counts = np.zeros((NJ, len(COUNTS)))
    for s, ms in zip(sequences, matches):
        if len(ms) < 2:
            continue
        accs = [JointAccumulator() for _ in range(NJ)]
        for m in ms[:-1]:                       # poseval leaves out the last labeled frame
            for j in range(NJ):
                accs[j].update(*m.mot[j])
        seq_counts = np.stack([a.counts() for a in accs])
        counts += seq_counts
        if per_sequence:
            sm = mot_metrics(seq_counts)
            result.per_sequence.setdefault(s.name, {}).update(
                dict(zip(("mot_mota", "mot_motp", "mot_pre", "mot_rec"),
                         _seq_lists(sm["mota"], sm["motp"], sm["pre"], sm["rec"]))))
    result.mot, result.mot_counts = mot_metrics(counts), counts
    return result


def evaluate_folders(gt_dir: Union[str, Path], pred_dir: Union[str, Path],
                     tracking: bool = True) -> PosevalResult:
    """poseval on two folders of PoseTrack18 per-sequence JSON files (same file names).

    Args:
        gt_dir: ground truth (``*.json``, one per sequence).
        pred_dir: predictions, the same file names; every person with ``keypoints``, ``scores``
            and ``track_id``.
        tracking: also compute MOTA, MOTP, precision and recall.
    """
    return evaluate_sequences(folder_pairs(gt_dir, pred_dir), tracking=tracking)


def print_report(gt_dir: Union[str, Path], pred_dir: Union[str, Path],
                 as_json: bool = False) -> int:
    """``heatpose eval --posetrack``: print the tables (or one JSON object); returns 0."""
    result = evaluate_folders(gt_dir, pred_dir)
    print(json.dumps(result.to_json()) if as_json else result.format_table())
    return 0
