"""Loading a checkpoint never runs code: a payload in every pickle position of every container
torch.save has written (zip, legacy, the old tar container; see test_safety_files.py), through
every public loading path and ``heatpose infer``. A payload creates a marker file when it runs;
every test asserts that the marker never appears and that the user gets one line naming the
file."""
from __future__ import annotations

import builtins
import io
import os
import tarfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import torch

import heatpose
from heatpose.cli import main as cli_main
from heatpose.errors import CheckpointError
from heatpose.models.build import build_model, load_model
from heatpose.models.checkpoints import load_checkpoint, read_checkpoint

from test_safety_files import (POSITIONS, WRITERS, Reduce, all_payload_pickles, legacy_bytes,
                               pickle_bytes, reduce_payloads, tar_bytes)
from test_safety_files import evil_dict_in_collections  # noqa: F401 (autouse fixture)

ZOO_NAME = "td-hm_res50_8xb64-210e_coco-256x192"
# the writers use typed storages on purpose (that is what the old containers hold)
pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")


# -------------------------------------------------------------------------- loading paths
@pytest.fixture(scope="module")
def tiny_payload(tiny_checkpoint) -> Dict[str, Any]:
    return torch.load(tiny_checkpoint, weights_only=True)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("img") / "person.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    return path


def _tiny_model():
    from heatpose.models.build import Architecture, build_estimator
    from heatpose.schema import get_schema

    schema = get_schema("coco")
    codec = {"type": "MSRAHeatmap", "input_size": [96, 128], "heatmap_size": [12, 16],
             "sigma": 2}
    arch = Architecture("resnet18", 17, (16, 16), (4, 4),
                        backbone_kwargs={"stem_channels": 8, "base_channels": 8})
    return build_estimator(arch, codec, schema.flip_indices, name="tiny-coco", schema=schema)


def loading_paths(image: Path, out: Path) -> Dict[str, Callable]:
    """Every public way to load a checkpoint (each gets the file's path)."""
    return {
        "read_checkpoint": read_checkpoint,
        "load_checkpoint": lambda p: load_checkpoint(_tiny_model(), p),
        "load_model": load_model,
        "build_model": lambda p: build_model(ZOO_NAME, checkpoint=p),
        "Pipeline": lambda p: heatpose.Pipeline(checkpoint=p, detector="whole-image",
                                                device="cpu"),
        "heatpose infer": lambda p: cli_main(["infer", str(image), "--checkpoint", str(p),
                                              "--whole-image", "--device", "cpu", "--out",
                                              str(out), "--no-draw", "--quiet"]),
    }


def check_paths(path: Path, marker: Path, image: Path, out: Path, capsys,
                only: Optional[tuple] = None, must_fail: bool = True) -> None:
    """Each public path (or those in ``only``) either loads the file or fails with one line
    naming it; the payload never runs."""
    for name, load in loading_paths(image, out).items():
        if only is not None and name not in only:
            continue
        capsys.readouterr()
        try:
            result = load(path)
        except CheckpointError as exc:
            message = str(exc)
            assert str(path) in message and "\n" not in message, (name, message)
        else:
            if name == "heatpose infer":
                err = capsys.readouterr().err
                if must_fail:
                    assert result == 2, (name, err)
                    lines = [ln for ln in err.splitlines() if str(path) in ln]
                    assert len(lines) == 1 and "Traceback" not in err, err
            else:
                assert not must_fail, f"{name} loaded {path}"
        assert not marker.exists(), f"the payload ran through {name}"


# every failing file fails in read_checkpoint, which each path calls first: the payload
# matrix runs these fast paths for every payload, and all paths for one payload per position
FAST_PATHS = ("read_checkpoint", "load_model", "heatpose infer")
NO_ZOO_BUILD = ("read_checkpoint", "load_checkpoint", "load_model", "Pipeline", "heatpose infer")


# ---------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("container,position",
                         [(c, p) for c, ps in POSITIONS.items() for p in ps])
