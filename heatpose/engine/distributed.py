"""One process, or many under ``torchrun``: process-group set-up, sampling, DDP, gathering.

``torchrun --nproc_per_node N -m heatpose.cli train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and
joins the group (NCCL for CUDA, gloo for CPU). Without them everything runs in-process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """The torchrun environment (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``), or one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank, world, local)


def init_distributed(device: str) -> DistInfo:
    """Join the process group when launched with several processes; return this process's
    place. ``device``: 'cpu' (gloo) or 'cuda' (NCCL, one GPU per local rank)."""
    info = env_dist_info()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def cleanup_distributed() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: str, info: DistInfo) -> torch.device:
    """This process's device: ``cuda:<local_rank>`` on GPU machines, else the CPU."""
    if device.startswith("cuda"):
        return torch.device("cuda", info.local_rank % max(torch.cuda.device_count(), 1))
    return torch.device(device)


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled with ``seed + epoch``, padded to equal shards, as
    MMPose's DefaultSampler) that can start part-way through an epoch: ``set_start(k)``
    skips this process's first ``k`` indices, so a resumed run sees exactly the samples the
    interrupted one had not yet seen, in the same order."""

    def __init__(self, dataset: Dataset, info: DistInfo, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank,
                         shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this epoch (reset by :meth:`set_epoch`)."""
        self.start = int(start)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP-wrap ``model`` when running distributed, else return it unchanged."""
    if not info.distributed:
        return model
    if device.type == "cuda":
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index],
                                                   output_device=device.index)
    return nn.parallel.DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_gather_objects(obj: Any, info: DistInfo) -> List[Any]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not info.distributed:
        return [obj]
    out: List[Optional[Any]] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over processes (a detached copy; unchanged in one process)."""
    value = value.detach().clone()
    if info.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= info.world_size
    return value


def any_process(flags: Sequence[bool], info: DistInfo, device: torch.device) -> List[bool]:
    """For each of ``flags``, whether it is true on at least one process (all of them in one
    collective and one host sync when distributed), so that every process takes the same
    branch."""
    if not info.distributed:
        return [bool(f) for f in flags]
    value = reduce_mean(torch.tensor([float(f) for f in flags], device=device), info)
    return [v > 0 for v in value.tolist()]


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
