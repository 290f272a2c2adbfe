"""QuantumLayer and QuantumLinear: one weight tensor, the same numbers on every backend."""

import pytest
import torch
from torch import nn

from qrkt_qiskit import Ansatz, make_ansatz
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear, backends_kept, running_natively, to_backend


@pytest.mark.parametrize("ansatz, layers", [("qrkt", 2), ("basic", 1)])
def test_native_and_estimator_agree_on_outputs_and_gradients(ansatz, layers):
    torch.manual_seed(0)
    layer = QuantumLayer(3, ansatz=ansatz, layers=layers)
    x = (torch.rand(4, 3) * 6 - 3).requires_grad_()
    results = []
    for backend in ("native", "estimator"):
        layer.to_backend(backend)
        out = layer(x)
        gx, gw = torch.autograd.grad((out * torch.arange(1.0, 4.0)).sum(), [x, layer.weight])
        results.append((out.detach(), gx, gw))
    for native, estimator in zip(*results):
        assert torch.allclose(native, estimator, atol=1e-5)


def test_switching_backends_keeps_the_same_parameter_and_state_dict():
    layer = QuantumLayer(2)
    weight, before = layer.weight, {k: v.clone() for k, v in layer.state_dict().items()}
    layer(torch.rand(1, 2))
    layer.to_backend("estimator")
    layer(torch.rand(1, 2))
    assert layer.weight is weight
    assert list(layer.state_dict()) == ["weight"]
    assert torch.equal(layer.state_dict()["weight"], before["weight"])


def test_estimator_gives_inputs_a_gradient():
    layer = QuantumLayer(2, backend="estimator")
    x = torch.rand(3, 2, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_to_backend_switches_every_quantum_layer_of_a_model():
    model = nn.Sequential(nn.Linear(4, 2), QuantumLayer(2), nn.Linear(2, 3), QuantumLinear(3, 3, 2))
    assert to_backend(model, "estimator") is model
    assert {m.backend for m in model.modules() if isinstance(m, QuantumLayer)} == {"estimator"}


def test_the_layer_follows_dtype_and_any_leading_shape():
    layer = QuantumLayer(3).double()
    out = layer(torch.rand(2, 5, 3, dtype=torch.float64))
    assert out.shape == (2, 5, 3) and out.dtype == torch.float64


def test_a_user_ansatz_drives_the_layer():
    ansatz = make_ansatz("basic", 2)
    custom = Ansatz(ansatz.circuit, ansatz.inputs, ansatz.weights, ansatz.observables[:1])
    assert QuantumLayer(2, ansatz=custom)(torch.rand(7, 2)).shape == (7, 1)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_qubits=0), ValueError, "n_qubits must be a positive integer, got 0"),
    (dict(n_qubits=2, ansatz="ghz"), ValueError, "unknown ansatz 'ghz'; choose one of: qrkt, qrkt-2n, qrkt-reupload, basic"),
    (dict(n_qubits=2, backend="aer-gpux"), ValueError,
     r"unknown backend 'aer-gpux' \(did you mean 'aer-gpu'\?\); choose one of: .*aer-gpu, .*estimator, fake-<device>, ibm, "
     r"native"),
    (dict(n_qubits=3, ansatz=make_ansatz("qrkt", 2)), ValueError, "the ansatz acts on 2 qubits but n_qubits=3"),
])
def test_layer_construction_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        QuantumLayer(**kwargs)


@pytest.mark.parametrize("backend", ["native", "estimator"])
def test_layer_input_errors(backend):
    layer = QuantumLayer(3, backend=backend)
    with pytest.raises(ValueError, match=r"inputs must have shape \(\.\.\., 3\) for this circuit's 3 inputs, got \(2, 4\)"):
        layer(torch.rand(2, 4))
    with pytest.raises(ValueError, match="inputs contain NaN or infinite values"):
        layer(torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="inputs contain NaN or infinite values"):
        layer(torch.tensor([[0.0, float("inf"), 1.0]]))
    with pytest.raises(ValueError, match=r"unknown backend 'ibmq' \(did you mean 'ibm'\?\); choose one of: "):
        layer.to_backend("ibmq")


