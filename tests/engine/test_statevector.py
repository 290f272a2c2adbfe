"""The engine against `qiskit.quantum_info.Statevector`: values, qubit order, every gate."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import SparsePauliOp, random_unitary

from qrkt_qiskit import ANSATZ_NAMES, Ansatz, compile_ansatz, make_ansatz

from ..conftest import reference
from ..strategies import pauli_sums, random_ansatze

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def run(ansatz, dtype, device, batch=3, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    w = (torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    out = compile_ansatz(ansatz, dtype, device, **kw)(x.to(device, dtype), w.to(device, dtype))
    return out.double().cpu().numpy(), reference(ansatz, x.numpy(), w.numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ANSATZ_NAMES)
@pytest.mark.parametrize("n", range(1, 11))
def test_shipped_ansatze_match_statevector(name, n, dtype, device):
    for layers, strategy in [(1, "auto"), (1, "statevector"), (2, "auto")]:
        out, ref = run(make_ansatz(name, n, layers), dtype, device, method=strategy)
        assert np.abs(out - ref).max() <= TOLERANCE[dtype]


@pytest.mark.parametrize("block_qubits", [10, 0])
@pytest.mark.parametrize("n", [3, 5])
def test_wide_blocks_and_no_blocks_agree_with_statevector(n, block_qubits, device):
    out, ref = run(make_ansatz("qrkt", n, 3), torch.float64, device, method="sweep", block_qubits=block_qubits)
    assert np.abs(out - ref).max() <= 1e-10


@given(random_ansatze(), st.sampled_from([torch.float32, torch.float64]), st.sampled_from([6, 10, 0]))
def test_random_circuits_and_pauli_sums_match_statevector(ansatz, dtype, block_qubits):
    out, ref = run(ansatz, dtype, "cpu", method="sweep", block_qubits=block_qubits)
    scale = max(1.0, sum(np.abs(o.coeffs).sum() for o in ansatz.observables))
    assert np.abs(out - ref).max() <= TOLERANCE[dtype] * scale


@given(st.integers(2, 6).flatmap(lambda n: st.tuples(st.just(n), st.lists(pauli_sums(n), min_size=1, max_size=4))))
def test_pauli_sums_on_an_entangled_state(case):
    n, observables = case
    base = make_ansatz("qrkt", n, 2)
    ansatz = Ansatz(base.circuit, base.inputs, base.weights, observables)
    out, ref = run(ansatz, torch.float64, "cpu")
    assert np.abs(out - ref).max() <= 1e-10


def test_qubit_order_is_qiskits():
    # X on qubit 0 only: <Z_0> = -1 and <Z_1> = +1, and the label "IZ" means Z on qubit 0.
    qc = QuantumCircuit(2)
    x = ParameterVector("x", 1)
    qc.rx(x[0], 0)
    observables = [SparsePauliOp("IZ"), SparsePauliOp("ZI"), SparsePauliOp("ZZ")]
    out = compile_ansatz(Ansatz(qc, x, [], observables), torch.float64)(torch.tensor([[np.pi]], dtype=torch.float64),
                                                                  torch.zeros(0, dtype=torch.float64))
    assert out[0].tolist() == pytest.approx([-1.0, 1.0, -1.0], abs=1e-12)


def test_gates_known_only_by_matrix_or_definition_are_lowered():
    x = ParameterVector("x", 3)
    qc = QuantumCircuit(3)
    qc.ry(x[0], 0)
    qc.rx(x[1], 1)
    qc.ccx(0, 1, 2)  # not in the native set: Qiskit's matrix
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 0])
    qc.r(x[2], 0.3, 1)  # parameterized, not native: lowered through its definition
    out, ref = run(Ansatz(qc, x, [], [SparsePauliOp("ZII"), SparsePauliOp("XYZ")]), torch.float64, "cpu")
    assert np.abs(out - ref).max() <= 1e-10


def test_leading_batch_dimensions_are_kept():
    ansatz = make_ansatz("qrkt", 3)
    prog = compile_ansatz(ansatz, torch.float64)
    x, w = torch.rand(2, 4, 3, dtype=torch.float64), torch.rand(3, dtype=torch.float64)
    out = prog(x, w)
    assert out.shape == (2, 4, 3)
    assert torch.allclose(out.reshape(8, 3), prog(x.reshape(8, 3), w))
    assert prog(x[0, 0], w).shape == (3,)
