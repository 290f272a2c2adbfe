"""Parameterized circuits: the `Ansatz` bundle and the shipped ansätze.

An `Ansatz` is the one description of a variational circuit that every backend reads:
the native engine compiles it, EstimatorQNN executes it, and a device transpiles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from .catalog import ANSATZ_NAMES

__all__ = ["Ansatz", "ANSATZ_NAMES", "make_ansatz", "parameterised_gate_arguments", "z_observables"]


def z_observables(n_qubits: int) -> tuple[SparsePauliOp, ...]:
    """``Z_j`` on every qubit, in qubit order (Qiskit's little-endian labels)."""
    return tuple(SparsePauliOp.from_sparse_list([("Z", [j], 1.0)], n_qubits) for j in range(n_qubits))


@dataclass(frozen=True)
class Ansatz:
    """A parameterized circuit with its inputs, weights and observables, each in order.

    Args:
        circuit: the parameterized ``QuantumCircuit`` (no measurements).
        inputs: the parameters fed by data, in the order of the input vector's last axis.
        weights: the trainable parameters, in the order of the weight vector.
        observables: one ``SparsePauliOp`` per output; ``None`` means ``Z_j`` on every
            qubit, in qubit order.

    Raises:
        TypeError: if an observable is not a ``SparsePauliOp`` or a parameter is not a
            ``Parameter``.
        ValueError: if inputs and weights overlap or repeat, do not cover the circuit's
            parameters, or an observable's width differs from the circuit's.
    """

    circuit: QuantumCircuit
    inputs: tuple[Parameter, ...]
    weights: tuple[Parameter, ...]
    observables: tuple[SparsePauliOp, ...] | None = field(default=None)

    def __post_init__(self):
        if not isinstance(self.circuit, QuantumCircuit):
            raise TypeError(f"circuit must be a qiskit QuantumCircuit, got {type(self.circuit).__name__}")
        inputs, weights = _parameters("inputs", self.inputs), _parameters("weights", self.weights)
        both = set(inputs) & set(weights)
        if both:
            raise ValueError(f"parameters {_names(both)} are listed both as inputs and as weights")
        missing = set(self.circuit.parameters) - set(inputs) - set(weights)
        if missing:
            raise ValueError(f"circuit parameters {_names(missing)} are neither inputs nor weights")
        unused = (set(inputs) | set(weights)) - set(self.circuit.parameters)
        if unused:
            raise ValueError(f"parameters {_names(unused)} do not appear in the circuit")
        n = self.circuit.num_qubits
        observables = z_observables(n) if self.observables is None else tuple(self.observables)
        if not observables:
            raise ValueError("an ansatz needs at least one observable")
        for k, obs in enumerate(observables):
            if not isinstance(obs, SparsePauliOp):
                raise TypeError(f"observable {k} must be a SparsePauliOp, got {type(obs).__name__}")
            if obs.num_qubits != n:
                raise ValueError(f"observable {k} acts on {obs.num_qubits} qubits but the circuit has {n}")
            if obs.coeffs.dtype == object:
                raise ValueError(f"observable {k} has parameterised coefficients; an observable's coefficients must "
                                 "be numbers (bind them with assign_parameters first)")
            if not np.allclose(obs.simplify().coeffs.imag, 0.0, atol=1e-12):
                raise ValueError(f"observable {k} is not Hermitian (it has complex coefficients)")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "observables", observables)

    @property
    def n_qubits(self) -> int:
        return self.circuit.num_qubits

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def n_weights(self) -> int:
        return len(self.weights)

    @property
    def n_observables(self) -> int:
        return len(self.observables)


def _parameters(what: str, params: Sequence[Parameter]) -> tuple[Parameter, ...]:
    params = tuple(params)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{what} must be qiskit Parameters, got {type(p).__name__} ({p!r})")
    if len(set(params)) != len(params):
        raise ValueError(f"{what} list a parameter more than once")
    return params


def _names(params) -> str:
    return ", ".join(sorted(p.name for p in params))


def _ring(qc: QuantumCircuit, hadamards: bool) -> None:
    """The entangler of both shipped ansätze: CNOT(j, j+1 mod n) without repeating a pair.

    With ``hadamards`` (the ``qrkt`` reading) an H precedes each qubit's CNOT. For n = 2
    the ring would repeat the pair, so only CNOT(0, 1) is kept; for n = 1 there is no
    CNOT (the ``qrkt`` H stays).
    """
    n = qc.num_qubits
    for j in range(n):
        if hadamards:
            qc.h(j)
        if n > 2 or (n == 2 and j == 0):
            qc.cx(j, (j + 1) % n)


