"""What a resumable checkpoint holds besides the weights: RNG states and loop position.

Checkpoints are self-describing model files (:func:`heatpose.models.build.save_model`) with
extra entries: ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (python, numpy, torch, CUDA),
``progress`` (epoch, iteration, position in the epoch, best metric) and ``config``. So
``heatpose.load_model(path)`` rebuilds the model from any of them, and ``--resume`` continues
the run bit for bit (on CPU).
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from heatpose.errors import CheckpointError

RESUME_KEYS = ("optimizer", "scheduler", "progress", "rng", "config")


@dataclass
class Progress:
    """Loop position. ``epoch``: 0-based epoch in progress (or next to start); ``iter_in_epoch``:
    iterations of it already done; ``iteration``: total iterations done; ``best``: best value
    of the validation metric so far (None before the first validation)."""

    epoch: int = 0
    iter_in_epoch: int = 0
    iteration: int = 0
    best: Optional[float] = None
    best_epoch: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed python, numpy's global generator and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state() -> Dict[str, Any]:
    """Every global RNG state (python, numpy legacy, torch CPU and each CUDA device)."""
    state: Dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`rng_state` (a missing entry leaves that generator as it is)."""
    if "python" in state:
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in state:
        np.random.set_state(tuple(state["numpy"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def read_training_state(path: Union[str, Path]) -> Dict[str, Any]:
    """The whole payload of a resumable checkpoint (loaded without running code)."""
    from heatpose.models.torch_formats import read_torch_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    payload = read_torch_file(path)        # CheckpointError (one line naming it) if unreadable
    missing = [k for k in ("state_dict",) + RESUME_KEYS
               if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise CheckpointError(f"{path}: not a resumable heatpose training checkpoint (missing "
                              f"{', '.join(missing)})")
    return payload
