"""Shared test fixtures: where the shared data lives (HEATPOSE_TEST_DATA, default ../shared)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HEATPOSE_TEST_DATA", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
REFERENCE = SHARED / "reference"

# hypothesis keeps its example database and caches in ./.hypothesis unless told otherwise: the
# property tests must not write into the repository
try:
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:                         # the fuzz tests skip without hypothesis
    pass
else:
    set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "heatpose-hypothesis"))

# the weights cache (downloads, ONNX exports of the CPU backend): a fresh folder per test run unless
# the caller chose one, so tests neither read nor fill the user's ~/.cache/heatpose
if "HEATPOSE_HOME" not in os.environ:
    os.environ["HEATPOSE_HOME"] = tempfile.mkdtemp(prefix="heatpose-home-")

_REASON = (f"shared test data not found at {SHARED} (set HEATPOSE_TEST_DATA to the folder "
           "holding data/ and reference/)")


def _shared_present() -> bool:
    return DATA.is_dir() and REFERENCE.is_dir()


def pytest_report_header(config) -> str:
    return (f"heatpose test data: {SHARED}" if _shared_present() else
            f"heatpose: tests needing data will skip: {_REASON}")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line saying why tests skipped when the shared data is missing (pytest -q alone
    prints only a count)."""
    skipped = terminalreporter.stats.get("skipped", [])
    missing = sum(1 for rep in skipped if _REASON in str(getattr(rep, "longrepr", "")))
    if missing:
        terminalreporter.write_line(f"heatpose: {missing} tests skipped: {_REASON}")


# default output folders of the CLI (a test that forgets --out / tmp_path would leave them here)
# and hypothesis's folder
_DEFAULT_OUTPUTS = ("heatpose_out", "heatpose_demo", "heatpose_test", ".hypothesis")
_LEFT_BEFORE: set = set()


def _left_behind() -> set:
    return {str(d / name) for d in {ROOT, Path.cwd()} for name in _DEFAULT_OUTPUTS
            if (d / name).exists()}


def pytest_sessionstart(session) -> None:
    _LEFT_BEFORE.update(_left_behind())


def pytest_sessionfinish(session, exitstatus) -> None:
    new = sorted(_left_behind() - _LEFT_BEFORE)
    if new:
        print(f"\nheatpose: the tests left output folders behind: {', '.join(new)} "
              "(give every CLI call an --out under tmp_path; hypothesis: see conftest.py)")
        session.exitstatus = 1


def require_shared() -> Path:
    if not _shared_present():
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


def make_tiny_checkpoint(folder: Path, schema_name: str, name: str) -> Path:
    """A small self-describing heatpose checkpoint for ``schema_name``'s keypoints (ResNet-18
    with 8 base channels, 2 deconvs, 96x128 input), built with a fixed seed (no download)."""
    import torch

    from heatpose.models.build import Architecture, build_estimator, save_model
    from heatpose.schema import get_schema

    torch.manual_seed(0)
    schema = get_schema(schema_name)
    codec = {"type": "MSRAHeatmap", "input_size": [96, 128], "heatmap_size": [12, 16], "sigma": 2}
    arch = Architecture("resnet18", schema.num_keypoints, (16, 16), (4, 4),
                        backbone_kwargs={"stem_channels": 8, "base_channels": 8})
    model = build_estimator(arch, codec, schema.flip_indices, name=name, schema=schema)
    path = folder / f"{name}.pth"
    save_model(model.eval(), path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small COCO-keypoint checkpoint (see :func:`make_tiny_checkpoint`)."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), "coco", "tiny-coco")
