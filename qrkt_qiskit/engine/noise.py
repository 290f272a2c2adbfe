"""A device's noise as the engine takes it: plain data, and what readout error does to an observable.

Readout error is an observable transformation: a bit flips with probability ``P(m|b)``, so a
measured Pauli parity on support S has expectation ``Σ_{T⊆S} Π_{S∖T} α_q Π_T β_q <P_T>``
with ``α = P(0|1) − P(1|0)``, ``β = 1 − P(0|1) − P(1|0)``; `readout_observables` writes it
as a ``SparsePauliOp`` that any exact estimator (Aer's too) can evaluate. Reading Aer's
noise model into a `DeviceNoise` is the backends' job (`backends.device_noise`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from qiskit.quantum_info import SparsePauliOp

__all__ = ["DeviceNoise", "readout_observables"]


@dataclass(frozen=True)
class DeviceNoise:
    """A device's noise as the engine applies it; ``DeviceNoise()`` is ideal gates and readout.

    Attributes:
        errors: ``(instruction name, physical qubits) -> superoperator`` (Qiskit's
            column-stacking convention) of the channel applied after that instruction.
        readout: ``physical qubit -> (2, 2)`` assignment matrix, row = prepared bit,
            column = measured bit (Qiskit's ``ReadoutError.probabilities``).
        device: the device's name, for messages.
    """

    errors: Mapping[tuple[str, tuple[int, ...]], np.ndarray] = field(default_factory=dict)
    readout: Mapping[int, np.ndarray] = field(default_factory=dict)
    device: str = "device"


def readout_observables(observables: Sequence[SparsePauliOp], readout: Mapping[int, np.ndarray]) -> list[SparsePauliOp]:
    """The observables whose exact values are what a device with ``readout`` error measures.

    Each Pauli term on support S becomes ``Σ_{T⊆S} Π_{S∖T} α_q Π_T β_q P_T`` (the module
    docstring); qubits without an entry in ``readout`` read perfectly.
    """
    dressed = []
    for obs in observables:
        labels, coeffs = [], []
        for pauli, coeff in zip(obs.paulis, obs.coeffs):
            for label, c in _dressed_term(pauli, readout):
                labels.append(label)
                coeffs.append(coeff * c)
        if not labels:  # every measured qubit reads a coin flip (readout error 1/2): the value is 0
            labels, coeffs = ["I" * obs.num_qubits], [0.0]
        dressed.append(SparsePauliOp(labels, np.array(coeffs)).simplify(atol=0.0))
    return dressed


def _dressed_term(pauli, readout: Mapping[int, np.ndarray]):
    """``(label, coefficient)`` pairs of one Pauli term under readout error."""
    support = [q for q in range(pauli.num_qubits) if pauli.x[q] or pauli.z[q]]
    label = pauli.to_label().lstrip("-i")
    factors = []
    for q in support:
        p = readout.get(q)
        if p is None:
            factors.append((0.0, 1.0))
            continue
        f0, f1 = p[0, 0] - p[0, 1], p[1, 0] - p[1, 1]  # E[(-1)^m | prepared b]
        factors.append(((f0 + f1) / 2, (f0 - f1) / 2))
    phase = (-1j) ** pauli.phase
    for keep in itertools.product((False, True), repeat=len(support)):
        c = phase * np.prod([beta if k else alpha for k, (alpha, beta) in zip(keep, factors)])
        if c != 0:
            chars = list(label)
            for q, k in zip(support, keep):
                if not k:
                    chars[len(chars) - 1 - q] = "I"
            yield "".join(chars), c
