"""Loading a checkpoint never runs code: every pickle of every container torch.save has written
(zip, legacy, the old tar container), through every public loading path and the CLI.

The legacy and tar containers are written here by hand (their pickles, storage headers and raw
data laid out as torch's readers expect; the benign files are checked against ``torch.load``),
so that a payload can be put into each pickle position. A payload creates a marker file when it
runs; every test asserts that the marker never appears and that the user gets one line naming
the file."""
from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
import subprocess
import tarfile
import zipfile
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
from heatpose.models.torch_formats import MAGIC_NUMBER, PROTOCOL_VERSION

ZOO_NAME = "td-hm_res50_8xb64-210e_coco-256x192"
# the writers below use typed storages on purpose (that is what the old containers hold)
pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")


# ------------------------------------------------------------------------ container writers
def _pickle(obj: Any, persistent_id: Optional[Callable[[Any], Any]] = None) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=2)
    if persistent_id is not None:
        pickler.persistent_id = persistent_id
    pickler.dump(obj)
    return buf.getvalue()


def _raw(storage: torch.UntypedStorage) -> bytes:
    return torch.empty((0,), dtype=torch.uint8).set_(storage).numpy().tobytes()


def legacy_bytes(obj: Any, replace: Optional[Dict[str, bytes]] = None) -> bytes:
    """torch's legacy (non-zip) container: pickles of magic number, protocol version, sys info,
    the object (storages as persistent ids) and the storage keys, then per storage an int64
    element count and its bytes. ``replace`` swaps a pickle (by position name) for bytes."""
    storages: Dict[str, Any] = {}

    def persistent_id(o: Any) -> Any:
        if isinstance(o, torch.storage.TypedStorage):
            key = str(o._cdata)
            storages.setdefault(key, o)
            return ("storage", getattr(torch, o.pickle_storage_type()), key, "cpu", o.size(), None)
        return None

    parts = {"magic": _pickle(MAGIC_NUMBER), "protocol": _pickle(PROTOCOL_VERSION),
             "sys_info": _pickle({"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                                  "type_sizes": {"short": 2, "int": 4, "long": 4}}),
             "object": _pickle(obj, persistent_id)}
    parts["keys"] = _pickle(list(storages))
    parts.update(replace or {})
    data = b"".join(struct.pack("<q", s.size()) + _raw(s._untyped_storage)
                    for s in storages.values())
    return b"".join(parts.values()) + data


def tar_bytes(obj: Any, replace: Optional[Dict[str, bytes]] = None,
              links: Optional[Dict[str, str]] = None) -> bytes:
    """The torch <= 0.1 tar container: members ``storages`` (count, then per storage a pickled
    (key, location, storage type), an int64 element count and the bytes; then the storage views),
    ``tensors`` (count, then per tensor a pickled (key, storage key, tensor type) and its int32
    ndim, sizes, strides and offset) and ``pickle`` (the object; tensors as persistent ids).
    ``replace`` swaps a pickle (by position name) for bytes; ``links`` makes a member a symlink."""
    tensors: Dict[int, torch.Tensor] = {}
    storage_keys: Dict[int, int] = {}

    def persistent_id(o: Any) -> Any:
        if isinstance(o, torch.Tensor):
            key = 1000 + len(tensors)
            tensors[key] = o
            storage_keys.setdefault(o.untyped_storage()._cdata, len(storage_keys))
            return str(key)
        return None

    rep = replace or {}
    main = rep.get("pickle") or _pickle(obj, persistent_id)
    if "pickle" in rep:                           # still describe the object's tensors
        _pickle(obj, persistent_id)
    storages = {}
    for t in tensors.values():
        storages[storage_keys[t.untyped_storage()._cdata]] = t
    st = [rep.get("storages.count") or _pickle(len(storages))]
    for i, (key, t) in enumerate(storages.items()):
        storage = t.untyped_storage()
        header = (key, "cpu", getattr(torch, t.storage().pickle_storage_type()))
        st.append(rep.get("storages.header") if i == 0 and "storages.header" in rep
                  else _pickle(header))
        st.append(struct.pack("<q", storage.nbytes() // t.element_size()) + _raw(storage))
    st.append(rep.get("storages.views") or _pickle([]))
    tn = [rep.get("tensors.count") or _pickle(len(tensors))]
    for i, (key, t) in enumerate(tensors.items()):
        header = (key, storage_keys[t.untyped_storage()._cdata], type(t))
        tn.append(rep.get("tensors.header") if i == 0 and "tensors.header" in rep
                  else _pickle(header))
        tn.append(struct.pack("<ii", t.dim(), 0) + struct.pack(f"<{t.dim()}q", *t.shape)
                  + struct.pack(f"<{t.dim()}q", *t.stride())
                  + struct.pack("<q", t.storage_offset()))
    members = {"sys_info": _pickle({"little_endian": True}), "storages": b"".join(st),
               "tensors": b"".join(tn), "pickle": main}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if links and name in links:
                info.type, info.linkname = tarfile.SYMTYPE, links[name]
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(obj: Any, replace: Optional[Dict[str, bytes]] = None) -> bytes:
    """A torch.save zip file, with its ``data.pkl`` optionally replaced."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    if not replace:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("/data.pkl"):
                data = replace["data.pkl"]
            dst.writestr(name, data)
    return out.getvalue()


WRITERS = {"zip": zip_bytes, "legacy": legacy_bytes, "tar": tar_bytes}
POSITIONS = {
    "zip": ["data.pkl"],
    "legacy": ["magic", "protocol", "sys_info", "object", "keys"],
    "tar": ["storages.count", "storages.header", "storages.views", "tensors.count",
            "tensors.header", "pickle"],
}


# ---------------------------------------------------------------------------------- payloads
class _Reduce:
    """Pickles as ``func(*args)``: what a malicious ``__reduce__`` writes."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class EvilDict(dict):
    """A dict subclass in an allow-listed module whose item assignment creates the marker."""

    marker: Optional[Path] = None

    def __setitem__(self, key, value):
        Path(self.marker).touch()


EvilDict.__module__ = "collections"


@pytest.fixture(autouse=True)
def evil_dict_in_collections(monkeypatch):
    """Make ``collections.EvilDict`` resolvable, as a plain unpickler would find it."""
    import collections

    monkeypatch.setattr(collections, "EvilDict", EvilDict, raising=False)


def reduce_payloads(marker: Path) -> Dict[str, Any]:
    """Objects whose unpickling (if it ran their callables) creates ``marker``."""
    EvilDict.marker = marker
    evil_dict = EvilDict()
    dict.__setitem__(evil_dict, "k", 1)
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "builtins.open": _Reduce(builtins.open, str(marker), "w"),
        "builtins.eval": _Reduce(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "builtins.exec": _Reduce(builtins.exec, f"open({str(marker)!r}, 'w')"),
        "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)]),
        "subclass of dict": evil_dict,
    }


def _unicode(text: str) -> bytes:
    data = text.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data


def crafted_payloads(marker: Path) -> Dict[str, bytes]:
    """Hand-written pickles: names that look allowed, Python 2 names, state on shared objects."""
    cmd = _unicode(f"touch {marker}")
    return {
        # protocol 4 resolves dotted names: os.system reached through an allowed-looking module
        "dotted name": b"\x80\x04" + _unicode("torch.serialization") + _unicode("os.system")
        + pickle.STACK_GLOBAL + cmd + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP,
        "dotted allowed name": b"\x80\x04" + _unicode("torch._utils")
        + _unicode("_rebuild_tensor.__globals__") + pickle.STACK_GLOBAL + pickle.STOP,
        "python 2 name": b"\x80\x02c__builtin__\neval\n"
        + _unicode(f"open({str(marker)!r}, 'w')") + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP,
        # set an attribute of an allowed class: would change torch for the whole process
        "state on a class": b"\x80\x02ctorch.nn.parameter\nParameter\n" + pickle.NONE
        + pickle.EMPTY_DICT + _unicode("__repr__") + b"cposix\nsystem\n" + pickle.SETITEM
        + pickle.TUPLE2 + pickle.BUILD + pickle.STOP,
        # state on a shared numpy dtype (only fresh copies may get state)
        "state on a shared dtype": b"\x80\x02cnumpy\ndtype\n" + _unicode("f8") + pickle.NEWFALSE
        + pickle.NEWFALSE + pickle.TUPLE3 + pickle.REDUCE
        + pickle.MARK + b"K\x03" + _unicode(">") + pickle.NONE * 3 + b"J\xff\xff\xff\xff" * 2
        + b"K\x00" + pickle.TUPLE + pickle.BUILD + pickle.STOP,
    }


def all_payload_pickles(marker: Path) -> Dict[str, bytes]:
    out = {name: _pickle(obj) for name, obj in reduce_payloads(marker).items()}
    out.update(crafted_payloads(marker))
    return out


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
def test_payloads_are_real(tmp_path):
    """Plain pickle runs each marker-making payload (so the tests below could fail)."""
    marker = tmp_path / "marker"
    pickles = all_payload_pickles(marker)
    for kind in list(reduce_payloads(marker)) + ["dotted name", "python 2 name"]:
        try:
            pickle.loads(pickles[kind])
        except Exception:  # noqa: BLE001 - os.system's return value etc. do not matter
            pass
        for _ in range(100):                      # Popen / os.system finish asynchronously
            if marker.exists():
                break
            __import__("time").sleep(0.02)
        assert marker.exists(), kind
        marker.unlink()


@pytest.mark.parametrize("container", ["legacy", "tar"])
def test_hand_written_containers_are_what_torch_reads(container, tmp_path):
    """The writers above produce genuine files: torch.load reads them (benign content)."""
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    obj = {"state_dict": OrderedDict(w=w, view=w[1], b=torch.tensor([True, False]),
                                     h=torch.ones(2, dtype=torch.float16)), "meta": {"epoch": 3}}
    path = tmp_path / f"{container}.pth"
    path.write_bytes(WRITERS[container](obj))
    ref = torch.load(path, weights_only=False)
    state, meta = read_checkpoint(path)
    assert meta == {"epoch": 3} == ref["meta"]
    for k, v in obj["state_dict"].items():
        assert torch.equal(state[k], v) and torch.equal(ref["state_dict"][k], v)
        assert state[k].dtype == v.dtype and state[k].stride() == v.stride()


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
    path.write_bytes(_pickle(_Reduce(builtins.open, str(marker), "w")))
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
    path.write_bytes(legacy_bytes({}, replace={"object": _pickle(
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
        ("module." + k.split(".", 1)[1], _Reduce(torch._utils._rebuild_tensor, v.storage(),
                                                 v.storage_offset(), v.shape, v.stride()))
        for k, v in state.items())
    path = tmp_path / "pose_resnet_2018.pth.tar"
    path.write_bytes(legacy_bytes(official))
    fresh = _tiny_model()
    load_checkpoint(fresh, path)
    for k, v in state.items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_tensors_without_data_and_pickled_models_are_one_line(tmp_path):
    meta_tensor = _Reduce(torch._utils._rebuild_device_tensor_from_numpy,
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


@pytest.mark.parametrize("container", list(WRITERS))
def test_mutated_files_never_escape_as_other_errors(container, tmp_path):
    """Random byte flips and cuts of a good file: read_torch_file loads it or raises the one-line
    CheckpointError, nothing else (property test)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from heatpose.models.torch_formats import read_torch_file

    w = torch.arange(6, dtype=torch.float32)
    data = WRITERS[container]({"state_dict": {"w": w, "v": w[2:]}, "meta": {"n": np.arange(2)}})
    path = tmp_path / f"fuzz_{container}.pth"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(flips=st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)),
                          max_size=4),
           cut=st.integers(1, len(data)))
    def check(flips, cut):
        mutated = bytearray(data[:cut])
        for pos, xor in flips:
            if pos < len(mutated):
                mutated[pos] ^= xor
        path.write_bytes(bytes(mutated))
        try:
            read_torch_file(path)
        except CheckpointError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)

    check()
