"""A pickle reader that never runs code from the file.

``torch.load(weights_only=True)`` refuses MMPose checkpoints outright (numpy arrays in ``meta``,
mmengine objects in ``message_hub``), and ``weights_only=False`` runs whatever the file says. This
module's :class:`Unpickler` sits between the two:

* ``find_class`` resolves only a fixed list of harmless globals (tensor rebuilders, containers,
  numpy arrays/dtypes/scalars, a latin-1-only ``_codecs.encode``); every other global becomes an
  inert :class:`OpaqueObject` class that only records its name, arguments and state.
* ``BUILD`` (``__setstate__`` / attribute updates) is allowed only on objects this pickle created
  and whose state-setting is harmless: tensors, ``OrderedDict``, numpy arrays, freshly made numpy
  dtypes and opaque objects — never on a class, a function, a module or a shared singleton.

It is a subclass of the pure-Python ``pickle._Unpickler`` because the C unpickler offers no hook
for ``BUILD``. :func:`load` / :func:`loads` read every pickle of a file (a checkpoint's container
readers in :mod:`heatpose.models.torch_formats` use nothing else).
"""
from __future__ import annotations

import _compat_pickle
import importlib
import io
import pickle
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import torch

# module -> names that resolve to the real object
_ALLOWED: Dict[str, Tuple[str, ...]] = {
    "collections": ("OrderedDict", "defaultdict", "deque", "Counter"),
    "builtins": ("set", "frozenset", "slice", "complex", "bytearray", "range", "tuple", "list",
                 "dict", "int", "float", "bool", "str", "bytes"),
    "torch._utils": ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                     "_rebuild_parameter", "_rebuild_parameter_with_state",
                     "_rebuild_device_tensor_from_numpy"),
    "torch": ("Size", "device", "float16", "float32", "float64", "bfloat16", "int8", "int16",
              "int32", "int64", "uint8", "bool", "complex64", "complex128"),
    "torch.nn.parameter": ("Parameter",),
    "numpy": ("ndarray",),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
}
# torch's typed storage class names (``torch.FloatStorage``...) -> element dtype
STORAGE_DTYPES: Dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
}
_STORAGE_MODULES = ("torch", "torch.cuda")


class StorageType:
    """What a pickled storage class name (``torch.FloatStorage``) stands for: its dtype."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"StorageType({self.dtype})"


class OpaqueObject:
    """Stand-in for a global the safe unpickler refused (e.g. ``mmengine...HistoryBuffer``).

    Holds the refused name, the call arguments, any pickled state and container items; does
    nothing else."""

    def __init__(self, name: str, args: Tuple[Any, ...] = ()) -> None:
        self.name = name
        self.args = args
        self.state: Any = None
        self.items: List[Any] = []

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "OpaqueObject":
        # e.g. a refused ``getattr(obj, "method")`` that the pickle then calls
        return OpaqueObject(f"{self.name}(...)", args)

    # a refused list/dict/set subclass still receives its items (APPENDS, SETITEMS, ADDITEMS)
    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    add = append

    def __repr__(self) -> str:
        return f"<opaque {self.name}>"


def _opaque_factory(qualname: str) -> type:
    class _Opaque(OpaqueObject):
        def __new__(cls, *args: Any, **kwargs: Any) -> "OpaqueObject":
            obj = OpaqueObject.__new__(cls)
            OpaqueObject.__init__(obj, qualname, args)
            return obj

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __reduce__(self):                     # never re-pickled as the original class
            return (OpaqueObject, (qualname, self.args))

    _Opaque.__qualname__ = _Opaque.__name__ = f"Opaque[{qualname}]"
    return _Opaque


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (no other codec is looked up)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r})")
    return text.encode("latin-1")


def _module_object(module: str, name: str) -> Any:
    if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        module = "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
    return getattr(importlib.import_module(module), name)


class Unpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Unpickler that resolves only allow-listed globals (others become OpaqueObjects) and
    refuses state changes on anything but the plain data objects it created itself."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.refused: Tuple[str, ...] = ()
        self._fresh: List[Any] = []        # numpy dtypes made here (copies: safe to set state)
        self._fresh_ids: Set[int] = set()

    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise pickle.UnpicklingError("malformed global reference")
        if self.proto < 3 and self.fix_imports:          # Python 2 names (old checkpoints)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        if module in _STORAGE_MODULES and name in STORAGE_DTYPES:
            return StorageType(STORAGE_DTYPES[name])
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module == "numpy" and name == "dtype":
            return self._new_dtype
        if name in _ALLOWED.get(module, ()) or \
                module == "numpy.dtypes" and name.isidentifier() and name.endswith("DType"):
            return _module_object(module, name)
        self.refused = self.refused + (f"{module}.{name}",)
        return _opaque_factory(f"{module}.{name}")

    def _new_dtype(self, spec: Any = None, align: bool = False, copy: bool = True) -> np.dtype:
        """``numpy.dtype(spec, align, copy)`` that always copies (BUILD may then set its state
        without touching numpy's shared built-in dtypes)."""
        if isinstance(spec, OpaqueObject):
            raise pickle.UnpicklingError(f"refused numpy.dtype({spec!r})")
        dtype = np.dtype(spec, align=bool(align), copy=True)
        self._fresh.append(dtype)          # kept alive so that its id stays unique
        self._fresh_ids.add(id(dtype))
        return dtype

    def _may_set_state(self, inst: Any) -> bool:
        if isinstance(inst, np.dtype):
            return id(inst) in self._fresh_ids
        return isinstance(inst, (torch.Tensor, OrderedDict, np.ndarray, OpaqueObject))

    def load_build(self) -> None:
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        if not self._may_set_state(inst):
            raise pickle.UnpicklingError(
                f"refused to set the state of a {type(inst).__name__} (only tensors, arrays and "
                "plain containers made by this file may have state)")
        super().load_build()

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    dispatch[pickle.BUILD[0]] = load_build


def load(file: Any, persistent_load: Optional[Callable[[Any], Any]] = None, **kwargs: Any) -> Any:
    """One pickle from ``file`` through :class:`Unpickler` (``persistent_load`` resolves the
    persistent ids a torch container uses for its storages)."""
    kwargs.setdefault("encoding", "utf-8")      # as torch.load: Python 2 str -> str
    unpickler = Unpickler(file, **kwargs)
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load
    return unpickler.load()


def loads(data: bytes, **kwargs: Any) -> Any:
    """:func:`load` from bytes."""
    return load(io.BytesIO(data), **kwargs)


UnpicklingError = pickle.UnpicklingError