def test_payload_in_each_pickle_position(container, position, tiny_payload, image, tmp_path,
                                         capsys):
    marker = tmp_path / "marker"
    parameter_attrs = dict(vars(torch.nn.Parameter))
    for i, (kind, payload) in enumerate(all_payload_pickles(marker).items()):
        path = tmp_path / f"{container}_{position}_{kind.replace(' ', '_')}.pth"
        path.write_bytes(WRITERS[container](tiny_payload, replace={position: payload}))
        # the first payload goes every way; build_model (a ResNet-50: slow to build) only
        # for each container's first position
        first = position == POSITIONS[container][0]
        check_paths(path, marker, image, tmp_path / "out", capsys,
                    only=FAST_PATHS if i else None if first else NO_ZOO_BUILD)
    assert dict(vars(torch.nn.Parameter)) == parameter_attrs       # no class was changed
    assert np.dtype("f8").byteorder == "="


@pytest.mark.parametrize("container", list(WRITERS))
def test_payloads_inside_a_valid_checkpoint_stay_inert(container, tiny_payload, image,
                                                       tmp_path, capsys):
    """Payloads nested in the metadata of a good checkpoint: it loads (weights intact), the
    payloads become inert placeholders, nothing runs — through every path and the CLI."""
    marker = tmp_path / "marker"
    payload = {**tiny_payload, "meta": {**tiny_payload["meta"], **reduce_payloads(marker)}}
    path = tmp_path / f"{container}_nested.pth"
    path.write_bytes(WRITERS[container](payload))
    state, meta = read_checkpoint(path)
    for k, v in tiny_payload["state_dict"].items():
        assert torch.equal(state[k], v)
    assert "posix.system" in repr(meta["os.system"])
    check_paths(path, marker, image, tmp_path / "out", capsys, must_fail=False,
                only=NO_ZOO_BUILD)
    assert (tmp_path / "out" / "predictions.json").is_file()


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")   # making the archive
def test_torchscript_archive_is_refused(tmp_path, capsys, image):
    marker = tmp_path / "marker"
    path = tmp_path / "scripted.pth"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(CheckpointError, match="TorchScript"):
        read_checkpoint(path)
    check_paths(path, marker, image, tmp_path / "out", capsys, only=FAST_PATHS)