def test_quantum_linear_splits_into_circuits_of_at_most_n_qubits():
    lin = QuantumLinear(10, 10, 4)
    assert lin.widths == [4, 3, 3] and isinstance(lin.proj, nn.Identity)
    assert [c.ansatz.n_qubits for c in lin.circuits] == [4, 3, 3]
    x = torch.rand(2, 6, 10)
    assert lin(x).shape == (2, 6, 10)
    # each chunk is its own circuit on its own features
    expected = torch.cat([c(part) for c, part in zip(lin.circuits, x.split([4, 3, 3], dim=-1))], dim=-1)
    assert torch.allclose(lin(x), expected)


def test_quantum_linear_projects_when_widths_differ_and_trains_every_parameter():
    lin = QuantumLinear(5, 7, 3, ansatz="basic", layers=2)
    assert isinstance(lin.proj, nn.Linear) and lin.widths == [3, 2, 2]
    lin(torch.rand(4, 5)).square().sum().backward()
    for name, p in lin.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_quantum_linear_errors():
    with pytest.raises(ValueError, match=r"QuantumLinear expects inputs of shape \(\.\.\., 5\), got \(2, 4\)"):
        QuantumLinear(5, 5, 3)(torch.rand(2, 4))
    with pytest.raises(ValueError, match="n_qubits must be a positive integer, got 0"):
        QuantumLinear(5, 5, 0)
    with pytest.raises(ValueError, match="d_out must be a positive integer, got -1"):
        QuantumLinear(5, -1, 2)


def test_to_backend_refuses_a_model_without_quantum_layers_in_one_sentence():
    with pytest.raises(ValueError, match=r"^Sequential has no QuantumLayer to put on backend 'aer'; "
                                         r"a classical model runs only on torch$"):
        to_backend(nn.Sequential(nn.Linear(2, 2)), "aer")


def test_running_natively_is_exact_inside_and_keeps_every_backend_built():
    model = nn.Sequential(QuantumLayer(2, backend="estimator"), QuantumLayer(2))
    x = torch.rand(3, 2)
    on_estimator = model(x)
    qnn = model[0]._placement.qnn
    with running_natively(model):
        assert [m.backend for m in model] == ["native", "native"]
        exact = model(x)
    assert [m.backend for m in model] == ["estimator", "native"] and model[0]._placement.qnn is qnn
    assert torch.allclose(exact, on_estimator, atol=1e-6)
    with backends_kept(model):
        to_backend(model, "aer")
    assert [m.backend for m in model] == ["estimator", "native"]


def test_initial_weights_set_the_starting_angles_and_are_checked():
    layer = QuantumLayer(3, initial_weights=[0.1, 0.2, 0.3])
    assert torch.equal(layer.weight.data, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"^weight has shape \(2,\), but this 3-qubit circuit has 3 weights$"):
        QuantumLayer(3, initial_weights=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"^weight contains NaN or infinite values"):
        QuantumLayer(3, initial_weights=[0.1, float("inf"), 0.3])


BACKENDS = ["native", "estimator", "aer", "fake-manila"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.bfloat16, torch.float16, torch.complex64])
def test_inputs_that_are_not_float32_or_float64_are_refused_alike_on_every_backend(backend, dtype):
    # Aer once took integers, cast the weights to integers with them, and returned zeros
    layer = QuantumLayer(2, backend=backend)
    with pytest.raises(TypeError, match=rf"^inputs have dtype {dtype}, but a circuit's inputs are angles in float32 or "
                                        r"float64; convert them \(x.float\(\)\)$"):
        layer(torch.ones(3, 2, dtype=dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_weight_that_is_not_finite_is_refused_on_every_backend_as_the_engine_refuses_it(backend, bad):
    from qrkt_qiskit.engine import NonFiniteAngleError

    layer = QuantumLayer(2, backend=backend)
    with torch.no_grad():
        layer.weight[1] = bad
    with pytest.raises(NonFiniteAngleError, match="^weights contain NaN or infinite values; every angle must be "
                                                  "finite$"):
        layer(torch.rand(3, 2))
