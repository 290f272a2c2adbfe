"""``torchrun`` support: the same script runs on one process or several (gloo on CPU, NCCL on GPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["World", "check_device"]


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` training processes (size 1 without torchrun)."""

    rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls, device: str) -> World:
        """Join the process group torchrun describes in the environment, if any."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.device(device).type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch (strided, so shares differ by at most one)."""
        return indices[self.rank::self.size]

    def barrier(self) -> None:
        """Wait for every process (a no-op in a single process)."""
        if self.size > 1:
            dist.barrier()


def check_device(name: str) -> None:
    """Raise one sentence unless ``name`` is a torch device this machine has."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} cannot train or evaluate here; use cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU here; use cpu")
