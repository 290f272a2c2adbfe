"""The closed-form strategy: Clifford tail into the observables, Bloch products on a product state."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from qrkt_qiskit import ANSATZ_NAMES, Ansatz, UnsupportedCircuitError, compile_ansatz, make_ansatz
from qrkt_qiskit.layers import QuantumLayer

from ..conftest import bindings, reference
from ..strategies import product_then_clifford


def samples(ansatz, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) * 6 - 3
    w = torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) * 6 - 3
    return x, w


def aer_reference(ansatz, x, w, method="statevector"):
    """Expectation values by Aer's exact estimator, an independent simulator."""
    estimator = AerEstimator(options={"backend_options": {"method": method}})
    params = list(ansatz.circuit.parameters)
    rows = []
    for row in np.atleast_2d(x):
        values = bindings(ansatz, row, w)
        pub = (ansatz.circuit, list(ansatz.observables), [values[p] for p in params])
        rows.append(estimator.run([pub], precision=0.0).result()[0].data.evs)
    return np.array(rows)


@pytest.mark.parametrize("name, layers, strategy", [
    ("qrkt", 1, "closed-form"), ("basic", 1, "closed-form"), ("qrkt", 2, "statevector"), ("basic", 3, "statevector"),
])
def test_the_strategy_is_chosen_automatically_and_shown(name, layers, strategy):
    prog = compile_ansatz(make_ansatz(name, 5, layers))
    assert prog.simulator() == {"closed-form": "closed-form", "statevector": "kernel"}[strategy]
    assert ("method='auto' runs closed-form:" in repr(prog)) == (strategy == "closed-form")


@pytest.mark.parametrize("name", ANSATZ_NAMES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 12])
def test_shipped_one_layer_ansatze_match_statevector(name, n, device):
    base = make_ansatz(name, n)
    rng = np.random.default_rng(n)
    labels = ["".join(rng.choice(list("IXYZ"), size=n)) for _ in range(3)]
    observables = list(base.observables) + [SparsePauliOp(labels, rng.normal(size=3))]
    ansatz = Ansatz(base.circuit, base.inputs, base.weights, observables)
    x, w = samples(ansatz)
    prog = compile_ansatz(ansatz, torch.float64, device, method="closed-form")
    out = prog(x.to(device), w.to(device)).cpu().numpy()
    assert np.abs(out - reference(ansatz, x.numpy(), w.numpy())).max() <= 1e-10


@given(product_then_clifford())
def test_random_product_circuits_with_clifford_tails_match_statevector(ansatz):
    prog = compile_ansatz(ansatz, torch.float64, method="closed-form")
    x, w = samples(ansatz)
    out = prog(x, w).numpy()
    assert np.abs(out - reference(ansatz, x.numpy(), w.numpy())).max() <= 1e-10


@settings(max_examples=15)
@given(product_then_clifford(max_qubits=4))
def test_closed_form_gradients_match_finite_differences(ansatz):
    assume(ansatz.n_inputs + ansatz.n_weights > 0)
    x, w = samples(ansatz, batch=2)
    prog = compile_ansatz(ansatz, torch.float64, method="closed-form")
    assert torch.autograd.gradcheck(prog, (x.requires_grad_(), w.requires_grad_()), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("n", [16, 20])
def test_closed_form_matches_aer_statevector_at_20_qubits(n):
    ansatz = make_ansatz("qrkt", n)
    x, w = samples(ansatz, batch=2)
    out = compile_ansatz(ansatz, torch.float64)(x, w).numpy()
    assert np.abs(out - aer_reference(ansatz, x.numpy(), w.numpy())).max() <= 1e-10


def _entangled_then(build):
    x, w = ParameterVector("x", 3), ParameterVector("w", 3)
    qc = QuantumCircuit(3)
    for j in range(3):
        qc.ry(x[j], j)
        qc.rz(w[j], j)
    qc.h(0)
    qc.cx(0, 1)
    build(qc)
    qc.cx(1, 2)
    return Ansatz(qc, x, w)


@pytest.mark.parametrize("build, culprit", [
    # a non-Clifford gate after an entangler
    (lambda qc: qc.t(1), r"gate 'cx' on qubits \[0, 1\] is followed by a non-Clifford gate on its qubits"),
    # a rotation by an angle that is not a multiple of π/2 inside the tail
    (lambda qc: qc.rz(0.3, 1), r"gate 'cx' on qubits \[0, 1\] is followed by a non-Clifford gate"),
    # a non-Clifford entangler
    (lambda qc: qc.crx(0.5, 0, 2), r"gate 'crx' on qubits \[0, 2\] is not Clifford"),
])
def test_where_the_pass_must_not_apply_the_statevector_path_is_taken(build, culprit):
    ansatz = _entangled_then(build)
    prog = compile_ansatz(ansatz, torch.float64)
    assert prog.simulator() != "closed-form"
    x, w = samples(ansatz)
    assert np.abs(prog(x, w).numpy() - reference(ansatz, x.numpy(), w.numpy())).max() <= 1e-10
    with pytest.raises(UnsupportedCircuitError, match=r"the closed form needs single-qubit gates followed by "
                                                      r"Clifford gates only, but " + culprit):
        compile_ansatz(ansatz, method="closed-form")


def test_a_clifford_rotation_inside_the_tail_is_absorbed():
    ansatz = _entangled_then(lambda qc: qc.rz(np.pi / 2, 1))
    prog = compile_ansatz(ansatz, torch.float64)
    assert prog.simulator() == "closed-form"
    x, w = samples(ansatz)
    assert np.abs(prog(x, w).numpy() - reference(ansatz, x.numpy(), w.numpy())).max() <= 1e-10


def test_both_strategies_agree_when_both_apply():
    ansatz = make_ansatz("qrkt", 7)
    x, w = samples(ansatz, batch=5)
    closed = compile_ansatz(ansatz, torch.float64, method="closed-form")(x, w)
    statevector = compile_ansatz(ansatz, torch.float64, method="statevector")(x, w)
    assert torch.allclose(closed, statevector, atol=1e-12)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="^unknown method 'mps'; choose one of: auto, closed-form, statevector, sweep, "
                                         "kernel, density-matrix$"):
        compile_ansatz(make_ansatz("qrkt", 2), method="mps")


