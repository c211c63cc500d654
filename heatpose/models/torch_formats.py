"""Read the three containers ``torch.save`` has written, every pickle through the safe unpickler.

``torch.load(pickle_module=...)`` is not used: it reads the legacy container's small pickles and
the old tar container with ``pickle_module.load``, checks "module source" entries (and may write
``.patch`` files), hands zip files holding TorchScript to ``torch.jit.load`` and extracts tar
members to disk. These readers do none of that; each storage's bytes are read straight into a
CPU tensor after checking its declared size.

* zip (torch >= 1.6): ``<prefix>/data.pkl`` + one record ``<prefix>/data/<key>`` per storage.
* legacy (torch 0.4 - 1.5, and ``_use_new_zipfile_serialization=False``; MMPose 0.x files):
  pickles of the magic number, protocol version and sys info, the object pickle, the list of
  storage keys, then per storage an int64 element count and its raw bytes.
* tar (torch <= 0.1.x): members ``storages``, ``tensors`` (pickled headers + raw data) and
  ``pickle`` (the object, referring to storages/tensors by key).
"""
from __future__ import annotations

import os
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any, Dict, Tuple, Union

import torch

from heatpose.errors import CheckpointError
from heatpose.models.safe_pickle import StorageType, UnpicklingError, load

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_MAX_NDIM = 64
_MAX_RATIO = 1100          # deflate's best ratio is ~1032: more is a lie about the size


class FormatError(ValueError):
    """The file is not a well-formed torch container (message says what is wrong)."""