def test_tar_member_links_are_not_followed(tiny_payload, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x" * 64)
    path = tmp_path / "links.pth"
    path.write_bytes(tar_bytes(tiny_payload, links={"storages": str(secret)}))
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_checkpoint(path)


def test_the_49_byte_legacy_file_from_the_issue(tmp_path, image, capsys):
    """Issue 9: a tiny legacy file whose first pickle opens a file."""
    marker = tmp_path / "marker"
    path = tmp_path / "tiny_evil.pth"
    path.write_bytes(pickle_bytes(Reduce(builtins.open, str(marker), "w")))
    assert len(path.read_bytes()) < 49 + len(str(marker))
    check_paths(path, marker, image, tmp_path / "out", capsys)


def _tar_content_end(data: bytes) -> int:
    """Where the last member's data ends (a tar file is padded with zero blocks after it)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
        return last.offset_data + last.size


def test_truncated_and_garbage_files_one_line(tiny_payload, tmp_path, image, capsys):
    marker = tmp_path / "marker"
    cases = {"empty": b"", "garbage": os.urandom(200), "text": b"not a checkpoint\n",
             "zip magic only": b"PK\x03\x04" + b"\0" * 30}
    for container, write in WRITERS.items():
        data = write(tiny_payload)
        end = len(data) if container != "tar" else _tar_content_end(data)
        for frac in (0.1, 0.5, 0.9, 0.999):
            cases[f"{container} cut at {frac}"] = data[: int(end * frac)]
    for name, data in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.pth"
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value), name
    # and through the CLI (one representative)
    check_paths(tmp_path / "legacy_cut_at_0.5.pth", marker, image, tmp_path / "out", capsys,
                only=FAST_PATHS)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        read_checkpoint(tmp_path)          # a folder


def test_storage_sizes_are_checked_before_allocating(tiny_payload, tmp_path):
    """A legacy pickle claiming a huge storage is refused without allocating it."""
    def persistent_id(o):
        if isinstance(o, torch.storage.TypedStorage):
            return ("storage", torch.FloatStorage, "0", "cpu", 1 << 40, None)
        return None

    path = tmp_path / "huge.pth"
    path.write_bytes(legacy_bytes({}, replace={"object": pickle_bytes(
        {"state_dict": {"w": torch.zeros(2)}}, persistent_id)}))
    with pytest.raises(CheckpointError, match="larger than the file"):
        read_checkpoint(path)


def test_old_batchnorm_without_num_batches_tracked_loads(tmp_path):
    """2018-era files (torch < 0.4.1): no ``num_batches_tracked``, tensors pickled with the
    first ``_rebuild_tensor``, official-repo names, legacy container."""
    model = _tiny_model()
    for p in model.parameters():
        torch.nn.init.normal_(p)
    state = {k: v for k, v in model.state_dict().items() if "num_batches_tracked" not in k}
    official = OrderedDict(
        ("module." + k.split(".", 1)[1], Reduce(torch._utils._rebuild_tensor, v.storage(),
                                                 v.storage_offset(), v.shape, v.stride()))
        for k, v in state.items())
    path = tmp_path / "pose_resnet_2018.pth.tar"
    path.write_bytes(legacy_bytes(official))
    fresh = _tiny_model()
    load_checkpoint(fresh, path)
    for k, v in state.items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_tensors_without_data_and_pickled_models_are_one_line(tmp_path):
    meta_tensor = Reduce(torch._utils._rebuild_device_tensor_from_numpy,
                          np.zeros(3, np.float32), torch.float32, "meta", False)
    path = tmp_path / "meta.pth"
    path.write_bytes(legacy_bytes({"state_dict": {"w": meta_tensor}}))
    with pytest.raises(CheckpointError, match="holds no data") as err:
        read_checkpoint(path)
    assert str(path) in str(err.value)
    path = tmp_path / "whole_model.pth"                  # torch.save(model) of a 2018 repo
    path.write_bytes(legacy_bytes(torch.nn.Linear(2, 2)))
    with pytest.raises(CheckpointError, match="pickled torch.nn.modules.linear.Linear"):
        read_checkpoint(path)
    torch.save(torch.nn.Linear(2, 2), path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="pickled torch.nn.modules.linear.Linear"):
        read_checkpoint(path)                            # module class as a persistent id
    assert not list(Path.cwd().glob("*.patch"))          # torch's source check never ran




def test_training_loaders_never_run_code(tmp_path, monkeypatch):
    """The training side reads files the same way: --resume, the pretrained backbone (a URL
    through the download cache, here file://) and MMPose's load_from."""
    from heatpose.engine.pretrained import load_init_checkpoint, load_pretrained_backbone
    from heatpose.engine.state import read_training_state

    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path / "cache"))
    marker = tmp_path / "marker"
    path = tmp_path / "resnet50-evil.pth"
    payload = reduce_payloads(marker)["os.system"]
    path.write_bytes(legacy_bytes({"state_dict": payload, "optimizer": payload}))
    calls = {
        "read_training_state": (lambda: read_training_state(path), path),
        "load_pretrained_backbone": (lambda: load_pretrained_backbone(_tiny_model(),
                                                                      path.as_uri()),
                                     tmp_path / "cache" / path.name),
        "load_init_checkpoint": (lambda: load_init_checkpoint(_tiny_model(), str(path)), path),
    }
    for name, (call, named) in calls.items():
        with pytest.raises(CheckpointError) as err:
            call()
        assert str(named) in str(err.value) and "\n" not in str(err.value), name
        assert not marker.exists(), name


@pytest.mark.parametrize("command", ["demo", "track"])
def test_other_commands_with_checkpoint(command, tmp_path, image, capsys):
    """heatpose demo / track --checkpoint: the issue's tiny file gives one line, runs nothing."""
    marker = tmp_path / "marker"
    path = tmp_path / "tiny_evil.pth"
    path.write_bytes(pickle_bytes(Reduce(builtins.open, str(marker), "w")))
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "000001.png").write_bytes(image.read_bytes())
    where = ["--image", str(image)] if command == "demo" else [str(frames)]
    code = cli_main([command, *where, "--checkpoint", str(path), "--whole-image", "--device",
                     "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if str(path) in ln]) == 1, err
    assert not marker.exists()
