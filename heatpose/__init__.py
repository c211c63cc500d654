"""heatpose: top-down heatmap 2D keypoint estimation (MMPose's topdown_heatmap zoo, plain PyTorch).

    >>> import heatpose
    >>> model = heatpose.build_model("td-hm_hrnet-w32_8xb64-210e_coco-256x192", pretrained=True)
    >>> result = model.predict("photo.jpg", bboxes=[[10, 20, 200, 400]])
    >>> result.keypoints.shape, result.scores.shape        # (1, 17, 2) image px, (1, 17)
"""
from __future__ import annotations

__version__ = "0.1.0"

# Public names, imported on first use so that `import heatpose` stays light.
_LAZY = {
    "build_model": "heatpose.models.build",
    "build_estimator": "heatpose.models.build",
    "load_model": "heatpose.models.build",
    "save_model": "heatpose.models.build",
    "Architecture": "heatpose.models.build",
    "list_models": "heatpose.models.build",
    "load_checkpoint": "heatpose.models.checkpoints",
    "read_checkpoint": "heatpose.models.checkpoints",
    "TopdownEstimator": "heatpose.models.estimator",
    "PoseResult": "heatpose.models.estimator",
    "get_schema": "heatpose.schema",
    "KeypointSchema": "heatpose.schema",
    "Pipeline": "heatpose.inference.pipeline",
    "People": "heatpose.inference.pipeline",
    "DEMO_IMAGE": "heatpose.commands.demo",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'heatpose' has no attribute {name!r}")


def __dir__():
    return __all__
