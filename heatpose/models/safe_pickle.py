"""A pickle module for ``torch.load`` that never runs code from the file.

``torch.load(weights_only=True)`` refuses MMPose checkpoints outright (numpy arrays in ``meta``,
mmengine objects in ``message_hub``). This unpickler instead allows a fixed list of harmless
globals (tensor rebuilders, containers, numpy arrays/dtypes/scalars) and replaces every other
global by an inert :class:`OpaqueObject` that only records its name and arguments — so a
checkpoint can never import a module or call a function that is not on the list.
"""
from __future__ import annotations

import pickle
from typing import Any, Dict, Tuple

import torch

_ALLOWED: Dict[str, Tuple[str, ...]] = {
    "collections": ("OrderedDict", "defaultdict", "deque"),
    "builtins": ("set", "frozenset", "slice", "complex", "bytearray", "range", "tuple", "list",
                 "dict", "int", "float", "bool", "str", "bytes"),
    "_codecs": ("encode",),
    "torch._utils": ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                     "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor",
                     "_rebuild_sparse_tensor", "_rebuild_device_tensor_from_numpy",
                     "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass"),
    "torch": ("Size", "device", "Tensor", "float16", "float32", "float64", "bfloat16", "int8",
              "int16", "int32", "int64", "uint8", "bool", "complex64", "complex128",
              "FloatStorage", "DoubleStorage", "HalfStorage", "LongStorage", "IntStorage",
              "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "BFloat16Storage"),
    "torch.nn.parameter": ("Parameter",),
    "numpy": ("ndarray", "dtype"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
}


class OpaqueObject:
    """Stand-in for a global the safe unpickler refused (e.g. ``mmengine...HistoryBuffer``).

    Holds the refused name, the call arguments and any pickled state; does nothing else."""

    def __init__(self, name: str, args: Tuple[Any, ...] = ()) -> None:
        self.name = name
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "OpaqueObject":
        # e.g. a refused ``getattr(obj, "method")`` that the pickle then calls
        return OpaqueObject(f"{self.name}(...)", args)

    def __repr__(self) -> str:
        return f"<opaque {self.name}>"


def _opaque_factory(module: str, name: str) -> Any:
    qualname = f"{module}.{name}"

    class _Opaque(OpaqueObject):
        def __new__(cls, *args: Any, **kwargs: Any) -> "OpaqueObject":
            obj = OpaqueObject.__new__(cls)
            OpaqueObject.__init__(obj, qualname, args)
            return obj

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(qualname, args)

        def __reduce__(self):                     # never re-pickled as the original class
            return (OpaqueObject, (qualname, self.args))

    _Opaque.__qualname__ = _Opaque.__name__ = f"Opaque[{qualname}]"
    return _Opaque


def _allowed(module: str, name: str) -> bool:
    if name in _ALLOWED.get(module, ()):
        return True
    return module == "numpy.dtypes" and name.endswith("DType")


class Unpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals; others become OpaqueObjects."""

    refused: Tuple[str, ...] = ()

    def find_class(self, module: str, name: str) -> Any:
        if _allowed(module, name):
            return super().find_class(module, name)
        self.refused = self.refused + (f"{module}.{name}",)
        return _opaque_factory(module, name)


# ``torch.load(pickle_module=...)`` needs the module-level names of the pickle module.
load = pickle.load
loads = pickle.loads
dump = pickle.dump
dumps = pickle.dumps
Pickler = pickle.Pickler
UnpicklingError = pickle.UnpicklingError


def safe_torch_load(path: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` of a checkpoint (zip or legacy format) through :class:`Unpickler`."""
    import sys

    this_module = sys.modules[__name__]       # torch.load wants the pickle *module*
    return torch.load(path, map_location=map_location, pickle_module=this_module,
                      weights_only=False)
