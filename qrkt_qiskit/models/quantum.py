"""Where a model's maps become circuits: `QuantumSpec` and the one factory that reads it.

Attention, MLP and the GAN ask `feature_map(d_in, d_out, quantum)` for each of their maps,
so "classical or quantum" is one constructor argument everywhere and never a second class.
`DiagonalSpec` is the third answer, the quantum model's fair classical control: where a
circuit would be, a diagonal affine map, the element-wise class the one-layer ``qrkt``
circuit nearly belongs to (`engine.dependencies`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..circuits import ANSATZ_NAMES
from ..layers import INITS, QuantumLayer, QuantumLinear

__all__ = ["Diagonal", "DiagonalSpec", "OutputScale", "QuantumSpec", "feature_map", "quantum_mlp", "vqc"]


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
        init: how the circuits' weights start (``"uniform"`` or ``"normal"``, see `QuantumLayer`).
        output_scale: a learned gain per output after every circuit (`OutputScale`), so that
            bounded outputs in [-1, 1] can grow (attention logits among them). A classical
            map is unbounded already, so its twin needs none.
    """

    ansatz: str = "qrkt"
    layers: int = 1
    max_qubits: int | None = None
    post_norm: bool = False
    init: str = "uniform"
    output_scale: bool = False

    @classmethod
    def read(cls, value: QuantumSpec | DiagonalSpec | dict | None) -> QuantumSpec | DiagonalSpec | None:
        """A config's ``quantum`` field as a spec: a dict (from a run directory's config.json) is converted."""
        if not isinstance(value, dict):
            return value
        return DiagonalSpec(**value) if value.get("kind") == "diagonal" else cls(**value)

    def __post_init__(self):
        if self.ansatz not in ANSATZ_NAMES:
            raise ValueError(f"unknown ansatz {self.ansatz!r}; choose one of: {', '.join(ANSATZ_NAMES)}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"quantum layers must be a positive integer, got {self.layers!r}")
        if self.max_qubits is not None and (not isinstance(self.max_qubits, int) or self.max_qubits < 1):
            raise ValueError(f"max_qubits must be a positive integer or None, got {self.max_qubits!r}")
        if self.init not in INITS:
            raise ValueError(f"unknown weight init {self.init!r}; choose one of: {', '.join(INITS)}")


@dataclass(frozen=True)
class DiagonalSpec:
    """The element-wise classical control: a diagonal affine map `Diagonal` wherever a circuit would be."""

    kind: str = "diagonal"

    def __post_init__(self):
        if self.kind != "diagonal":
            raise ValueError(f"a DiagonalSpec has kind 'diagonal', got {self.kind!r}")


class Diagonal(nn.Module):
    """``y = a ⊙ x + b``: each output reads its own input, as an element-wise circuit's does (2·dim parameters)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias, self.weight, x)


class OutputScale(nn.Module):
    """A learned gain per feature, starting at 1: ``y = g ⊙ x``."""

    def __init__(self, dim: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


def feature_map(d_in: int, d_out: int, quantum: QuantumSpec | DiagonalSpec | None, *, bias: bool = True) -> nn.Module:
    """A learned map ``(..., d_in) -> (..., d_out)``: ``nn.Linear``, circuits (`QuantumSpec`) or `Diagonal`."""
    if quantum is None:
        return nn.Linear(d_in, d_out, bias=bias)
    if isinstance(quantum, DiagonalSpec):
        if d_in != d_out:
            raise ValueError(f"a diagonal map keeps its width, but this map is {d_in} -> {d_out}")
        return Diagonal(d_out)
    circuits = QuantumLinear(d_in, d_out, quantum.max_qubits or d_out, ansatz=quantum.ansatz, layers=quantum.layers,
                             post_norm=quantum.post_norm, init=quantum.init)
    return nn.Sequential(circuits, OutputScale(d_out)) if quantum.output_scale else circuits


def vqc(width: int, quantum: QuantumSpec | DiagonalSpec) -> nn.Module:
    """A circuit ``(..., width) -> (..., width)`` with no classical projection (the QMLP's middle), or its `Diagonal`."""
    if isinstance(quantum, DiagonalSpec):
        return Diagonal(width)
    if quantum.max_qubits is None or width <= quantum.max_qubits:
        circuits = QuantumLayer(width, ansatz=quantum.ansatz, layers=quantum.layers, post_norm=quantum.post_norm,
                                init=quantum.init)
    else:
        circuits = QuantumLinear(width, width, quantum.max_qubits, ansatz=quantum.ansatz, layers=quantum.layers,
                                 post_norm=quantum.post_norm, init=quantum.init)
    return nn.Sequential(circuits, OutputScale(width)) if quantum.output_scale else circuits


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