def read_torch_file(path: Union[str, Path]) -> Any:
    """The object stored in a ``torch.save`` file, with tensors on the CPU; never runs code.

    Raises :class:`CheckpointError` (one line naming ``path``) when the file cannot be read."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(4) == b"PK\x03\x04":
                f.seek(0)
                return _read_zip(f)
            f.seek(0)
            if _is_tar(f):
                f.seek(0)
                return _read_tar(f)
            f.seek(0)
            return _read_legacy(f, size)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except UnpicklingError as exc:
        if "refused" in str(exc):
            raise CheckpointError(f"{path}: not loaded: {exc} (heatpose never runs code from a "
                                  "checkpoint)") from None
        raise CheckpointError(_unreadable(path, exc)) from None
    except Exception as exc:         # noqa: BLE001 - every failure of an untrusted file is one line
        raise CheckpointError(_unreadable(path, exc)) from None


def _unreadable(path: Path, exc: BaseException) -> str:
    try:
        size = f"{path.stat().st_size} bytes"
    except OSError:
        size = "size unknown"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, FormatError):
        return f"{path}: not a readable checkpoint ({size}): {text}"
    return (f"{path}: not a readable checkpoint ({size}; truncated or corrupt?): "
            f"{type(exc).__name__}: {text}")


def _dtype_of(storage_type: Any) -> torch.dtype:
    if not isinstance(storage_type, StorageType):
        raise FormatError(f"unknown storage type {storage_type!r}")
    return storage_type.dtype


def _typed(untyped: torch.UntypedStorage, dtype: torch.dtype) -> torch.storage.TypedStorage:
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def _read_into(stream: IO[bytes], untyped: torch.UntypedStorage) -> None:
    """Fill ``untyped`` from ``stream`` (exactly its size, else FormatError)."""
    view = torch.empty((0,), dtype=torch.uint8).set_(untyped).numpy()
    done = 0
    while done < view.size:
        got = stream.readinto(memoryview(view)[done:])
        if not got:
            raise FormatError(f"storage data ends after {done} of {view.size} bytes")
        done += got


def _int(value: Any, what: str, low: int = 0, high: int = 1 << 62) -> int:
    if type(value) is not int or not low <= value <= high:
        raise FormatError(f"bad {what}: {value!r}")
    return value


def _name(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


# --------------------------------------------------------------------------------------- zip
def _read_zip(f: IO[bytes]) -> Any:
    with zipfile.ZipFile(f) as archive:
        names = set(archive.namelist())
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
        if len(pickles) != 1:
            raise FormatError(f"zip archive without one data.pkl (found {len(pickles)})")
        prefix = pickles[0][:-len("data.pkl")]
        if prefix + "constants.pkl" in names:
            raise UnpicklingError("refused a TorchScript archive (a program, not a checkpoint)")
        if prefix + "byteorder" in names and archive.read(prefix + "byteorder") != b"little":
            raise FormatError("big-endian checkpoints are not supported")
        storages: Dict[str, torch.storage.TypedStorage] = {}

        def persistent_load(pid: Any) -> Any:
            if not isinstance(pid, tuple) or len(pid) != 5 or _name(pid[0]) != "storage":
                raise FormatError(f"unexpected persistent id {pid!r}")
            _, storage_type, key, _location, numel = pid
            dtype = _dtype_of(storage_type)
            if not isinstance(key, str):
                raise FormatError(f"bad storage key {key!r}")
            if key not in storages:
                info = archive.getinfo(f"{prefix}data/{key}")
                nbytes = _int(numel, "storage size") * dtype.itemsize
                if info.file_size != nbytes:
                    raise FormatError(f"record data/{key} holds {info.file_size} bytes, the "
                                      f"pickle says {nbytes}")
                if nbytes > _MAX_RATIO * info.compress_size + (1 << 20):   # a zip bomb
                    raise FormatError(f"record data/{key} claims {nbytes} bytes from "
                                      f"{info.compress_size} compressed")
                untyped = torch.UntypedStorage(nbytes)
                with archive.open(info) as stream:
                    _read_into(stream, untyped)
                storages[key] = _typed(untyped, dtype)
            return storages[key]

        with archive.open(pickles[0]) as stream:
            return load(stream, persistent_load=persistent_load)


# ------------------------------------------------------------------------------------ legacy
def _read_legacy(f: IO[bytes], file_size: int) -> Any:
    if load(f) != MAGIC_NUMBER:
        raise FormatError("not a torch checkpoint (no zip, tar or legacy magic number)")
    protocol = load(f)
    if protocol != PROTOCOL_VERSION:
        raise FormatError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = load(f)
    if not isinstance(sys_info, dict):
        raise FormatError(f"bad sys info {sys_info!r}")
    if sys_info.get("little_endian") is False:
        raise FormatError("big-endian checkpoints are not supported")
    roots: Dict[Any, torch.storage.TypedStorage] = {}
    objects: Dict[Any, torch.storage.TypedStorage] = {}
    budget = [file_size]                      # storages cannot hold more bytes than the file

    def persistent_load(pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise FormatError(f"unexpected persistent id {pid!r}")
        if _name(pid[0]) == "module":             # a pickled nn.Module class: never imported
            return pid[1] if len(pid) > 1 else None
        if _name(pid[0]) != "storage" or len(pid) != 6:
            raise FormatError(f"unexpected persistent id {pid!r}")
        _, storage_type, root_key, _location, numel, view = pid
        dtype = _dtype_of(storage_type)
        if root_key not in roots:
            nbytes = _int(numel, "storage size") * dtype.itemsize
            budget[0] -= nbytes
            if budget[0] < 0:
                raise FormatError("storages larger than the file")
            roots[root_key] = objects[root_key] = _typed(torch.UntypedStorage(nbytes), dtype)
        root = roots[root_key]
        if view is None:
            return root
        view_key, offset, view_numel = view
        if view_key not in objects:
            objects[view_key] = _typed(_slice(root, offset, view_numel), dtype)
        return objects[view_key]

    result = load(f, persistent_load=persistent_load)
    keys = load(f)
    if not isinstance(keys, list):
        raise FormatError("bad storage key list")
    for key in keys:
        storage = roots[key]
        count = struct.unpack("<q", _exact(f, 8))[0]
        if count * storage.dtype.itemsize != storage._untyped_storage.nbytes():
            raise FormatError(f"storage {key!r}: {count} elements stored, pickle says "
                              f"{storage.size()}")
        _read_into(f, storage._untyped_storage)
    return result


def _slice(root: torch.storage.TypedStorage, offset: Any, numel: Any) -> torch.UntypedStorage:
    size = root.dtype.itemsize
    start, length = _int(offset, "view offset") * size, _int(numel, "view size") * size
    if start + length > root._untyped_storage.nbytes():
        raise FormatError("storage view outside its storage")
    return root._untyped_storage[start:start + length]


def _exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"file ends {n - len(data)} bytes early")
    return data


# --------------------------------------------------------------------------------------- tar
def _is_tar(f: IO[bytes]) -> bool:
    try:
        with tarfile.open(fileobj=f, mode="r:"):
            return True
    except tarfile.TarError:
        return False


def _read_tar(f: IO[bytes]) -> Any:
    with tarfile.open(fileobj=f, mode="r:") as tar:
        def member(name: str) -> Tuple[IO[bytes], int]:
            try:
                info = tar.getmember(name)
            except KeyError:
                raise FormatError(f"tar container without a {name!r} member") from None
            if not info.isfile():                 # a link or device is never followed
                raise FormatError(f"tar member {name!r} is not a regular file")
            return tar.extractfile(info), info.size   # read in memory, never extracted to disk

        objects: Dict[Any, Any] = {}
        stream, size = member("storages")
        _tar_storages(stream, size, objects)
        stream, size = member("tensors")
        _tar_tensors(stream, objects)

        def persistent_load(pid: Any) -> Any:
            if isinstance(pid, tuple):                # a pickled nn.Module class: never imported
                return pid[0] if pid else None
            if not isinstance(pid, (str, bytes, int)):
                raise FormatError(f"unexpected persistent id {pid!r}")
            return objects[int(pid)]

        stream, _ = member("pickle")
        return load(stream, persistent_load=persistent_load)


def _tar_storages(stream: IO[bytes], size: int, objects: Dict[Any, Any]) -> None:
    for _ in range(_int(load(stream), "storage count", high=size)):
        key, _location, storage_type = _triple(load(stream))
        dtype = _dtype_of(storage_type)
        count = struct.unpack("<q", _exact(stream, 8))[0]
        nbytes = _int(count, "storage size", high=size) * dtype.itemsize
        if nbytes > size:
            raise FormatError("storage larger than its tar member")
        untyped = torch.UntypedStorage(nbytes)
        _read_into(stream, untyped)
        objects[key] = _typed(untyped, dtype)
    views = load(stream)
    for target, root_key, offset, numel in views:
        objects[target] = _typed(_slice(objects[root_key], offset, numel),
                                 objects[root_key].dtype)


def _tar_tensors(stream: IO[bytes], objects: Dict[Any, Any]) -> None:
    for _ in range(_int(load(stream), "tensor count", high=1 << 24)):
        key, storage_id, _tensor_type = _triple(load(stream))
        storage = objects[storage_id]
        ndim = _int(struct.unpack("<i", _exact(stream, 4))[0], "ndim", high=_MAX_NDIM)
        _exact(stream, 4)                         # ndim was once written as 8 bytes
        shape = struct.unpack(f"<{ndim}q", _exact(stream, 8 * ndim))
        stride = struct.unpack(f"<{ndim}q", _exact(stream, 8 * ndim))
        (offset,) = struct.unpack("<q", _exact(stream, 8))
        objects[key] = torch.empty((0,), dtype=storage.dtype).set_(
            storage._untyped_storage, offset, shape, stride)       # set_ checks the bounds


def _triple(value: Any) -> Tuple[Any, Any, Any]:
    if not isinstance(value, tuple) or len(value) != 3:
        raise FormatError(f"bad record header {value!r}")
    return value