def test_a_384_qubit_layer_runs_forward_and_backward_and_matches_aer_mps():
    layer = QuantumLayer(384, ansatz="qrkt").double()
    x = (torch.rand(8, 384, dtype=torch.float64) * 6 - 3).requires_grad_()
    out = layer(x)
    out.square().sum().backward()
    assert out.shape == (8, 384) and torch.isfinite(x.grad).all() and torch.isfinite(layer.weight.grad).all()
    # An independent simulator: Aer's matrix-product-state method on the full 384-qubit
    # circuit, for a handful of observables (each costs it a full contraction).
    picked = [0, 1, 2, 191, 382, 383]
    ansatz = layer.ansatz
    subset = Ansatz(ansatz.circuit, ansatz.inputs, ansatz.weights, [ansatz.observables[j] for j in picked])
    expected = aer_reference(subset, x[:2].detach().numpy(), layer.weight.detach().numpy(), "matrix_product_state")
    assert np.abs(out[:2, picked].detach().numpy() - expected).max() <= 1e-10


def _stages(program, x, w, k=4):
    """What an ODE block does: the same circuit and weights k times in one graph."""
    out = x
    for _ in range(k):
        out = program(out, w)
    return out


@pytest.mark.parametrize("n", [3, 6])
def test_weight_terms_reused_across_stages_give_the_uncached_gradient(n):
    ansatz = make_ansatz("qrkt", n, 1)
    cached = compile_ansatz(ansatz, dtype=torch.float64, method="closed-form")
    reference = compile_ansatz(ansatz, dtype=torch.float64, method="statevector")
    torch.manual_seed(0)
    x = torch.rand(5, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(n, dtype=torch.float64, requires_grad=True)
    for _ in range(2):  # twice: forward, backward, forward, backward without a step between
        got = torch.autograd.grad(_stages(cached, x, w).sum(), (x, w))
        want = torch.autograd.grad(_stages(reference, x, w).sum(), (x, w))
        for a, b in zip(got, want):
            assert torch.allclose(a, b, atol=1e-10)


def test_weight_terms_follow_every_way_the_weights_change():
    ansatz = make_ansatz("qrkt", 4, 1)
    program = compile_ansatz(ansatz, dtype=torch.float64, method="closed-form")
    reference = compile_ansatz(ansatz, dtype=torch.float64, method="statevector")
    x = torch.rand(3, 4, dtype=torch.float64)
    w = torch.nn.Parameter(torch.rand(4, dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=0.5)
    for change in ("step", "data", "no_grad", "new tensor"):
        before = program(x, w)
        if change == "step":
            before.sum().backward()
            optimizer.step()
        elif change == "data":
            w.data.add_(0.3)  # bypasses the version counter
        elif change == "no_grad":
            with torch.no_grad():
                w.mul_(0.7)
        else:
            w = torch.nn.Parameter(w.detach().clone())  # equal values, another tensor
        after = program(x, w)
        assert torch.allclose(after, reference(x, w), atol=1e-12)
        if change != "new tensor":
            assert not torch.allclose(before, after)
    g = torch.autograd.grad(program(x, w).sum(), w)[0]  # the gradient reaches the new tensor
    assert torch.allclose(g, torch.autograd.grad(reference(x, w).sum(), w)[0], atol=1e-10)


@pytest.mark.parametrize("strategy", ["closed-form", "statevector"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_second_derivatives_for_gradient_penalties(strategy, n):
    """A WGAN-GP critic differentiates its gradient: the hand-written backwards must be differentiable."""
    program = compile_ansatz(make_ansatz("qrkt", n, 1), dtype=torch.float64, method=strategy)
    x = torch.rand(3, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(n, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w: program(x, w), (x, w))


@settings(max_examples=10, deadline=None)
@given(product_then_clifford(max_qubits=3))
def test_closed_form_second_derivatives_on_random_product_circuits(ansatz):
    """Weight rotations before and after the input layer, scaled and offset angles: gradgrad by hand-written backwards."""
    assume(ansatz.n_inputs > 0 and ansatz.n_weights > 0)
    x, w = samples(ansatz, batch=2)
    prog = compile_ansatz(ansatz, torch.float64, method="closed-form")
    assert torch.autograd.gradgradcheck(prog, (x.requires_grad_(), w.requires_grad_()), eps=1e-6, atol=1e-6)


def test_constant_gates_between_weight_rotations():
    """Bound non-Clifford gates (T, RX(0.3)) on either side of the input layer, on some qubits only."""
    x, w = ParameterVector("x", 2), ParameterVector("w", 3)
    qc = QuantumCircuit(3)
    qc.rx(0.3, 0)
    qc.ry(w[0], 0)
    qc.t(2)
    qc.rz(w[2], 2)
    qc.ry(x[0], 0)  # both inputs at the same depth: one input layer, the weight chain's path
    qc.rx(2 * x[1] + 0.5, 2)
    qc.t(0)
    qc.rz(w[1], 0)
    qc.u(w[2], 0.2, w[0], 2)
    qc.cx(0, 1)
    qc.cx(1, 2)
    ansatz = Ansatz(qc, list(x), list(w), [SparsePauliOp(["ZZI", "XIY", "IZX"], [1.0, 0.5, -0.25])])
    prog = compile_ansatz(ansatz, torch.float64, method="closed-form")
    assert prog._program._input_layer is not None
    xs, ws = samples(ansatz, batch=4)
    assert np.abs(prog(xs, ws).numpy() - reference(ansatz, xs.numpy(), ws.numpy())).max() <= 1e-10
    assert torch.autograd.gradcheck(prog, (xs.requires_grad_(), ws.requires_grad_()), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(prog, (xs, ws), eps=1e-6, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(product_then_clifford(max_qubits=4))
def test_narrow_and_wide_batch_routes_agree(ansatz):
    """Up to DENSE_MAX_QUBITS the factors are one matrix product; wider, a gather per slot: same values and gradients."""
    from qrkt_qiskit.engine import pauli_products

    x, w = samples(ansatz, batch=3)
    dense = compile_ansatz(ansatz, torch.float64, method="closed-form")
    limit, pauli_products.DENSE_MAX_QUBITS = pauli_products.DENSE_MAX_QUBITS, 0
    try:
        gather = compile_ansatz(ansatz, torch.float64, method="closed-form")
    finally:
        pauli_products.DENSE_MAX_QUBITS = limit
    assert dense._program._slots.dense and not gather._program._slots.dense
    outs = []
    for prog in (dense, gather):
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = prog(xg, wg)
        outs.append((out, *torch.autograd.grad(out.sum(), (xg, wg), allow_unused=True)))
    for a, b in zip(*outs):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("ansatz_name", ["qrkt", "basic"])
def test_the_wide_route_is_twice_differentiable(ansatz_name):
    """Wider than DENSE_MAX_QUBITS the factors are gathered per slot (the qrkt ring without padding): gradgrad holds."""
    from qrkt_qiskit.engine import pauli_products

    n = pauli_products.DENSE_MAX_QUBITS + 2
    prog = compile_ansatz(make_ansatz(ansatz_name, n, 1), dtype=torch.float64, method="closed-form")
    slots = prog._program._slots
    assert not slots.dense and (slots.pairs is not None) == (ansatz_name == "qrkt")
    x = torch.rand(2, n, dtype=torch.float64, requires_grad=True)
    w = torch.rand(n, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(prog, (x, w))
    assert torch.autograd.gradgradcheck(prog, (x, w))
