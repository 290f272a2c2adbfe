"""Hypothesis strategies: random circuits over the engine's whole gate set, random Pauli sums."""

import numpy as np
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qrkt_qiskit import Ansatz

FIXED_1Q = ["h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx"]
FIXED_2Q = ["cx", "cy", "cz", "swap"]
ROTATION_1Q = ["rx", "ry", "rz", "p"]
ROTATION_2Q = ["crx", "cry", "crz", "cp", "rxx", "ryy", "rzz"]
GATES = FIXED_1Q + FIXED_2Q + ROTATION_1Q + ROTATION_2Q + ["u"]


@st.composite
def pauli_sums(draw, n_qubits: int, max_terms: int = 4) -> SparsePauliOp:
    terms = draw(st.lists(st.text("IXYZ", min_size=n_qubits, max_size=n_qubits), min_size=1, max_size=max_terms))
    coeffs = draw(st.lists(st.floats(-2, 2), min_size=len(terms), max_size=len(terms)))
    return SparsePauliOp(terms, np.array(coeffs, dtype=complex))


@st.composite
def random_ansatze(draw, max_qubits: int = 5, max_gates: int = 14, observables: bool = True) -> Ansatz:
    """A random circuit whose angles are inputs, weights, linear expressions or constants."""
    n = draw(st.integers(1, max_qubits))
    x, w = ParameterVector("x", 3), ParameterVector("w", 4)
    qc = QuantumCircuit(n)
    gates = [g for g in GATES if n >= 2 or g in FIXED_1Q + ROTATION_1Q + ["u"]]

    def angle():
        kind = draw(st.sampled_from(["input", "weight", "linear", "const"]))
        if kind == "input":
            return x[draw(st.integers(0, 2))]
        if kind == "weight":
            return w[draw(st.integers(0, 3))]
        if kind == "linear":
            a, b = draw(st.floats(-2, 2)), draw(st.floats(-1, 1))
            return a * draw(st.sampled_from(list(x) + list(w))) + b
        return draw(st.floats(-4, 4))

    for _ in range(draw(st.integers(1, max_gates))):
        name = draw(st.sampled_from(gates))
        width = 2 if name in FIXED_2Q + ROTATION_2Q else 1
        qubits = draw(st.permutations(range(n)))[:width]
        params = [angle() for _ in range(3 if name == "u" else 1 if name in ROTATION_1Q + ROTATION_2Q else 0)]
        getattr(qc, name)(*params, *qubits)
    used = set(qc.parameters)
    obs = [draw(pauli_sums(n)) for _ in range(draw(st.integers(1, 3)))] if observables else None
    return Ansatz(qc, [p for p in x if p in used], [p for p in w if p in used], obs)


CLIFFORD_1Q = ["h", "x", "y", "z", "s", "sdg", "sx"]
CLIFFORD_2Q = ["cx", "cy", "cz", "swap"]


@st.composite
def product_then_clifford(draw, max_qubits: int = 6, observables: bool = True) -> Ansatz:
    """Single-qubit gates of any angle, then a random Clifford tail (rotations by k·π/2 too)."""
    n = draw(st.integers(1, max_qubits))
    x, w = ParameterVector("x", 3), ParameterVector("w", 4)
    qc = QuantumCircuit(n)
    values = st.sampled_from(list(x) + list(w))
    for _ in range(draw(st.integers(1, 2 * n))):
        name = draw(st.sampled_from(ROTATION_1Q + ["u"]))
        angles = [draw(values) * draw(st.floats(-2, 2).filter(lambda a: abs(a) > 0.1)) + draw(st.floats(-1, 1))
                  for _ in range(3 if name == "u" else 1)]
        getattr(qc, name)(*angles, draw(st.integers(0, n - 1)))
    for _ in range(draw(st.integers(0, 3 * n))):
        kind = draw(st.sampled_from(["1q", "2q", "rotation"] if n > 1 else ["1q", "rotation"]))
        if kind == "2q":
            a, b = draw(st.permutations(range(n)))[:2]
            getattr(qc, draw(st.sampled_from(CLIFFORD_2Q)))(a, b)
        elif kind == "1q":
            getattr(qc, draw(st.sampled_from(CLIFFORD_1Q)))(draw(st.integers(0, n - 1)))
        else:
            quarter = draw(st.integers(-4, 4)) * np.pi / 2
            getattr(qc, draw(st.sampled_from(["rx", "ry", "rz", "p"])))(quarter, draw(st.integers(0, n - 1)))
    used = set(qc.parameters)
    obs = [draw(pauli_sums(n)) for _ in range(draw(st.integers(1, 3)))] if observables else None
    return Ansatz(qc, [p for p in x if p in used], [p for p in w if p in used], obs)
