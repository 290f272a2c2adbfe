"""Qiskit users' own objects: estimators, backends and pass managers in `to_backend`, EstimatorQNN ports.

No mock of Qiskit: the estimators are Qiskit's, Aer's and Runtime's (local testing mode on a
fake device).
"""

import numpy as np
import pytest
import torch
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import PassManager, generate_preset_pass_manager
from qiskit.transpiler.basepasses import TransformationPass
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN
from torch import nn

from qrkt_qiskit import QuantumLayer, to_backend
from qrkt_qiskit.errors import QrktError


def _pair(n=3, layers=2):
    """A float64 layer on the native engine and its twin with the same weights."""
    torch.manual_seed(0)
    native = QuantumLayer(n, layers=layers).double()
    twin = QuantumLayer(n, layers=layers).double()
    twin.load_state_dict(native.state_dict())
    return native, twin


@pytest.mark.parametrize("target", [StatevectorEstimator, AerSimulator], ids=["StatevectorEstimator", "AerSimulator"])
def test_an_exact_estimator_or_simulator_object_matches_the_engine_in_float64(target):
    native, twin = _pair()
    twin.to_backend(target())
    x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    out = twin(x)
    assert out.dtype == torch.float64  # TorchConnector would have returned float32
    torch.testing.assert_close(out, native(x), atol=1e-10, rtol=0)
    grads = [torch.autograd.grad(layer(x).sum(), (x, layer.weight)) for layer in (twin, native)]
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, atol=1e-8, rtol=0)  # parameter shift: exact on an exact estimator


def test_a_profile_estimator_keeps_float64():
    native, twin = _pair()
    twin.to_backend("estimator")
    x = torch.rand(2, 3, dtype=torch.float64)
    out = twin(x)
    assert out.dtype == torch.float64 and twin.backend == "estimator"
    torch.testing.assert_close(out, native(x), atol=1e-12, rtol=0)


def test_a_fake_device_object_runs_isa_circuits_through_runtime_local_mode():
    device = FakeManilaV2()
    native, twin = _pair(3, layers=1)
    pass_manager = generate_preset_pass_manager(optimization_level=1, backend=device, seed_transpiler=7)
    to_backend(nn.Sequential(twin), device, pass_manager=pass_manager)
    assert twin.backend == "backend fake_manila" and twin.simulator is None
    isa = twin._placement.qnn.circuit
    assert {inst.operation.name for inst in isa.data} <= set(device.operation_names) | {"barrier"}
    x = torch.rand(3, 3, dtype=torch.float64)
    # the device's noise and 4096 shots, on one-layer outputs of size up to 1
    assert (twin(x) - native(x)).abs().max() < 0.3


class _Broken(TransformationPass):
    def run(self, dag):
        raise RuntimeError("no layout for you")


def test_mistakes_with_objects_are_one_sentence():
    layer = QuantumLayer(2)
    with pytest.raises(TypeError, match="a backend must be a profile name, a BackendProfile, a Qiskit V2 estimator "
                                        "or a BackendV2, got int"):
        to_backend(layer, 42)
    with pytest.raises(ValueError, match=r"pass_manager= applies to an estimator or backend object you pass"):
        to_backend(layer, "aer", pass_manager=PassManager())
    with pytest.raises(ValueError, match=r"profile options \(shots\) apply to a profile name; configure the "
                                         r"StatevectorEstimator you pass instead"):
        to_backend(layer, StatevectorEstimator(), shots=100)
    with pytest.raises(ValueError, match=r"a 6-qubit circuit does not fit backend 'backend fake_manila' \(5 qubits\)"):
        to_backend(QuantumLayer(6), FakeManilaV2())
    with pytest.raises(QrktError, match=r"the pass manager failed on circuit 'qrkt' \(RuntimeError: no layout for you\)"):
        to_backend(layer, StatevectorEstimator(), pass_manager=PassManager([_Broken()]))
    assert layer.backend == "native"  # nothing half-switched


def _qnn():
    fm, head = zz_feature_map(2, reps=1), real_amplitudes(2, reps=1)
    return EstimatorQNN(circuit=fm.compose(head), input_params=fm.parameters, weight_params=head.parameters,
                        observables=[SparsePauliOp("ZZ"), SparsePauliOp("IX")])


def test_a_torch_connector_ports_with_its_weights_and_its_state_dict_loads():
    connector = TorchConnector(_qnn(), initial_weights=np.linspace(0.1, 0.4, 4))
    x = torch.rand(5, 2)
    layer = QuantumLayer.from_qnn(connector)
    assert layer.n_outputs == 2
    torch.testing.assert_close(layer(x), connector(x), atol=1e-5, rtol=0)
    fresh = QuantumLayer.from_qnn(connector.neural_network)
    fresh.load_state_dict(connector.state_dict())  # 'weight' and TorchConnector's alias '_weights'
    torch.testing.assert_close(fresh(x), connector(x), atol=1e-5, rtol=0)


def test_from_qnn_refuses_what_is_not_an_estimator_qnn():
    fm = zz_feature_map(2, reps=1)
    sampler_qnn = SamplerQNN(circuit=fm.measure_all(inplace=False), input_params=fm.parameters, weight_params=[])
    with pytest.raises(TypeError, match="from_qnn takes an EstimatorQNN or a TorchConnector holding one, got SamplerQNN"):
        QuantumLayer.from_qnn(sampler_qnn)


def test_a_ported_qnn_is_exact_where_its_estimator_added_default_precision_noise():
    # docs/backends.md says so: EstimatorQNN's default_precision makes a V2 estimator add Gaussian noise
    fm, head = zz_feature_map(2, reps=1), real_amplitudes(2, reps=1)
    make = lambda **kw: EstimatorQNN(circuit=fm.compose(head), input_params=fm.parameters,  # noqa: E731
                                     weight_params=head.parameters, observables=[SparsePauliOp("ZZ")],
                                     estimator=StatevectorEstimator(seed=1), **kw)
    weights, x = np.linspace(0.1, 0.4, 4), torch.rand(200, 2, generator=torch.Generator().manual_seed(0))
    noisy, exact = (TorchConnector(make(**kw), initial_weights=weights) for kw in ({}, {"default_precision": 0.0}))
    layer = QuantumLayer.from_qnn(noisy)
    torch.testing.assert_close(layer(x), exact(x).detach(), atol=1e-5, rtol=0)
    assert 0.01 < (noisy(x) - layer(x)).detach().std() < 0.02  # the original: 0.015625 of noise
