"""Move trailing Clifford gates out of a circuit and into its observables.

If ``U = C V`` with ``C`` Clifford, then ``<psi|U† O U|psi> = <V psi| C† O C |V psi>`` and
``C† P C`` is again a Pauli string for every Pauli ``P`` (the Heisenberg picture). A gate
can join ``C`` when it is Clifford and every later gate on its qubits joined too, so it
commutes past everything that stays.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Clifford, SparsePauliOp

from .lowering import Op

__all__ = ["absorb_clifford_tail", "is_clifford"]


def absorb_clifford_tail(
    ops: list[Op], observables: Sequence[SparsePauliOp], n_qubits: int
) -> tuple[list[Op], tuple[SparsePauliOp, ...]]:
    """Split off the Clifford tail of ``ops`` and conjugate ``observables`` by it.

    Returns the operations that remain, in order, and the observables ``C† O C``; both
    unchanged when no gate can be absorbed.
    """
    blocked: set[int] = set()  # qubits with a later gate that stays in the circuit
    kept: list[Op] = []
    tail: list[tuple[Clifford, tuple[int, ...]]] = []  # collected last to first
    for op in reversed(ops):
        clifford = None if blocked & set(op.qubits) else _as_clifford(op)
        if clifford is None:
            kept.append(op)
            blocked.update(op.qubits)
        else:
            tail.append((clifford, op.qubits))
    if not tail:
        return ops, tuple(observables)
    circuit = QuantumCircuit(n_qubits)
    for clifford, qubits in reversed(tail):
        # As h/s/cx gates: Qiskit updates the tableau for those in O(n), while composing
        # a Clifford object rebuilds all of it, O(n^2) per gate.
        circuit.compose(clifford.to_circuit(), list(qubits), inplace=True)
    cliff = Clifford(circuit)
    conjugated = tuple(SparsePauliOp(o.paulis.evolve(cliff, frame="h"), o.coeffs) for o in observables)
    return kept[::-1], conjugated


def _as_clifford(op: Op) -> Clifford | None:
    """The gate as a Clifford tableau: a bound gate whose matrix maps Paulis to Paulis."""
    if op.matrix is None:
        return None
    return _clifford_of(op.matrix.shape[0], op.matrix.tobytes())


@functools.lru_cache(maxsize=256)
def _clifford_of(dim: int, matrix: bytes) -> Clifford | None:
    # A wide layer holds hundreds of equal gates (every cx of a ring): each distinct matrix is
    # tested once (Clifford.from_matrix is ~1 ms). The tableau is only read, never changed.
    try:
        return Clifford.from_matrix(np.frombuffer(matrix, dtype=complex).reshape(dim, dim))
    except QiskitError:
        return None


def is_clifford(op: Op) -> bool:
    """Whether ``op`` is a Clifford gate the closed form can push observables through."""
    return _as_clifford(op) is not None
