"""Which validation metric chooses ``best_<name>.pth``, and whether higher is better.

Kept free of torch so that ``heatpose config`` (recipe -> config) starts quickly."""
from __future__ import annotations

from typing import Dict, Optional

from heatpose.engine.config import ConfigError

# zoo table column named by ModelPreset.key_metric -> the metric evaluate_dataset reports it as
# ('Mean' is MPII's mean PCKh and JHMDB's mean box-normalised PCK, both reported as 'PCK';
# 'Total' is PoseTrack18's mean AP over joints; 'Whole AP' is Halpe's AP over all keypoints)
KEY_METRIC_NAMES: Dict[str, str] = {
    "AP": "AP", "Whole AP": "AP", "Total": "AP", "Mean": "PCK", "Mean Acc": "PCKh",
    "PCK@0.2": "PCK",
}
# the zoo key metric of each dataset (as evaluate_dataset names it), used when the config sets
# no train.val_metric; datasets outside the table report box PCK (see module docstring)
DEFAULT_KEY_METRIC: Dict[str, str] = {
    "coco": "AP", "ochuman": "AP", "aic": "AP", "mhp": "AP", "halpe": "AP", "crowdpose": "AP",
    "posetrack18": "AP", "mpii": "PCK", "mpii_trb": "PCKh", "jhmdb": "PCK",
    "deepfashion_upper": "PCK", "deepfashion_lower": "PCK", "deepfashion_full": "PCK",
    "deepfashion2": "PCK",
}
LOWER_IS_BETTER = ("EPE",)


def val_metric_name(val_metric: Optional[str], dataset: str) -> str:
    """The metric name that chooses ``best_<name>.pth``: ``val_metric`` (a reported name, its
    MMPose long form such as ``AP .5``, or a zoo key metric, see :data:`KEY_METRIC_NAMES`), or
    the dataset's key metric when None."""
    from heatpose.evaluation.coco_eval import SHORT_NAMES     # MMPose's 'AP .5' -> 'AP50'

    if val_metric is None:
        return DEFAULT_KEY_METRIC.get(dataset, "PCK")
    return KEY_METRIC_NAMES.get(val_metric, SHORT_NAMES.get(val_metric, val_metric))


def val_rule_for(val_rule: Optional[str], metric: str) -> str:
    """'greater' or 'less' (``val_rule`` when set; else 'less' for EPE, 'greater' otherwise)."""
    if val_rule is None:
        return "less" if metric in LOWER_IS_BETTER else "greater"
    if val_rule not in ("greater", "less"):
        raise ConfigError(f"train.val_rule = {val_rule!r}: use 'greater' or 'less'")
    return val_rule
