"""Reference values from MMPose 1.3.2 for tests/test_readers.py and tests/test_transforms.py.

Runs ONLY with the MMPose peer (``/work/peer/bin/peer-python tools/dump_mmpose_pipeline.py``);
writes ``tests/fixtures/mmpose_pipeline.npz``:

* ``ds/<key>/...``: what MMPose's dataset classes list for every annotation file of
  ``../shared/data/mmpose_tests`` and ``coco_mini`` (counts, ann/img ids, boxes, keypoints,
  visibility, num_keypoints, area, box scores; MPII centre/scale).
* ``case<i>/...``: the top-down train pipeline on real COCO samples with fixed random draws
  (flip on/off, half-body and box shift/scale/rotation numbers fed through MMPose's own
  transforms by replacing its random sources): crop images, crop keypoints, crop centre/scale,
  heatmaps and weights for MSRA, DARK (unbiased MSRA; first three cases) and UDP codecs.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp

import numpy as np
from mmpose.codecs import MSRAHeatmap, UDPHeatmap
from mmpose.datasets import (AicDataset, CocoDataset, CocoWholeBodyDataset, CrowdPoseDataset,
                             DeepFashion2Dataset, DeepFashionDataset, HalpeDataset, JhmdbDataset,
                             MhpDataset, MpiiDataset, MpiiTrbDataset, OCHumanDataset,
                             PoseTrack18Dataset)
from mmpose.datasets.transforms import (GenerateTarget, GetBBoxCenterScale, LoadImage,
                                        RandomBBoxTransform, RandomFlip, RandomHalfBody,
                                        TopdownAffine)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(osp.dirname(ROOT), "shared", "data")
T = osp.join(DATA, "mmpose_tests")

# key: (dataset class, annotation file, image folder, extra kwargs)
DATASETS = {
    "coco": (CocoDataset, "coco/test_coco.json", "coco", {}),
    "coco_partition": (CocoDataset, "coco/test_keypoint_partition_metric.json", "coco", {}),
    "coco_wholebody": (CocoWholeBodyDataset, "coco/test_coco_wholebody.json", "coco", {}),
    "aic": (AicDataset, "aic/test_aic.json", "aic", {}),
    "crowdpose": (CrowdPoseDataset, "crowdpose/test_crowdpose.json", "crowdpose", {}),
    "ochuman": (OCHumanDataset, "ochuman/test_ochuman.json", "ochuman", {}),
    "mhp": (MhpDataset, "mhp/test_mhp.json", "mhp", {}),
    "halpe": (HalpeDataset, "halpe/test_halpe.json", "coco", {}),
    "jhmdb": (JhmdbDataset, "jhmdb/test_jhmdb_sub1.json", "jhmdb", {}),
    "deepfashion_full": (DeepFashionDataset, "fld/test_fld.json", "fld", {"subset": "full"}),
    "deepfashion2": (DeepFashion2Dataset, "deepfasion2/deepfasion2.json", "deepfasion2", {}),
    "posetrack18": (PoseTrack18Dataset, "posetrack18/annotations/test_posetrack18_val.json",
                    "posetrack18", {}),
    "mpii": (MpiiDataset, "mpii/test_mpii.json", "mpii", {}),
    "mpii_trb": (MpiiTrbDataset, "mpii/test_mpii_trb.json", "mpii", {}),
}
for _v in ("003418", "009473", "012834"):
    DATASETS[f"posetrack18_{_v}"] = (
        PoseTrack18Dataset, f"posetrack18/annotations/val/{_v}_mpii_test.json", "posetrack18", {})
DETECTIONS = {  # key: (dataset key, detection file)
    "coco_det": ("coco", "coco/test_coco_det_AP_H_56.json"),
    "crowdpose_det": ("crowdpose", "crowdpose/test_crowdpose_det_AP_40.json"),
    "posetrack18_det": ("posetrack18", "posetrack18/annotations/"
                        "test_posetrack18_human_detections.json"),
}

# pipeline cases on test_coco.json (index into MMPose's top-down list):
# (index, flip, half-body draws or None, box draws (4 normals, 3 uniforms) or None, dataset weights)
CASES = [
    (0, False, None, None, False),
    (1, True, None, ((0.5, -0.4, 0.3, 0.7), 0.1, 0.2, 0.3), False),
    (2, False, (0.1, 0.5), ((-0.9, 0.2, -0.8, 0.1), 0.9, 0.5, 0.95), True),
    (3, True, (0.2, 0.9), ((0.1, 0.9, 0.95, -0.6), 0.05, 0.1, 0.2), False),
    (5, True, (0.8, 0.1), ((-0.3, -0.7, -0.99, 0.99), 0.2, 0.99, 0.5), False),
    (7, False, (0.05, 0.3), ((0.2, 0.2, 0.0, -0.95), 0.29, 0.0, 0.59), True),
]
INPUT_SIZE, HEATMAP_SIZE, SIGMA = (72, 96), (18, 24), 2.0


def _dataset(key):
    cls, ann, img_dir, kw = DATASETS[key]
    return cls(ann_file=osp.join(T, ann), data_prefix=dict(img=osp.join(T, img_dir) + "/"),
               test_mode=False, pipeline=[], **kw)


def dump_dataset(out, key, ds):
    items = [ds.get_data_info(i) for i in range(len(ds))]
    out[f"ds/{key}/count"] = np.int64(len(items))
    if not items:
        return
    out[f"ds/{key}/ann_id"] = np.array([d["id"] for d in items], np.int64)
    out[f"ds/{key}/img_id"] = np.array([d["img_id"] for d in items], np.int64)
    out[f"ds/{key}/img_name"] = np.array([osp.basename(d["img_path"]) for d in items])
    out[f"ds/{key}/bbox"] = np.concatenate([d["bbox"] for d in items]).astype(np.float32)
    out[f"ds/{key}/bbox_score"] = np.concatenate([d["bbox_score"] for d in items])
    out[f"ds/{key}/keypoints"] = np.concatenate([d["keypoints"] for d in items]).astype(
        np.float32)
    out[f"ds/{key}/keypoints_visible"] = np.concatenate(
        [d["keypoints_visible"] for d in items]).astype(np.float32)
    if "num_keypoints" in items[0]:
        out[f"ds/{key}/num_keypoints"] = np.array([d["num_keypoints"] for d in items], np.int64)
    if "area" in items[0]:
        out[f"ds/{key}/area"] = np.array([np.asarray(d["area"]).ravel()[0] for d in items],
                                         np.float32)
    if "bbox_center" in items[0]:
        out[f"ds/{key}/bbox_center"] = np.concatenate([d["bbox_center"] for d in items])
        out[f"ds/{key}/bbox_scale"] = np.concatenate([d["bbox_scale"] for d in items])
    if "crowd_index" in items[0]:
        out[f"ds/{key}/crowd_index"] = np.array([d["crowd_index"] for d in items], np.float32)


class _Draws:
    """Stands in for ``np.random.rand`` while one MMPose transform runs."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, *shape):
        v = self.values.pop(0)
        return np.full(shape, v) if shape else v


