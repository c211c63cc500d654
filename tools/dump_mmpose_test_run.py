"""Reference test runs of MMPose 1.3.2 for tests/test_test_command.py.

Runs ONLY with the MMPose peer (``/work/peer/bin/peer-python tools/dump_mmpose_test_run.py``).
For each case it builds the model from its MMPose config (``init_model``), loads the
deterministic weights of ``../shared/reference/weights_rule.py``, builds the config's test
dataset with the case's annotation file / images / detection file, runs a Runner-free test
loop (``model.test_step`` on ``pseudo_collate`` batches) and scores it with the config's test
evaluator. Writes:

``tests/fixtures/mmpose_test_runs.json``: per case the metrics (evaluator names without the
``coco/`` style prefix) and, for small cases, the per-instance predictions (id, img_id,
keypoints (K, 2) image px, keypoint_scores (K,)); ``det_stride`` (the det-box subset the fast
test uses: every ``det_stride``-th detection of the shared file) and ``pseudo_gt``.

Random weights put every pose far from the real annotations (COCO AP = 0), so most cases also
run against *pseudo ground truth*: the shared annotation file with each annotation's keypoints
replaced by this script's gt-box prediction plus Gaussian noise of 0.5-40 px (``pseudo_gt``:
annotation file -> ann id -> (K, 2) keypoints; visibility flags unchanged). The fixture holds
only those numbers; the tests rebuild the annotation file from the shared one.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import tempfile

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpose.apis import init_model
from mmpose.registry import DATASETS, METRICS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(ROOT), "shared")
T = osp.join(SHARED, "data", "mmpose_tests")
FIXTURES = osp.join(ROOT, "tests", "fixtures")
CONFIGS = osp.join(osp.dirname(sys.modules["mmpose"].__file__), ".mim", "configs")
TMP = tempfile.mkdtemp()
DET_STRIDE = 6      # the det-box subset: every 6th detection of the shared file (20 of 118)

COCO_CFG = "body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py"
JHMDB_CFG = ("body_2d_keypoint/topdown_heatmap/jhmdb/"
             "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256.py")
FLD_CFG = ("fashion_2d_keypoint/topdown_heatmap/deepfashion/"
           "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_full-256x192.py")
COCO_ANN, FLD_ANN = "coco/test_coco.json", "fld/test_fld.json"
COCO_DET = "coco/test_coco_det_AP_H_56.json"
# name: (config, annotation file, image folder, detection file, keep predictions); "pgt:" files
# are pseudo ground truth (see pseudo_gt), "sub:" detection files the DET_STRIDE subset
CASES = {  # (the order matters: a pseudo-GT case needs its PGT_SOURCE case first)
    "coco_gt": (COCO_CFG, COCO_ANN, "coco", None, True),
    "coco_pgt": (COCO_CFG, "pgt:" + COCO_ANN, "coco", None, False),
    "coco_det_subset": (COCO_CFG, COCO_ANN, "coco", "sub:" + COCO_DET, True),
    "coco_pgtd_det_subset": (COCO_CFG, "pgtd:" + COCO_ANN, "coco", "sub:" + COCO_DET, False),
    "coco_pgtd_det_full": (COCO_CFG, "pgtd:" + COCO_ANN, "coco", COCO_DET, False),
    "coco_det_full": (COCO_CFG, COCO_ANN, "coco", COCO_DET, False),
    "jhmdb_gt": (JHMDB_CFG, "jhmdb/test_jhmdb_sub1.json", "jhmdb", None, True),
    "fld_gt": (FLD_CFG, FLD_ANN, "fld", None, True),
    "fld_pgt": (FLD_CFG, "pgt:" + FLD_ANN, "fld", None, False),
}
# pseudo ground truth (keeps metrics off 0): "pgt:" = the gt-box predictions of a case plus
# noise; "pgtd:" = for each annotation, the prediction of the subset detection that overlaps
# its box most (IoU >= 0.5; else its "pgt:" keypoints) plus noise
PGT_SOURCE = {"pgt:" + COCO_ANN: "coco_gt", "pgt:" + FLD_ANN: "fld_gt",
              "pgtd:" + COCO_ANN: "coco_det_subset"}


def deterministic_state_dict():
    sys.path.insert(0, osp.join(SHARED, "reference"))
    from weights_rule import deterministic_state_dict as rule
    return rule


def iou(a, b) -> float:
    """IoU of two xyxy boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def det_matched(gt_preds: list, det_preds: list) -> list:
    """gt-box predictions with keypoints swapped for those of the best-overlapping detection."""
    out = []
    for g in gt_preds:
        best = max((d for d in det_preds if d["img_id"] == g["img_id"]),
                   key=lambda d: iou(d["bbox"], g["bbox"]), default=None)
        if best is not None and iou(best["bbox"], g["bbox"]) >= 0.5:
            g = dict(g, keypoints=best["keypoints"])
        out.append(g)
    return out


