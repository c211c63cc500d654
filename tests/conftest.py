"""Shared test fixtures: where the shared data lives (HEATPOSE_TEST_DATA, default ../shared)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HEATPOSE_TEST_DATA", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
REFERENCE = SHARED / "reference"

_REASON = (f"shared test data not found at {SHARED} (set HEATPOSE_TEST_DATA to the folder "
           "holding data/ and reference/)")


def require_shared() -> Path:
    if not (DATA.is_dir() and REFERENCE.is_dir()):
        pytest.skip(_REASON)
    return SHARED


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    require_shared()
    return DATA


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    require_shared()
    return REFERENCE


@pytest.fixture(scope="session")
def weights_rule():
    """The reference's ``deterministic_state_dict`` (imported from ../shared/reference)."""
    require_shared()
    sys.path.insert(0, str(REFERENCE))
    try:
        import weights_rule  # noqa: WPS433
    finally:
        sys.path.remove(str(REFERENCE))
    return weights_rule.deterministic_state_dict


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small COCO-keypoint heatpose checkpoint (ResNet-18 with 8 base channels, 2 deconvs,
    96x128 input), self-describing, built here with a fixed seed (no download)."""
    import torch

    from heatpose.models.build import Architecture, build_estimator, save_model
    from heatpose.schema import get_schema

    torch.manual_seed(0)
    schema = get_schema("coco")
    codec = {"type": "MSRAHeatmap", "input_size": [96, 128], "heatmap_size": [12, 16], "sigma": 2}
    arch = Architecture("resnet18", 17, (16, 16), (4, 4),
                        backbone_kwargs={"stem_channels": 8, "base_channels": 8})
    model = build_estimator(arch, codec, schema.flip_indices, name="tiny-coco", schema=schema)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_model(model.eval(), path)
    return path