def _with_draws(transform, results, uniforms, normals=None):
    real = np.random.rand
    np.random.rand = _Draws(uniforms)
    if normals is not None:
        transform._truncnorm = lambda low=-1., high=1., size=(): np.asarray(
            normals, np.float32).reshape(size)
    try:
        return transform(results)
    finally:
        np.random.rand = real


def run_case(ds, index, flip, half, box, use_weights, codec_cfg):
    results = ds[index]            # data info + metainfo (pipeline=[])
    results = LoadImage()(results)
    results = GetBBoxCenterScale()(results)
    results = RandomFlip(prob=1.0 if flip else 0.0)(results)
    if half is not None:
        results = _with_draws(RandomHalfBody(), results, half)
    if box is not None:
        normals, us, uc, ur = box
        results = _with_draws(RandomBBoxTransform(), results, [us, uc, ur], normals)
    codec_cls = UDPHeatmap if codec_cfg["type"] == "UDPHeatmap" else MSRAHeatmap
    results = TopdownAffine(input_size=INPUT_SIZE,
                            use_udp=codec_cls is UDPHeatmap)(results)
    results = GenerateTarget(encoder=codec_cfg,
                             use_dataset_keypoint_weights=use_weights)(results)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=osp.join(ROOT, "tests", "fixtures",
                                                  "mmpose_pipeline.npz"))
    args = parser.parse_args()
    out = {}
    datasets = {key: _dataset(key) for key in DATASETS}
    for key, ds in datasets.items():
        dump_dataset(out, key, ds)
    mini = CocoDataset(ann_file=osp.join(DATA, "coco_mini/annotations/"
                                         "person_keypoints_train2017.json"),
                       data_prefix=dict(img=osp.join(DATA, "coco_mini/train2017/")),
                       test_mode=False, pipeline=[])
    dump_dataset(out, "coco_mini", mini)
    for key, (dkey, det) in DETECTIONS.items():
        cls, ann, img_dir, kw = DATASETS[dkey]
        for thr_key, thr in (("", None), ("_thr", 0.5)):
            ds = cls(ann_file=osp.join(T, ann), bbox_file=osp.join(T, det), test_mode=True,
                     data_prefix=dict(img=osp.join(T, img_dir) + "/"), pipeline=[],
                     filter_cfg=None if thr is None else dict(bbox_score_thr=thr), **kw)
            dump_dataset(out, key + thr_key, ds)
    coco = datasets["coco"]
    out["coco_joint_weights"] = np.asarray(coco.metainfo["dataset_keypoint_weights"],
                                           np.float32)
    out["coco_flip_indices"] = np.asarray(coco.metainfo["flip_indices"], np.int64)
    out["input_size"] = np.array(INPUT_SIZE)
    out["heatmap_size"] = np.array(HEATMAP_SIZE)
    out["sigma"] = np.float32(SIGMA)
    codecs = {
        "msra": dict(type="MSRAHeatmap", input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE,
                     sigma=SIGMA),
        "dark": dict(type="MSRAHeatmap", input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE,
                     sigma=SIGMA, unbiased=True),
        "udp": dict(type="UDPHeatmap", input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE,
                    sigma=SIGMA),
    }
    for i, (index, flip, half, box, use_w) in enumerate(CASES):
        p = f"case{i}/"
        out[p + "index"] = np.int64(index)
        out[p + "flip"] = np.bool_(flip)
        out[p + "half"] = np.array(half if half is not None else [np.nan, np.nan], np.float64)
        out[p + "box"] = (np.array(list(box[0]) + list(box[1:]), np.float64) if box is not None
                          else np.full(7, np.nan))
        out[p + "use_weights"] = np.bool_(use_w)
        for name, cfg in codecs.items():
            if name == "dark" and i >= 3:   # DARK maps are dense: keep the fixture small
                continue
            r = run_case(coco, index, flip, half, box, use_w, cfg)
            if name != "dark":      # DARK crops equal MSRA's
                out[p + f"{name}/image"] = r["img"]
                out[p + f"{name}/input_keypoints"] = r["transformed_keypoints"][0].astype(
                    np.float32)
                out[p + f"{name}/center"] = np.asarray(r["bbox_center"][0], np.float32)
                out[p + f"{name}/scale"] = np.asarray(r["bbox_scale"][0], np.float32)
                out[p + f"{name}/keypoints_visible"] = r["keypoints_visible"][0].astype(
                    np.float32)
            out[p + f"{name}/heatmaps"] = r["heatmaps"].astype(np.float32)
            out[p + f"{name}/weights"] = r["keypoint_weights"][0].astype(np.float32)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({osp.getsize(args.out) / 1024:.0f} KB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
