"""Hand-written torch containers and code-running payloads for the safety tests.

The legacy and tar containers are written here byte by byte (their pickles, storage headers and
raw data laid out as torch's readers expect; the benign files are checked against ``torch.load``)
so that a payload can be put into each pickle position; the payloads are checked to run under
plain pickle. Mutated files must load or fail with one line (property test)."""
from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
import subprocess
import tarfile
import time
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import torch

from heatpose.errors import CheckpointError
from heatpose.models.checkpoints import read_checkpoint
from heatpose.models.torch_formats import MAGIC_NUMBER, PROTOCOL_VERSION, read_torch_file

# the writers use typed storages on purpose (that is what the old containers hold)
pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")


# ------------------------------------------------------------------------ container writers
def pickle_bytes(obj: Any, persistent_id: Optional[Callable[[Any], Any]] = None) -> bytes:
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

    parts = {"magic": pickle_bytes(MAGIC_NUMBER), "protocol": pickle_bytes(PROTOCOL_VERSION),
             "sys_info": pickle_bytes({"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                                  "type_sizes": {"short": 2, "int": 4, "long": 4}}),
             "object": pickle_bytes(obj, persistent_id)}
    parts["keys"] = pickle_bytes(list(storages))
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
    main = rep.get("pickle") or pickle_bytes(obj, persistent_id)
    if "pickle" in rep:                           # still describe the object's tensors
        pickle_bytes(obj, persistent_id)
    storages = {}
    for t in tensors.values():
        storages[storage_keys[t.untyped_storage()._cdata]] = t
    st = [rep.get("storages.count") or pickle_bytes(len(storages))]
    for i, (key, t) in enumerate(storages.items()):
        storage = t.untyped_storage()
        header = (key, "cpu", getattr(torch, t.storage().pickle_storage_type()))
        st.append(rep.get("storages.header") if i == 0 and "storages.header" in rep
                  else pickle_bytes(header))
        st.append(struct.pack("<q", storage.nbytes() // t.element_size()) + _raw(storage))
    st.append(rep.get("storages.views") or pickle_bytes([]))
    tn = [rep.get("tensors.count") or pickle_bytes(len(tensors))]
    for i, (key, t) in enumerate(tensors.items()):
        header = (key, storage_keys[t.untyped_storage()._cdata], type(t))
        tn.append(rep.get("tensors.header") if i == 0 and "tensors.header" in rep
                  else pickle_bytes(header))
        tn.append(struct.pack("<ii", t.dim(), 0) + struct.pack(f"<{t.dim()}q", *t.shape)
                  + struct.pack(f"<{t.dim()}q", *t.stride())
                  + struct.pack("<q", t.storage_offset()))
    members = {"sys_info": pickle_bytes({"little_endian": True}), "storages": b"".join(st),
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
class Reduce:
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
        "os.system": Reduce(os.system, f"touch {marker}"),
        "builtins.open": Reduce(builtins.open, str(marker), "w"),
        "builtins.eval": Reduce(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "builtins.exec": Reduce(builtins.exec, f"open({str(marker)!r}, 'w')"),
        "subprocess.Popen": Reduce(subprocess.Popen, ["touch", str(marker)]),
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
    out = {name: pickle_bytes(obj) for name, obj in reduce_payloads(marker).items()}
    out.update(crafted_payloads(marker))
    return out


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
            time.sleep(0.02)
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


@pytest.mark.parametrize("container", list(WRITERS))
def test_mutated_files_never_escape_as_other_errors(container, tmp_path):
    """Random byte flips and cuts of a good file: read_torch_file loads it or raises the one-line
    CheckpointError, nothing else (property test)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

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