def pseudo_keypoints(preds: list, seed: int = 0) -> dict:
    """ann id -> (K, 2) keypoints: predicted keypoints moved by Gaussian noise whose size
    (0.5 .. 40 px) varies per keypoint, so OKS / PCK values spread over the thresholds."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in preds:
        kpts = np.asarray(p["keypoints"], np.float64)
        size = np.exp(rng.uniform(np.log(0.5), np.log(40.0), size=(len(kpts), 1)))
        moved = np.round(kpts + rng.standard_normal(kpts.shape) * size, 2)
        out[str(p["id"])] = moved.tolist()
    return out


def with_pseudo_gt(ann: dict, pseudo: dict) -> dict:
    """A copy of a COCO-style annotation dict whose listed annotations get the pseudo keypoints
    (visibility flags kept; unlisted annotations unchanged). The tests rebuild it the same way."""
    ann = json.loads(json.dumps(ann))
    for a in ann["annotations"]:
        if str(a["id"]) in pseudo:
            k = a["keypoints"]
            for j, (x, y) in enumerate(pseudo[str(a["id"])]):
                if k[3 * j + 2] > 0:
                    k[3 * j], k[3 * j + 1] = x, y
    return ann


def resolve(path, runs):
    if path is None:
        return None
    if path.startswith("sub:"):
        with open(osp.join(T, path[4:])) as f:
            dets = json.load(f)
        out = osp.join(TMP, "det_subset.json")
        with open(out, "w") as f:
            json.dump(dets[::DET_STRIDE], f)
        return out
    if path.startswith(("pgt:", "pgtd:")):
        kind, src = path.split(":", 1)
        with open(osp.join(T, src)) as f:
            ann = json.load(f)
        out = osp.join(TMP, f"{kind}_" + osp.basename(src))
        with open(out, "w") as f:
            json.dump(with_pseudo_gt(ann, runs["pseudo_gt"][path]), f)
        return out
    return osp.join(T, path)


def run_case(name: str, cfg_path: str, ann_key: str, img_dir: str, det_key, keep: bool,
             batch_size: int, runs: dict) -> dict:
    ann, det_file = resolve(ann_key, runs), resolve(det_key, runs)
    cfg = Config.fromfile(osp.join(CONFIGS, cfg_path))
    subset = cfg.test_dataloader.dataset.get("subset")
    if subset:     # DeepFashionDataset picks its metainfo per subset at construction time
        DATASETS.get(cfg.test_dataloader.dataset.type)._check_subset_and_metainfo(subset)
    model = init_model(cfg, checkpoint=None, device="cpu")
    sd = model.state_dict()
    model.load_state_dict(deterministic_state_dict()([(k, tuple(v.shape)) for k, v in sd.items()]),
                          strict=True)
    model.eval()
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.update(data_root="", ann_file=ann,
                  data_prefix=dict(img=osp.join(T, img_dir) + "/"), bbox_file=det_file)
    dataset = DATASETS.build(ds_cfg)
    ev_cfgs = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    tmp = tempfile.mkdtemp()
    metrics = []
    for ev in ev_cfgs:
        ev = dict(ev)
        if "ann_file" in ev:
            ev["ann_file"] = ann
        if ev["type"] == "CocoMetric":
            ev["outfile_prefix"] = osp.join(tmp, name)
        m = METRICS.build(ev)
        m.dataset_meta = dataset.metainfo
        metrics.append(m)
    preds = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = pseudo_collate([dataset[i] for i in range(start, min(len(dataset),
                                                                         start + batch_size))])
            outputs = model.test_step(batch)
            samples = [o.to_dict() for o in outputs]
            for m in metrics:
                m.process(batch, samples)
            for s in outputs:
                preds.append({"id": int(s.id), "img_id": int(s.img_id),
                              "bbox": s.gt_instances.bboxes[0].tolist(),
                              "keypoints": s.pred_instances.keypoints[0].tolist(),
                              "keypoint_scores": s.pred_instances.keypoint_scores[0].tolist()})
    out = {}
    for m in metrics:
        for k, v in m.evaluate(len(dataset)).items():
            out[k.split("/", 1)[-1]] = float(v)
    rec = {"config": osp.splitext(osp.basename(cfg_path))[0], "ann_file": ann_key,
           "img_dir": img_dir, "det_file": det_key,
           "num_instances": len(dataset), "metrics": out}
    if keep:
        rec["predictions"] = preds
    print(name, len(dataset), out, flush=True)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out_path = osp.join(FIXTURES, "mmpose_test_runs.json")
    runs = {}
    if osp.exists(out_path):
        with open(out_path) as f:
            runs = json.load(f)
    runs["det_stride"] = DET_STRIDE
    for name in args.cases:
        runs[name] = run_case(name, *CASES[name], batch_size=args.batch_size, runs=runs)
        for key, case in PGT_SOURCE.items():
            if case != name:
                continue
            preds = runs[case]["predictions"]
            if key.startswith("pgtd:"):
                preds = det_matched(runs[PGT_SOURCE["pgt:" + key[5:]]]["predictions"], preds)
            runs.setdefault("pseudo_gt", {})[key] = pseudo_keypoints(preds)
    runs = {k: runs[k] for k in ["pseudo_gt", "det_stride", *CASES] if k in runs}
    with open(out_path, "w") as f:
        json.dump(runs, f, indent=1)
    print("wrote", out_path)


if __name__ == "__main__":
    main()
