"""Where a model's maps become circuits: `QuantumSpec` and the one factory that reads it.

Attention, MLP and the GAN ask `feature_map(d_in, d_out, quantum)` for each of their maps,
so "classical or quantum" is one constructor argument everywhere and never a second class.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..circuits import ANSATZ_NAMES
from ..layers import QuantumLayer, QuantumLinear

__all__ = ["QuantumSpec", "feature_map", "quantum_mlp", "vqc"]


@dataclass(frozen=True)
class QuantumSpec:
    """How a model's quantum maps are built.

    Args:
        ansatz: shipped ansatz of every circuit (``"qrkt"``, the thesis circuit, or ``"basic"``).
        layers: variational layers per circuit; 1 is the thesis' choice (and runs in closed form).
        max_qubits: the widest circuit; wider maps are split into several circuits
            (`QuantumLinear`). ``None`` means one circuit per map, as wide as the map.
        post_norm: QuantumNAT's post-measurement normalisation of every circuit's outputs
            (see `QuantumLayer`).
    """

    ansatz: str = "qrkt"
    layers: int = 1
    max_qubits: int | None = None
    post_norm: bool = False

    @classmethod
    def read(cls, value: QuantumSpec | dict | None) -> QuantumSpec | None:
        """A config's ``quantum`` field as a spec: a dict (from a run directory's config.json) is converted."""
        return cls(**value) if isinstance(value, dict) else value

    def __post_init__(self):
        if self.ansatz not in ANSATZ_NAMES:
            raise ValueError(f"unknown ansatz {self.ansatz!r}; choose one of: {', '.join(ANSATZ_NAMES)}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"quantum layers must be a positive integer, got {self.layers!r}")
        if self.max_qubits is not None and (not isinstance(self.max_qubits, int) or self.max_qubits < 1):
            raise ValueError(f"max_qubits must be a positive integer or None, got {self.max_qubits!r}")


def feature_map(d_in: int, d_out: int, quantum: QuantumSpec | None, *, bias: bool = True) -> nn.Module:
    """A learned map ``(..., d_in) -> (..., d_out)``: ``nn.Linear`` or, with ``quantum``, circuits."""
    if quantum is None:
        return nn.Linear(d_in, d_out, bias=bias)
    return QuantumLinear(d_in, d_out, quantum.max_qubits or d_out, ansatz=quantum.ansatz, layers=quantum.layers,
                         post_norm=quantum.post_norm)


def vqc(width: int, quantum: QuantumSpec) -> nn.Module:
    """A circuit ``(..., width) -> (..., width)`` with no classical projection (the QMLP's middle)."""
    if quantum.max_qubits is None or width <= quantum.max_qubits:
        return QuantumLayer(width, ansatz=quantum.ansatz, layers=quantum.layers, post_norm=quantum.post_norm)
    return QuantumLinear(width, width, quantum.max_qubits, ansatz=quantum.ansatz, layers=quantum.layers,
                         post_norm=quantum.post_norm)


def quantum_mlp(widths: list[int], n_qubits: int, *, ansatz: str = "qrkt", layers: int = 1) -> nn.Module:
    """`QuantumLinear` maps between consecutive ``widths`` with GELU between them: the smallest quantum model.

    Raises:
        ValueError: for fewer than two widths.
    """
    if len(widths) < 2:
        raise ValueError(f"a quantum MLP needs at least two widths (input and output), got {widths}")
    maps: list[nn.Module] = []
    for d_in, d_out in zip(widths, widths[1:]):
        maps += [QuantumLinear(d_in, d_out, n_qubits, ansatz=ansatz, layers=layers), nn.GELU()]
    return nn.Sequential(*maps[:-1])
