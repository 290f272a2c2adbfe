"""The transformer MLP: ``dense -> GELU -> dense``, or with a circuit, ``dense -> VQC -> GELU -> dense``."""

from __future__ import annotations

import torch
from torch import nn

from .quantum import QuantumSpec, vqc

__all__ = ["MLP"]


class MLP(nn.Module):
    """Position-wise MLP ``(..., dim) -> (..., dim)`` through ``hidden`` features.

    Args:
        dim: token width.
        hidden: hidden width (the thesis' "hidden (Q)MLP size").
        quantum: ``None`` for the classical MLP; otherwise a circuit of ``hidden`` qubits sits
            between the first dense map and the GELU (thesis §3.5).
        dropout: dropout after the GELU and at the output.
    """

    def __init__(self, dim: int, hidden: int, *, quantum: QuantumSpec | None = None, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            *([] if quantum is None else [vqc(hidden, quantum)]),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., dim) -> (..., dim)``."""
        return self.net(x)
