"""Whether torch is tracing the engine, where it may not read tensors' values."""

from __future__ import annotations

import torch

__all__ = ["is_tracing"]


def is_tracing() -> bool:
    """``True`` under ``torch.compile``, ``torch.export`` and the ``torch.func`` transforms.

    A traced tensor's values cannot be read, so the engine skips what reads them there:
    the finiteness checks (one device sync each) and the weight-terms cache (`bloch`).
    The programs themselves have no data-dependent control flow.
    """
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()
