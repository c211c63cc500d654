"""Write tests/fixtures/mmpose_keypoint_converter.json: MMPose 1.3.2's KeypointConverter applied
to real annotations, with the mappings of the COCO+AIC recipes.

Runs ONLY with the MMPose peer:

    /work/peer/bin/peer-python tools/dump_mmpose_converter.py

For each case the dataset class of the recipe (``AicDataset`` / ``CocoDataset``, top-down mode)
reads an annotation file of ``../shared/data/mmpose_tests/`` and the recipe's
``KeypointConverter(num_keypoints, mapping)`` transforms every instance; the fixture stores the
mapping, the instances' ids and the converted ``keypoints`` (K, 2) and ``keypoints_visible``
(K, 2: visibility, visibility-loss weight).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmpose_tests"
CONFIGS = Path(__import__("mmpose").__file__).parent / ".mim" / "configs" / "body_2d_keypoint" / "topdown_heatmap" / "coco"
CASES = {  # name: (config, dataset index in the CombinedDataset, annotation file)
    "merge_aic": ("td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge.py", 1, "aic/test_aic.json"),
    "combine_aic": ("td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py", 1, "aic/test_aic.json"),
    "combine_coco": ("td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py", 0, "coco/test_coco.json"),
}


def main() -> None:
    from mmpose.registry import DATASETS, TRANSFORMS
    from mmpose.utils import register_all_modules

    register_all_modules()
    out = {}
    for name, (config, index, ann) in CASES.items():
        cfg = Config.fromfile(str(CONFIGS / config))
        ds_cfg = cfg.train_dataloader.dataset.datasets[index]
        conv_cfg = [t for t in ds_cfg.pipeline if t.type == "KeypointConverter"][0]
        ds = DATASETS.build(dict(type=ds_cfg.type, data_root=str(DATA), ann_file=ann, data_mode="topdown",
                                 data_prefix=dict(img=""), pipeline=[], test_mode=False))
        conv = TRANSFORMS.build(conv_cfg)
        rows = []
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            res = conv(dict(keypoints=info["keypoints"].copy(), keypoints_visible=info["keypoints_visible"].copy()))
            rows.append({"ann_id": int(info["id"]), "keypoints": np.round(res["keypoints"][0], 4).tolist(),
                         "keypoints_visible": res["keypoints_visible"][0].tolist()})
        out[name] = {"config": config, "dataset": ds_cfg.type, "ann_file": ann,
                     "num_keypoints": conv_cfg.num_keypoints, "mapping": [list(m) for m in conv_cfg.mapping],
                     "instances": rows}
    path = ROOT / "tests" / "fixtures" / "mmpose_keypoint_converter.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
