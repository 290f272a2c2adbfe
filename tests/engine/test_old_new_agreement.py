"""The adjoint statevector path against the one it replaced (issue 16), on every circuit of the suite.

Temporary: it runs once, its result goes into the commit message, and both it and
`qrkt_qiskit.engine._old` are deleted in the next commit.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import SparsePauliOp, random_unitary

from qrkt_qiskit import Ansatz, make_ansatz
from qrkt_qiskit.engine._old.statevector import StatevectorCircuit as Old
from qrkt_qiskit.engine.lowering import lower
from qrkt_qiskit.engine.statevector import StatevectorCircuit as New

from ..strategies import pauli_sums, product_then_clifford, random_ansatze

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def agree(ansatz, dtype=torch.float64, fuse=None, batch=3, seed=0):
    """Outputs and the gradients of a random functional of them, old vs new, within the tolerance."""
    ops = lower(ansatz.circuit, {p: i for i, p in enumerate(ansatz.inputs + ansatz.weights)})
    shape = dict(n_qubits=ansatz.n_qubits, n_inputs=ansatz.n_inputs, n_weights=ansatz.n_weights, dtype=dtype,
                 device=torch.device("cpu"), fuse=fuse)
    g = torch.Generator().manual_seed(seed)
    x = ((torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi).to(dtype)
    w = ((torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi).to(dtype)
    c = torch.randn(batch, ansatz.n_observables, generator=g, dtype=torch.float64).to(dtype)
    results = []
    for cls in (Old, New):
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = cls(ops, ansatz.observables, **shape)(xr, wr)
        if out.requires_grad:  # the old path's output has no graph when the circuit has no parameter
            (out * c).sum().backward()
        results.append((out.detach(), *(torch.zeros_like(t) if t.grad is None else t.grad for t in (xr, wr))))
    scale = max(1.0, sum(np.abs(o.coeffs).sum() for o in ansatz.observables))
    for old, new in zip(*results):
        if old.numel():
            assert (old - new).abs().max().item() <= TOLERANCE[dtype] * scale * max(1.0, batch * 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["qrkt", "basic"])
@pytest.mark.parametrize("n", range(1, 11))
def test_shipped_ansatze(name, n, dtype):
    for layers in (1, 2, 3):
        for fuse in (None, True, False):
            agree(make_ansatz(name, n, layers), dtype, fuse)


@settings(max_examples=300, deadline=None)
@given(random_ansatze(), st.sampled_from([torch.float32, torch.float64]), st.sampled_from([None, True, False]))
def test_random_circuits(ansatz, dtype, fuse):
    agree(ansatz, dtype, fuse)


@settings(max_examples=100, deadline=None)
@given(product_then_clifford())
def test_product_then_clifford_circuits(ansatz):
    agree(ansatz)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(st.just(n), st.lists(pauli_sums(n), min_size=1, max_size=4))))
def test_pauli_sums_on_an_entangled_state(case):
    n, observables = case
    base = make_ansatz("qrkt", n, 2)
    agree(Ansatz(base.circuit, base.inputs, base.weights, observables))


def test_gates_known_only_by_matrix_or_definition():
    x = ParameterVector("x", 3)
    qc = QuantumCircuit(3)
    qc.ry(x[0], 0)
    qc.rx(x[1], 1)
    qc.ccx(0, 1, 2)
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 0])
    qc.r(x[2], 0.3, 1)
    agree(Ansatz(qc, x, [], [SparsePauliOp("ZII"), SparsePauliOp("XYZ")]))