def _qrkt(n_qubits: int, layers: int) -> Ansatz:
    x, theta = ParameterVector("x", n_qubits), ParameterVector("θ", layers * n_qubits)
    qc = QuantumCircuit(n_qubits, name="qrkt")
    for j in range(n_qubits):
        qc.ry(x[j], j)
    for layer in range(layers):
        for j in range(n_qubits):
            w = theta[layer * n_qubits + j]
            qc.rx(w, j)
            qc.rz(w, j)  # the same weight as the RX, as the author's code does
        _ring(qc, hadamards=True)
    return Ansatz(qc, x, theta)


def _qrkt_2n(n_qubits: int, layers: int) -> Ansatz:
    """``qrkt`` with its own weight for every RX and every RZ: the thesis text's "2n parameters" per layer."""
    x, theta = ParameterVector("x", n_qubits), ParameterVector("θ", 2 * layers * n_qubits)
    qc = QuantumCircuit(n_qubits, name="qrkt-2n")
    for j in range(n_qubits):
        qc.ry(x[j], j)
    for layer in range(layers):
        for j in range(n_qubits):
            qc.rx(theta[2 * (layer * n_qubits + j)], j)
            qc.rz(theta[2 * (layer * n_qubits + j) + 1], j)
        _ring(qc, hadamards=True)
    return Ansatz(qc, x, theta)


def _qrkt_reupload(n_qubits: int, layers: int) -> Ansatz:
    """``qrkt`` that encodes the inputs again in every layer, each time with trainable scales: RY((1 + s)·x).

    The scale is ``1 + s`` so that weights near zero (``init="normal"``) start at the plain
    encoding. With one layer it is still single-qubit gates then a Clifford tail (closed form).
    """
    x = ParameterVector("x", n_qubits)
    s, theta = ParameterVector("s", layers * n_qubits), ParameterVector("θ", layers * n_qubits)
    qc = QuantumCircuit(n_qubits, name="qrkt-reupload")
    for layer in range(layers):
        for j in range(n_qubits):
            k = layer * n_qubits + j
            qc.ry((1 + s[k]) * x[j], j)
            qc.rx(theta[k], j)
            qc.rz(theta[k], j)
        _ring(qc, hadamards=True)
    return Ansatz(qc, x, (*s, *theta))


def _basic(n_qubits: int, layers: int) -> Ansatz:
    x, w = ParameterVector("x", n_qubits), ParameterVector("w", layers * n_qubits)
    qc = QuantumCircuit(n_qubits, name="basic")
    for j in range(n_qubits):
        qc.rx(x[j], j)
    for layer in range(layers):
        for j in range(n_qubits):
            qc.rx(w[layer * n_qubits + j], j)
        _ring(qc, hadamards=False)
    return Ansatz(qc, x, w)


_BUILDERS = {"qrkt": _qrkt, "qrkt-2n": _qrkt_2n, "qrkt-reupload": _qrkt_reupload, "basic": _basic}
assert tuple(_BUILDERS) == ANSATZ_NAMES, "qrkt_qiskit.catalog lists the shipped ansätze"


def make_ansatz(name: str, n_qubits: int, layers: int = 1) -> Ansatz:
    """Build a shipped ansatz: ``"qrkt"`` (the thesis circuit), its variants, or ``"basic"`` (QViT's).

    Args:
        name: one of ``ANSATZ_NAMES``: ``qrkt``; ``qrkt-2n`` (separate RX and RZ weights);
            ``qrkt-reupload`` (the inputs encoded in every layer with trainable scales);
            ``basic``.
        n_qubits: circuit width, also the number of inputs and of ``Z_j`` outputs.
        layers: variational layers; each adds ``n_qubits`` weights (``2 n_qubits`` for
            ``qrkt-2n`` and ``qrkt-reupload``).

    Raises:
        ValueError: for an unknown name or a non-positive width or layer count.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown ansatz {name!r}; choose one of: {', '.join(ANSATZ_NAMES)}")
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers!r}")
    return _BUILDERS[name](int(n_qubits), int(layers))


def parameterised_gate_arguments(circuit: QuantumCircuit) -> int:
    """Gate arguments that depend on a parameter: a parameter-shift gradient evaluates two circuits per argument."""
    return sum(1 for inst in circuit.data for arg in inst.operation.params
               if isinstance(arg, ParameterExpression) and arg.parameters)
