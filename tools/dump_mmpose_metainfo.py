"""Write tests/fixtures/mmpose_metainfo.json: MMPose 1.3.2's parsed dataset metainfo.

Runs ONLY with the MMPose reference install (never imported by heatpose or its tests):

    /work/peer/bin/peer-python tools/dump_mmpose_metainfo.py \
        [--out tests/fixtures/mmpose_metainfo.json]

For every dataset family heatpose ships a schema for, the dataset metainfo config under
``configs/_base_/datasets/`` is parsed with ``mmpose.datasets.datasets.utils.parse_pose_metainfo``
(what the dataset classes do) and the fields a schema carries are written out. Floats are written
as the shortest decimal that round-trips the float32 value MMPose holds, so the file stays small
and a float32 comparison is exact.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
from pathlib import Path

import numpy as np

# heatpose schema name -> metainfo config file (configs/_base_/datasets/<file>.py)
DATASETS = {
    "coco": "coco",
    "ochuman": "ochuman",
    "aic": "aic",
    "mhp": "mhp",
    "mpii": "mpii",
    "mpii_trb": "mpii_trb",
    "crowdpose": "crowdpose",
    "posetrack18": "posetrack18",
    "jhmdb": "jhmdb",
    "halpe": "halpe",
    "deepfashion_upper": "deepfashion_upper",
    "deepfashion_lower": "deepfashion_lower",
    "deepfashion_full": "deepfashion_full",
    "deepfashion2": "deepfashion2",
    "coco_aic": "coco_aic",
    "humanart": "humanart",
    "exlpose": "exlpose",
    "coco_wholebody": "coco_wholebody",
    "ubody2d": "ubody2d",
}


def _f32(values) -> list:
    """float32 array -> list of Python floats, each the shortest decimal of its float32 value."""
    return [float(str(np.float32(v))) for v in np.asarray(values, dtype=np.float32).ravel()]


def dump_one(config_file: str) -> dict:
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    meta = parse_pose_metainfo(dict(from_file=config_file))
    k = meta["num_keypoints"]
    return {
        "config": osp.basename(config_file),
        "dataset_name": meta["dataset_name"],
        "num_keypoints": k,
        "names": [meta["keypoint_id2name"][i] for i in range(k)],
        "flip_indices": [int(i) for i in meta["flip_indices"]],
        "skeleton_links": [[int(a), int(b)] for a, b in meta["skeleton_links"]],
        "keypoint_colors": np.asarray(meta["keypoint_colors"]).reshape(-1, 3).tolist(),
        "skeleton_link_colors": np.asarray(meta["skeleton_link_colors"]).reshape(-1, 3).tolist(),
        "sigmas": _f32(meta["sigmas"]),
        "dataset_keypoint_weights": _f32(meta["dataset_keypoint_weights"]),
        "upper_body_ids": [int(i) for i in meta["upper_body_ids"]],
        "lower_body_ids": [int(i) for i in meta["lower_body_ids"]],
    }


def main() -> None:
    import mmpose

    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(root / "tests" / "fixtures" / "mmpose_metainfo.json"))
    args = parser.parse_args()

    cfg_dir = osp.join(osp.dirname(mmpose.__file__), ".mim", "configs", "_base_", "datasets")
    out = {"mmpose_version": mmpose.__version__,
           "datasets": {name: dump_one(osp.join(cfg_dir, f"{cfg}.py"))
                        for name, cfg in DATASETS.items()}}
    # compact: one line per dataset
    lines = ['{"mmpose_version": %s, "datasets": {' % json.dumps(out["mmpose_version"])]
    items = list(out["datasets"].items())
    for i, (name, entry) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}{sep}")
    lines.append("}}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    json.loads(Path(args.out).read_text())  # sanity: valid JSON
    print(f"wrote {args.out} ({len(items)} datasets)")


if __name__ == "__main__":
    main()
