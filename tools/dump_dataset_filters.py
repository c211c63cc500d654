"""Which instances MMPose 1.3.2's datasets keep under ``sample_interval`` and
``filter_cfg=dict(bbox_score_thr=...)``, for tests/test_recipe_data_settings.py.

Runs ONLY with the MMPose peer (``/work/peer/bin/peer-python tools/dump_dataset_filters.py``);
writes ``tests/fixtures/mmpose_dataset_filters.json``:

* ``sample_interval``: ``{"<Dataset> <interval>": [[img_id, ...], ...]}`` the image ids of the
  instances ``CocoDataset`` / ``UBody2dDataset`` list (train mode) on MMPose's test files.
* ``bbox_score_thr``: ``{"<thr>": [[img_id, id, score], ...]}`` the detection instances
  ``PoseTrack18Dataset`` (test mode, bbox_file) keeps; thresholds include a score of the file.
"""
from __future__ import annotations

import json
import os.path as osp

from mmpose.datasets import CocoDataset, PoseTrack18Dataset, UBody2dDataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
T = osp.join(osp.dirname(ROOT), "shared", "data", "mmpose_tests")
OUT = osp.join(ROOT, "tests", "fixtures", "mmpose_dataset_filters.json")


def main() -> None:
    out = {"sample_interval": {}, "bbox_score_thr": {}}
    for cls, ann in ((CocoDataset, "coco/test_coco.json"),
                     (UBody2dDataset, "coco/test_coco_wholebody.json")):
        for n in (1, 2, 3, 5):
            ds = cls(ann_file=osp.join(T, ann), data_root="", data_mode="topdown",
                     sample_interval=n, serialize_data=False, lazy_init=False, test_mode=False)
            out["sample_interval"][f"{cls.__name__} {n}"] = [int(d["img_id"]) for d in ds.data_list]
    dets = json.load(open(osp.join(T, "posetrack18", "annotations", "test_posetrack18_human_detections.json")))
    scores = sorted(d["score"] for d in dets if d["category_id"] == 1)
    for thr in (None, 0.4, scores[len(scores) // 2], 0.9):
        ds = PoseTrack18Dataset(
            ann_file=osp.join(T, "posetrack18", "annotations", "test_posetrack18_val.json"),
            bbox_file=osp.join(T, "posetrack18", "annotations", "test_posetrack18_human_detections.json"),
            data_root="", data_mode="topdown", test_mode=True, serialize_data=False,
            filter_cfg=None if thr is None else dict(bbox_score_thr=thr))
        out["bbox_score_thr"][repr(thr)] = [[int(d["img_id"]), int(d["id"]), float(d["bbox_score"][0])]
                                            for d in ds.data_list]
    with open(OUT, "w") as f:
        json.dump(out, f)
    print(f"wrote {OUT}: " + ", ".join(f"{k}: {len(v)}" for part in out.values()
                                       for k, v in part.items()))


if __name__ == "__main__":
    main()
