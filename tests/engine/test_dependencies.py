"""`dependencies`: which inputs each output reads, checked against derivatives."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qrkt_qiskit import Ansatz, compile_ansatz, make_ansatz
from qrkt_qiskit.engine import dependencies
from tests.strategies import CLIFFORD_2Q, product_then_clifford, random_ansatze


def _jacobian(ansatz: Ansatz, seed: int) -> np.ndarray:
    """d output / d input ``(outputs, inputs)`` at random inputs and weights, float64."""
    prog = compile_ansatz(ansatz, torch.float64)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(ansatz.n_inputs, generator=g, dtype=torch.float64) * 6 - 3
    w = torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) * 6 - 3
    return torch.autograd.functional.jacobian(lambda v: prog(v, w), x).numpy()


def test_the_one_layer_qrkt_circuit_mixes_only_its_first_output():
    deps = dependencies(make_ansatz("qrkt", 6, 1))
    assert deps.exact and not deps.elementwise
    assert [o.inputs for o in deps.outputs] == [(0, 5), (1,), (2,), (3,), (4,), (5,)]
    assert deps.outputs[0].strings == ((1.0, "X0 X5"),) and deps.outputs[3].strings == ((1.0, "X3"),)
    assert deps.summary() == ("1 of 6 outputs mix inputs (output 0 reads inputs 0, 5); the other 5 read at most one "
                              "input each")
    assert deps.short() == "1/6 outputs mix"


def test_the_basic_ring_mixes_and_two_layers_are_a_bound():
    basic = dependencies(make_ansatz("basic", 4, 1))
    assert basic.exact and all(len(o.inputs) > 1 for o in basic.outputs)
    two = dependencies(make_ansatz("qrkt", 4, 2))
    assert not two.exact and two.outputs[0].strings is None
    assert two.summary().endswith("(light cones: an upper bound)")


def test_a_circuit_of_single_qubit_gates_is_reported_element_wise():
    x, w = ParameterVector("x", 3), ParameterVector("w", 3)
    qc = QuantumCircuit(3)
    for q in range(3):
        qc.ry(x[q], q)
        qc.rz(w[q], q)
    deps = dependencies(Ansatz(qc, tuple(x), tuple(w)))
    assert deps.elementwise and deps.short() == "element-wise"
    assert deps.summary() == "each output reads at most one input: this circuit mixes no features"


def test_derived_inputs_count_every_input_they_read():
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0] * x[1], 0)
    qc.ry(x[1], 1)
    assert [o.inputs for o in dependencies(Ansatz(qc, tuple(x), ())).outputs] == [(0, 1), (1,)]


@settings(max_examples=40, deadline=None)
@given(st.one_of(random_ansatze(), product_then_clifford()), st.integers(0, 2**16))
def test_no_output_depends_on_an_input_outside_its_report(ansatz, seed):
    if ansatz.n_inputs == 0:
        return
    jac = _jacobian(ansatz, seed)
    for o in dependencies(ansatz).outputs:
        outside = [j for j in range(ansatz.n_inputs) if j not in o.inputs]
        assert np.abs(jac[o.output, outside]).max(initial=0) < 1e-9


@st.composite
def _generic_closed_form(draw):
    """One input rotation per qubit (RX or RY: they move |0>), weight rotations, a Clifford tail, Pauli sums."""
    n = draw(st.integers(1, 5))
    x, w = ParameterVector("x", n), ParameterVector("w", n)
    qc = QuantumCircuit(n)
    for q in range(n):
        getattr(qc, draw(st.sampled_from(["rx", "ry"])))(x[q], q)
        getattr(qc, draw(st.sampled_from(["rx", "ry", "rz"])))(w[q], q)
    for _ in range(draw(st.integers(0, 2 * n)) if n > 1 else 0):
        a, b = draw(st.permutations(range(n)))[:2]
        getattr(qc, draw(st.sampled_from(CLIFFORD_2Q)))(a, b)
    obs = [SparsePauliOp(draw(st.lists(st.text("IXYZ", min_size=n, max_size=n), min_size=1, max_size=3)))
           for _ in range(draw(st.integers(1, 3)))]  # unit coefficients: a 1e-7 term would test the tolerance
    return Ansatz(qc, tuple(x), tuple(w), obs)


@settings(max_examples=40, deadline=None)
@given(_generic_closed_form(), st.integers(0, 2**16))
def test_on_the_closed_form_every_reported_input_matters(ansatz, seed):
    deps = dependencies(ansatz)
    assert deps.exact
    # the largest |derivative| over three random points: a product of several sines can be small at one
    jac = np.max([np.abs(_jacobian(ansatz, seed + k)) for k in range(3)], axis=0)
    for o in deps.outputs:
        for j in o.inputs:  # non-zero at random weights and inputs (cancellation has measure zero)
            assert jac[o.output, j] > 1e-8, (o, j)
