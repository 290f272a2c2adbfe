"""Running circuits on a profile's primitive: the same weights give the same numbers on every backend.

Real Qiskit primitives and fake devices throughout (FakeManilaV2-size, small shot counts):
no mocks. Runtime's `ibm` profile runs in its local testing mode on a fake device.
"""

import math
import pickle

import pytest
import torch
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.backends import get_profile
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear, to_backend


def _layer(n_qubits=3, layers=2, seed=0):
    torch.manual_seed(seed)
    return QuantumLayer(n_qubits, ansatz="qrkt", layers=layers).double()


def _inputs(n=12, n_qubits=3, seed=1):
    return torch.rand(n, n_qubits, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 3


def _run(layer, name, x, **overrides):
    layer.to_backend(name, **overrides)
    with torch.no_grad():
        return layer(x)


@pytest.mark.parametrize("name, overrides", [
    ("estimator", {}),
    ("aer", {}),
    # a fake device with its noise scaled to zero: ISA transpilation and observable layout are exact
    ("fake-manila", {"shots": None, "noise_scale": 0.0}),
])
def test_exact_backends_agree_with_native(name, overrides):
    layer, x = _layer(), _inputs()
    native = _run(layer, "native", x)
    assert torch.allclose(_run(layer, name, x, **overrides), native, atol=1e-6, rtol=0)


def test_aer_gradients_agree_with_native():
    layer = _layer()
    x = _inputs(4).requires_grad_()
    grads = []
    for name in ("native", "aer"):
        layer.to_backend(name)
        grads.append(torch.autograd.grad((layer(x) * torch.arange(1.0, 4.0)).sum(), [x, layer.weight]))
    for native, aer in zip(*grads):
        assert torch.allclose(native, aer.to(native.dtype), atol=1e-5)


def test_aer_shots_is_within_five_sigma_of_exact_and_not_exact():
    layer, x, shots = _layer(), _inputs(), 2000
    exact = _run(layer, "native", x)
    sampled = _run(layer, "aer-shots", x, shots=shots, seed=11)
    sigma = torch.sqrt((1 - exact**2).clamp_min(0) / shots)  # a Z expectation from `shots` samples
    assert ((sampled - exact).abs() <= 5 * sigma + 1e-9).all()
    assert (sampled - exact).abs().max() > 0  # it did sample


def test_fake_device_error_is_measured_and_shrinks_with_noise_scale():
    layer, x = _layer(), _inputs()
    exact = _run(layer, "native", x)
    errors = [(_run(layer, "fake-manila", x, shots=None, noise_scale=s, seed=3) - exact).abs().mean().item()
              for s in (2.0, 1.0, 0.5, 0.1, 0.0)]
    assert errors[1] > 1e-3, errors  # the device's own noise is visible
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-6, errors


def test_fake_device_sampled_includes_shot_and_readout_noise():
    layer, x = _layer(), _inputs()
    exact = _run(layer, "native", x)
    a = _run(layer, "fake-manila", x, shots=256, seed=5)
    b = _run(layer, "fake-manila", x, shots=256, seed=5)
    c = _run(layer, "fake-manila", x, shots=256, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)  # the seed decides the samples
    assert (a - exact).abs().mean() > 1e-3


@pytest.mark.parametrize("execution", ["session", "batch"])
def test_ibm_runs_in_runtime_local_testing_mode(execution):
    from qiskit_ibm_runtime import Batch, Session

    layer, x = _layer(), _inputs(8)
    exact = _run(layer, "native", x)
    profile = get_profile("ibm", device="fake-manila", execution=execution, shots=512, seed=7,
                          dynamical_decoupling="XY4", twirling=True)
    out = _run(layer, profile, x)
    assert out.shape == exact.shape and torch.isfinite(out).all()
    assert 0 < (out - exact).abs().mean() < 0.3
    opened = backends.execution.execution_of(profile)
    assert isinstance(opened.mode, {"session": Session, "batch": Batch}[execution])
    options = opened.primitive.options  # what hardware would receive
    assert options.default_shots == 512 and options.resilience_level == 1
    assert options.dynamical_decoupling.enable and options.dynamical_decoupling.sequence_type == "XY4"
    assert options.twirling.enable_gates and options.simulator.seed_simulator == 7
    backends.close_sessions()
    assert opened.mode is None
    with torch.no_grad():
        again = layer(x)  # the layer reopens its Session or Batch, and the seed holds
    assert torch.equal(again, out) and isinstance(opened.mode, (Session, Batch))
    backends.close_sessions()


def test_state_dict_is_identical_across_backends_and_the_weight_is_the_same_parameter():
    model = nn.Sequential(nn.Linear(4, 3), QuantumLayer(3), QuantumLinear(3, 4, 2))
    weights = [m.weight for m in model.modules() if isinstance(m, QuantumLayer)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name, overrides in [("aer", {}), ("fake-manila", {"shots": 64}), ("native", {})]:
        to_backend(model, name, **overrides)
        model(torch.rand(2, 4))
        assert list(model.state_dict()) == list(before)
        assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert [m.weight for m in model.modules() if isinstance(m, QuantumLayer)] == weights


def test_a_model_on_a_backend_pickles_without_its_backend_connection():
    model = nn.Sequential(QuantumLayer(2, backend="aer"))
    model(torch.rand(3, 2))
    copy = pickle.loads(pickle.dumps(model))
    assert copy[0].backend == "aer" and copy[0]._placement._qnn is None and copy[0]._placement._prepared is None
    # the exact program is rebuilt on unpickling (so that torch.compile never meets an uncompiled layer), not copied
    assert set(copy[0]._exact) == set(model[0]._exact)
    assert all(copy[0]._exact[k] is not model[0]._exact[k] for k in model[0]._exact)
    assert torch.allclose(copy(torch.ones(1, 2)), model(torch.ones(1, 2)))


def test_precision_asks_for_exactly_the_shots():
    assert all(math.ceil(1 / backends.execution.shots_precision(s) ** 2) == s for s in range(1, 5000))
