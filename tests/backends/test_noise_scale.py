"""Aer at any noise scale: a qubit whose readout error reaches the scaled model's cap of 1/2 reads 0.

Its dressed observable is the zero observable, which Qiskit's primitives refuse ("Empty
observable was detected."); Aer measures the identity there and the layer zeroes the output.
The native noisy engine, which reads the same noise model, judges the values.
"""

import pytest
import torch

from qrkt_qiskit.backends import get_profile
from qrkt_qiskit.layers import QuantumLayer


def _pair(device, scale, n, x):
    """The layer's outputs and summed outputs' weight gradients on Aer and on the native noisy engine, exact."""
    torch.manual_seed(n)
    layer = QuantumLayer(n).double()
    results = []
    for simulator in ("aer", "native"):
        layer.to_backend(get_profile(device, noise_scale=scale, shots=None, simulator=simulator))
        layer.weight.grad = None
        out = layer(x)
        out.sum().backward()
        results.append((out.detach(), layer.weight.grad.clone()))
    return results


# lagos: scale 1.5 caps one of a 4-qubit circuit's qubits, 2 and up two; 10 is the largest scale tried.
# nairobi's readout errors stay under 1/2 at 10. (fake-kyiv, 0 to 10, was checked by hand: 16-25 s a scale.)
@pytest.mark.parametrize("device, scale, widths", [("fake-lagos", 2, (1, 4)), ("fake-lagos", 10, (4,)),
                                                   ("fake-nairobi", 10, (4,))])
def test_aer_at_a_capped_readout_error_reads_zero_as_the_native_engine_does(device, scale, widths):
    for n in widths:
        x = torch.rand(3, n, dtype=torch.float64)
        (aer, aer_grad), (native, native_grad) = _pair(device, scale, n, x)
        assert torch.allclose(aer, native, atol=1e-8), (device, scale, n)
        assert torch.allclose(aer_grad, native_grad, atol=1e-8), (device, scale, n)
    if device == "fake-lagos":  # the outputs whose qubits read a coin flip are exactly 0
        assert (aer[:, [1, 3]] == 0).all()
