"""A device profile's device: ISA circuits transpiled once per circuit structure, transpiler failures in one sentence."""

import pytest
import torch

from qrkt_qiskit import backends
from qrkt_qiskit.backends import get_profile
from qrkt_qiskit.circuits import Ansatz
from qrkt_qiskit.errors import QrktError
from qrkt_qiskit.layers import QuantumLayer


def test_a_transpiler_failure_is_one_sentence():
    from qiskit.circuit import Gate, Parameter, QuantumCircuit

    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1, name="opaque")
    qc.ry(x, 0)
    qc.append(Gate("mystery", 1, [w]), [0])  # no definition: no basis can express it
    # both simulators transpile when the layer moves to the device, before any data
    for simulator in ("native", "aer"):
        with pytest.raises(QrktError, match=r"Qiskit could not transpile the 1-qubit circuit 'opaque' for fake_manila "
                                            r"\(backend 'fake-manila'\): .*mystery"):
            QuantumLayer(1, ansatz=Ansatz(qc, [x], [w]), backend=get_profile("fake-manila", simulator=simulator))


def test_layers_of_one_circuit_share_one_transpilation_with_their_own_parameters():
    profile = get_profile("fake-manila", layout_seed=4321, simulator="aer", shots=None)  # a layout of its own: a fresh setup
    layers = [QuantumLayer(3, backend=profile) for _ in range(4)]
    assert len(backends.devices.device_setup(profile).isa) == 1  # transpiled at to_backend, once for all four
    fitted = [backends.fit(profile, layer.ansatz) for layer in layers]
    assert all(f.circuit is fitted[0].circuit for f in fitted)  # one ISA circuit: PUBs of all four merge
    for layer, f in zip(layers, fitted):
        assert set(f.own(layer.ansatz).parameters) == set(layer.ansatz.inputs + layer.ansatz.weights)
    x = torch.rand(2, 3, dtype=torch.float64)
    layer = layers[2].double()  # not the layer whose circuit was transpiled: Aer must bind its own parameters
    assert torch.allclose(layer(x), layer.to_backend(get_profile(profile, simulator="native"))(x), atol=1e-6)
