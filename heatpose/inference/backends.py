"""Inference backends behind one ``predict`` API: PyTorch (the estimator itself) and ONNX Runtime.

    runner = as_backend(model, "onnxruntime")      # OnnxEstimator, same predict/predict_crops
    runner = load_runner("model.onnx")             # a file written by ``heatpose export``

``"auto"`` picks ONNX Runtime on CPU when it is installed (measured 2-3x faster than eager
PyTorch at the same outputs: benchmarks/README.md) and PyTorch on GPUs. The ONNX graph of a
PyTorch model is exported once per weights and cached as ``<cache>/onnx/<name>-<digest>.onnx``
(the digest covers the weights and the model description), so later runs only load it.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

from heatpose.errors import InputError

BACKENDS = ("auto", "torch", "onnxruntime")
DEFAULT_BACKEND = "auto"
EXPORTS_DIR = "onnx"                   # under the weights cache (heatpose weights lists/clears it)
PathLike = Union[str, Path]
_RUNNERS: Dict[str, Any] = {}          # cache file -> OnnxEstimator (one session per process)


def onnxruntime_available() -> bool:
    """Whether the ONNX Runtime backend can run a PyTorch model: it exports the graph first,
    which needs the ``onnx`` package beside ``onnxruntime`` (the ``fast`` extra has both)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: Any = "cpu") -> str:
    """``'torch'`` or ``'onnxruntime'`` for a backend name and a torch device (or its name)."""
    if backend not in BACKENDS:
        raise InputError(f"backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    kind = getattr(device, "type", str(device).split(":")[0])
    return "onnxruntime" if kind == "cpu" and onnxruntime_available() else "torch"


def model_digest(model: Any) -> str:
    """SHA-256 of the model description and every state_dict tensor (names, dtypes, values).

    The weights' part is computed once and kept on the model until a weight changes
    (:func:`heatpose.inference.backends_torch.weights_key`, the rule the folded PyTorch
    network follows), so building another Pipeline on the same model does not re-read every
    weight; the description (codec, flip test, ...) is hashed each time."""
    import torch

    from heatpose.export.onnx import FORMAT
    from heatpose.inference.backends_torch import weights_key

    key = weights_key(model)
    cached = model.__dict__.get("_weights_digest")
    if cached is None or cached[0] != key:
        h = hashlib.sha256()
        for name, value in model.state_dict().items():
            h.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
            h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        cached = model.__dict__["_weights_digest"] = (key, h.hexdigest())
    description = json.dumps([FORMAT, model.metadata()], sort_keys=True, default=str)
    return hashlib.sha256(f"{description}\n{cached[1]}".encode()).hexdigest()


def onnx_cache_dir() -> Path:
    from heatpose.inference.download import cache_dir

    return cache_dir() / EXPORTS_DIR


def onnx_runner_of(model: Any, cache: Optional[PathLike] = None,
                   threads: Optional[int] = None) -> Any:
    """An OnnxEstimator running ``model``'s network (heatmaps graph, dynamic batch; the flip
    test and decoding run as batched numpy around it, exactly as the PyTorch path does)."""
    import torch

    from heatpose.export.onnx import export_onnx
    from heatpose.inference.onnx_backend import OnnxEstimator

    folder = Path(cache) if cache is not None else onnx_cache_dir()
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in (model.name or "model"))
    path = folder / f"{stem}-{model_digest(model)[:16]}.onnx"
    key = f"{path}:{threads}"
    if key in _RUNNERS:
        runner = _RUNNERS[key]
    else:
        if not path.is_file():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                export_onnx(model, path, check=False)
            except OSError:              # a read-only cache: export for this process only
                path = Path(tempfile.mkdtemp(prefix="heatpose-onnx-")) / path.name
                export_onnx(model, path, check=False)
        runner = OnnxEstimator(path, threads=threads or torch.get_num_threads())
        _RUNNERS[key] = runner
    runner.flip_test = bool(model.flip_test)
    return runner


def as_backend(model: Any, backend: str = "auto", cache: Optional[PathLike] = None,
               threads: Optional[int] = None) -> Any:
    """``model`` (a TopdownEstimator) behind the chosen backend: itself for ``'torch'``, an
    OnnxEstimator for ``'onnxruntime'``; ``'auto'``: see the module docstring."""
    if not hasattr(model, "state_dict"):          # already a runner (e.g. an OnnxEstimator)
        return model
    device = next(model.parameters()).device
    if resolve_backend(backend, device) == "torch":
        return model
    if device.type != "cpu":
        raise InputError("backend='onnxruntime' runs on the CPU; move the model there or use "
                         "backend='torch'")
    return onnx_runner_of(model, cache, threads)


def load_runner(path: PathLike, threads: Optional[int] = None,
                flip_test: Optional[bool] = None) -> Any:
    """An exported ``.onnx`` file behind the predict API (see OnnxEstimator)."""
    from heatpose.inference.onnx_backend import OnnxEstimator

    return OnnxEstimator(path, threads=threads, flip_test=flip_test)
