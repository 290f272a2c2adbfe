"""Engine gradients against finite differences and Qiskit's parameter-shift rule."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from qiskit.primitives import StatevectorEstimator
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient

from qrkt_qiskit import ANSATZ_NAMES, compile_ansatz, make_ansatz

from ..strategies import random_ansatze


def inputs(ansatz, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) * 6 - 3
    w = torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) * 6 - 3
    return x.requires_grad_(), w.requires_grad_()


@pytest.mark.parametrize("name", ANSATZ_NAMES)
@pytest.mark.parametrize("n, layers", [(1, 1), (2, 2), (3, 1), (4, 2)])
def test_gradients_match_central_finite_differences(name, n, layers, device):
    ansatz = make_ansatz(name, n, layers)
    prog = compile_ansatz(ansatz, torch.float64, device)
    x, w = inputs(ansatz)
    assert torch.autograd.gradcheck(prog, (x.detach().to(device).requires_grad_(),
                                           w.detach().to(device).requires_grad_()), eps=1e-6, atol=1e-7)


@settings(max_examples=15)
@given(random_ansatze(max_qubits=4, max_gates=10))
def test_random_circuit_gradients_match_finite_differences(ansatz):
    assume(ansatz.n_inputs + ansatz.n_weights > 0)
    prog = compile_ansatz(ansatz, torch.float64)
    assert torch.autograd.gradcheck(prog, inputs(ansatz), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ANSATZ_NAMES)
def test_gradients_match_qiskit_parameter_shift(name):
    ansatz = make_ansatz(name, 3, layers=2)
    x, w = inputs(ansatz, batch=1)
    jac_x, jac_w = torch.autograd.functional.jacobian(compile_ansatz(ansatz, torch.float64), (x, w))
    ours = torch.cat([jac_x[0, :, 0], jac_w[0]], dim=1).numpy()  # (n_obs, n_inputs + n_weights)

    params = list(ansatz.circuit.parameters)  # Qiskit binds values in this order
    values = dict(zip(ansatz.inputs, x[0].tolist())) | dict(zip(ansatz.weights, w.tolist()))
    k = ansatz.n_observables
    result = ParamShiftEstimatorGradient(StatevectorEstimator()).run(
        [ansatz.circuit] * k, list(ansatz.observables), [[values[p] for p in params]] * k, [params] * k
    ).result()
    theirs = {p: np.array([g[i] for g in result.gradients]) for i, p in enumerate(params)}
    expected = np.stack([theirs[p] for p in ansatz.inputs + ansatz.weights], axis=1)
    assert np.abs(ours - expected).max() <= 1e-10


def test_complex64_gradients_are_close_to_complex128():
    ansatz = make_ansatz("qrkt", 6, 2)
    x, w = inputs(ansatz, batch=16)
    grads = []
    for dtype in (torch.float32, torch.float64):
        xd, wd = x.detach().to(dtype).requires_grad_(), w.detach().to(dtype).requires_grad_()
        compile_ansatz(ansatz, dtype)(xd, wd).square().sum().backward()
        grads.append((xd.grad.double(), wd.grad.double()))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-4)


@pytest.mark.parametrize("name", ["qrkt", "basic"])
@pytest.mark.parametrize("n, layers", [(1, 1), (2, 2), (3, 2), (4, 3)])
def test_statevector_second_derivatives_match_finite_differences(name, n, layers, device):
    """The adjoint reverse pass is itself differentiable (a WGAN-GP critic differentiates its gradient)."""
    ansatz = make_ansatz(name, n, layers)
    prog = compile_ansatz(ansatz, torch.float64, device, method="statevector")
    x, w = (t.detach().to(device).requires_grad_() for t in inputs(ansatz))
    assert torch.autograd.gradgradcheck(prog, (x, w), eps=1e-6, atol=1e-6)


@settings(max_examples=15)
@given(random_ansatze(max_qubits=4, max_gates=10))
def test_random_circuit_second_derivatives_match_finite_differences(ansatz):
    assume(ansatz.n_inputs + ansatz.n_weights > 0)
    prog = compile_ansatz(ansatz, torch.float64, method="statevector")
    assert torch.autograd.gradgradcheck(prog, inputs(ansatz), eps=1e-6, atol=1e-6)
