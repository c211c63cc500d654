"""CLEAR-MOT counting as poseval gets it from py-motmetrics (``MOTAccumulator.update``), one
accumulator per joint and sequence, and poseval's MOTA / MOTP / precision / recall.

Per frame: (1) every object whose last matched hypothesis is present again with a matchable
distance keeps it (MATCH); (2) the remaining pairs are assigned by the Hungarian method on the
distances (NaN/inf = may not pair, replaced by a large cost as motmetrics does); an assigned
object whose last matched hypothesis differs is an identity SWITCH, else a MATCH; (3) objects
left are misses, hypotheses left are false positives.

poseval's MOTP divides the sum of *all* distances motmetrics records (every finite pair as a
RAW event, plus MATCH, SWITCH and the ASCEND / TRANSFER / MIGRATE sub-events) by the number of
detections: MOTP = 100 (1 - sum / detections). MOTA = 100 (1 - (misses + switches + false
positives) / objects); precision = 100 detections / (detections + false positives); recall =
100 detections / objects (detections = matches + switches). Undefined ratios are NaN (MOTP: 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from heatpose.errors import InputError
from heatpose.evaluation.poseval_match import nan_mean

COUNTS = ("num_objects", "num_detections", "num_misses", "num_false_positives",
          "num_switches", "sum_dist")


def _assign(dist: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Minimum-cost pairs of a (N, M) matrix with NaN/inf for forbidden pairs (motmetrics'
    scipy route: forbidden -> large finite cost, forbidden pairs dropped afterwards)."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise InputError("PoseTrack tracking metrics need scipy (pip install scipy)") from None
    if dist.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    valid = np.isfinite(dist)
    if valid.all():
        cost = dist.copy()
    elif not valid.any():
        cost = np.zeros_like(dist)
    else:
        c = np.abs(dist[valid]).max() + 1
        cost = np.where(valid, dist, 2 * min(dist.shape) * c + 1)
    rows, cols = linear_sum_assignment(cost)
    ok = valid[rows, cols]
    return rows[ok], cols[ok]


@dataclass
class JointAccumulator:
    """motmetrics' ``MOTAccumulator`` reduced to the counts poseval reads."""
    num_objects: int = 0
    num_matches: int = 0
    num_switches: int = 0
    num_misses: int = 0
    num_false_positives: int = 0
    sum_dist: float = 0.0
    last_hyp: Dict[int, int] = field(default_factory=dict)     # object -> last matched hyp
    last_obj: Dict[int, int] = field(default_factory=dict)     # hyp -> object (step 2 only)
    matched_objs: set = field(default_factory=set)
    matched_hyps: set = field(default_factory=set)

    def update(self, oids: np.ndarray, hids: np.ndarray, dist: np.ndarray) -> None:
        """One frame: object ids (N,), hypothesis ids (M,), distances (N, M), NaN = no pair."""
        dist = np.asarray(dist, dtype=np.float64).reshape(len(oids), len(hids)).copy()
        self.sum_dist += float(dist[np.isfinite(dist)].sum())
        self.num_objects += len(oids)
        o_done = np.zeros(len(oids), dtype=bool)
        h_done = np.zeros(len(hids), dtype=bool)
        if len(oids) and len(hids):
            for i, o in enumerate(oids.tolist()):
                if o not in self.last_hyp:
                    continue
                js = np.flatnonzero(~h_done & (hids == self.last_hyp[o]))
                if len(js) and np.isfinite(dist[i, js[0]]):
                    j = js[0]
                    o_done[i] = h_done[j] = True
                    self.num_matches += 1
                    self.sum_dist += dist[i, j]
                    self.matched_objs.add(o)
                    self.matched_hyps.add(int(hids[j]))
            dist[o_done, :] = np.nan
            dist[:, h_done] = np.nan
            for i, j in zip(*_assign(dist)):
                o, h, d = int(oids[i]), int(hids[j]), dist[i, j]
                if o in self.last_hyp and self.last_hyp[o] != h:
                    self.num_switches += 1
                    self.sum_dist += d * (2 if h not in self.matched_hyps else 1)
                else:
                    self.num_matches += 1
                    self.sum_dist += d
                if h in self.last_obj and self.last_obj[h] != o:       # TRANSFER (+ MIGRATE)
                    self.sum_dist += d * (2 if o not in self.matched_objs else 1)
                self.matched_hyps.add(h)
                self.matched_objs.add(o)
                o_done[i] = h_done[j] = True
                self.last_hyp[o] = h
                self.last_obj[h] = o
        self.num_misses += int((~o_done).sum())
        self.num_false_positives += int((~h_done).sum())

    @property
    def num_detections(self) -> int:
        return self.num_matches + self.num_switches

    def counts(self) -> np.ndarray:
        return np.array([getattr(self, k) for k in COUNTS], dtype=np.float64)


def mot_metrics(counts: np.ndarray) -> Dict[str, np.ndarray]:
    """poseval's final metrics from (15, 6) counts (COUNTS order): mota, motp, pre, rec as
    arrays of 16 (15 joints + mean of the joints that are not NaN), percent."""
    obj, det, miss, fp, sw, sd = counts.T
    with np.errstate(divide="ignore", invalid="ignore"):
        n_obj = np.where(obj > 0, obj, np.nan)
        total = np.where(fp + det > 0, fp + det, np.nan)
        out = {"mota": 100 * (1. - (miss + sw + fp) / n_obj),
               "motp": np.where((det == 0) | np.isnan(sd), 0.0, 100 * (1. - sd / det)),
               "pre": 100 * (1. * det / total),
               "rec": 100 * (1. * det / n_obj)}
    for k, v in out.items():
        out[k] = np.append(v, nan_mean(v))
    return out
