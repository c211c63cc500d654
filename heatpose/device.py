"""Choosing the torch device: ``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``,
``cuda:N`` or ``mps``; a device this torch build or machine lacks is one readable error.

    >>> from heatpose.device import resolve_device, describe_device
    >>> device = resolve_device("auto")          # torch.device('cuda') on a GPU machine
    >>> describe_device(device)                  # 'cpu (auto: no CUDA or MPS device)'
"""
from __future__ import annotations

from typing import Any, Union

from heatpose.errors import InputError

DEFAULT_DEVICE = "auto"
DEVICE_HELP = ("auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps "
               f"(default {DEFAULT_DEVICE})")


def check_device_name(name: str) -> str:
    """The device name if it has a valid form (argparse type; imports no torch)."""
    text = str(name).strip().lower()
    kind, _, index = text.partition(":")
    if kind in ("auto", "cpu", "mps") and not index:
        return text
    if kind == "cuda" and (not index or index.isdigit()):
        return text
    raise InputError(f"--device {name}: expected {DEVICE_HELP.split(' (default')[0]}")


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: Union[str, Any] = DEFAULT_DEVICE) -> Any:
    """A ``torch.device`` for ``name`` (a string or a torch.device).

    ``auto`` picks CUDA when torch sees a GPU, else MPS, else CPU. Raises InputError for a
    device this machine cannot use (``cuda`` on a CPU-only build, ``cuda:3`` with 2 GPUs)."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    text = check_device_name(name)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available(torch) else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only torch build" if torch.version.cuda is None else \
                f"torch {torch.__version__} sees no GPU"
            raise InputError(f"--device {name}: CUDA is not available ({build}); "
                             "use --device cpu or auto")
        index = int(text.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: only {torch.cuda.device_count()} CUDA "
                             "device(s) visible")
    if text == "mps" and not _mps_available(torch):
        raise InputError(f"--device {name}: Apple MPS is not available here; use --device cpu")
    return torch.device(text)


def describe_device(device: Any, requested: str = DEFAULT_DEVICE) -> str:
    """One line naming the device (with the GPU name), and why when ``auto`` chose it."""
    import torch

    device = torch.device(device)
    text = str(device)
    if device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    if str(requested).lower() == "auto":
        text += " (auto" + ("" if device.type != "cpu" else ": no CUDA or MPS device") + ")"
    return text
