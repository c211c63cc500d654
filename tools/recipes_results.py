"""Published results of the recipes, for tools/gen_recipes.py: the MMPose 1.3.2 metafiles
(``*.yml`` beside the configs) and the model-zoo tables (seed files, parsed by zoo_seeds.py).

A result row names its split, box setting (``gt_boxes``/``det_boxes``), metrics as printed
(metafile names mapped to the tables' ``AP50``/``AP75``/``AR50``), the MMPose document it comes
from and its checkpoint."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from recipes_0x import SEED_DOCS, TABLES, ZERO_TO_ONE
from zoo_seeds import SeedRow

CONFIGS = Path("/work/peer/lib/python3.11/site-packages/mmpose/.mim/configs")
FAMILY_DIRS = ("body_2d_keypoint", "fashion_2d_keypoint", "wholebody_2d_keypoint")
METAFILE_METRIC = {"AP@0.5": "AP50", "AP@0.75": "AP75", "AR@0.5": "AR50"}


def load_metafiles() -> Dict[str, Dict[str, Any]]:
    import yaml
    out: Dict[str, Dict[str, Any]] = {}
    for fam in FAMILY_DIRS:
        for yml in glob.glob(str(CONFIGS / fam / "topdown_heatmap" / "**" / "*.yml"), recursive=True):
            data = yaml.safe_load(Path(yml).read_text())
            for m in data.get("Models", []):
                out[Path(m["Config"]).stem] = {**m, "metafile": os.path.relpath(yml, CONFIGS)}
    return out


def split_of(folder: str, test: Dict[str, Any]) -> Tuple[str, str, Optional[str]]:
    """(dataset split, setting, detector) a config's test dataloader evaluates on."""
    names = {"coco": "COCO val2017", "aic": "AIC val", "crowdpose": "CrowdPose test", "mpii": "MPII val",
             "posetrack18": "PoseTrack18 val", "jhmdb": "Sub-JHMDB", "humanart": "Human-Art val",
             "exlpose": "ExLPose test LL-A", "coco-wholebody": "COCO-WholeBody val v1.0",
             "ubody2d": "COCO-WholeBody val v1.0", "deepfashion": "DeepFashion (FLD) test",
             "deepfashion2": "DeepFashion2 validation"}
    bbox = test.get("bbox_file")
    det = None
    if bbox:
        det = ("person detector with human AP 56.4 on COCO val2017" if "AP_H_56" in bbox
               else f"detections of {bbox}")
    return names.get(folder, folder), "det_boxes" if bbox else "gt_boxes", det


def metafile_results(meta: Dict[str, Any], folder: str, test_data: Dict[str, Any]
                     ) -> List[Dict[str, Any]]:
    split, setting, det = split_of(folder, test_data)
    out = []
    for r in meta.get("Results", []):
        metrics = {METAFILE_METRIC.get(k, k): float(v) for k, v in r["Metrics"].items()}
        row = {"dataset_split": split, "setting": setting, "metrics": metrics,
               "source": "MMPose 1.3.2 metafile configs/" + meta["metafile"],
               "checkpoint_url": meta.get("Weights")}
        if det:
            row["detector"] = det
        out.append(row)
    return out


def seed_result(row: SeedRow) -> Dict[str, Any]:
    family, split, setting, detector = table_info(row)
    note = None
    if family == "jhmdb":
        split = f"{split} {row.set_label} test"
        note = ("PCK@0.2 normalised by person (bbox) size" if "Person Size" in row.table
                else "tPCK@0.2 normalised by torso size")
    elif family == "deepfashion":
        split = f"DeepFashion (FLD) {row.set_label} test"
    elif family == "deepfashion2":
        split = f"DeepFashion2 {row.set_label} validation"
    out = {"dataset_split": split, "setting": setting, "detector": detector,
           "metrics": {k: float(v) for k, v in row.metrics.items()},
           "source": SEED_DOCS[row.source], "checkpoint_url": row.ckpt, "log_url": row.log, "note": note}
    return {k: v for k, v in out.items() if v is not None}


def table_info(row: SeedRow):
    for prefix, family, split, setting, detector in TABLES:
        if row.table.startswith(prefix):
            return family, split, setting, detector
    raise ValueError(f"{row.source}: unknown table {row.table!r}")


def seed_name(row: SeedRow) -> Tuple[str, List[str], Optional[str]]:
    """(recipe name, aliases, checkpoint_from) of a seed row."""
    family = table_info(row)[0]
    if row.config.startswith("td-hm"):
        name = row.config.replace("deepfashion_uppder", "deepfashion_upper")
        return name, ([row.config] if name != row.config else []), None
    name = ZERO_TO_ONE[family][row.config]
    if family == "ochuman":
        return name, [], ZERO_TO_ONE["coco"][row.config]
    return name, [row.config], None
