"""Angles that are any expression of inputs and weights (Qiskit's feature maps, re-uploading).

Each is checked against Qiskit's `Statevector` on bound circuits, by `gradcheck` and
`gradgradcheck`, on both strategies where both apply.
"""

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import pauli_feature_map, real_amplitudes, zz_feature_map
from qiskit.quantum_info import Statevector

from qrkt_qiskit import Ansatz, QuantumLayer, UnsupportedCircuitError, compile_ansatz
from qrkt_qiskit.backends import noisy_program
from qrkt_qiskit.backends.profiles import get_profile


def _reference(ansatz: Ansatz, x: torch.Tensor, w: torch.Tensor) -> np.ndarray:
    rows = []
    for sample in x.tolist():
        bound = ansatz.circuit.assign_parameters(dict(zip(ansatz.inputs + ansatz.weights, [*sample, *w.tolist()])))
        state = Statevector(bound)
        rows.append([state.expectation_value(o).real for o in ansatz.observables])
    return np.array(rows)


def _feature_map_model(feature_map) -> Ansatz:
    head = real_amplitudes(feature_map.num_qubits, reps=1)
    return Ansatz(feature_map.compose(head), tuple(feature_map.parameters), tuple(head.parameters))


def _reuploading(n: int = 3) -> Ansatz:
    """Trainable input scales (``w·x``), a weight product and a sine of an input: the closed form applies."""
    x, s, w = ParameterVector("x", n), ParameterVector("s", n), ParameterVector("w", 2)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.rx(s[q] * x[q], q)
        qc.rz(w[0] * w[1] + x[q].sin(), q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return Ansatz(qc, tuple(x), (*s, *w))


ANSATZE = {
    "zz_feature_map": lambda: _feature_map_model(zz_feature_map(3, reps=2)),
    "pauli_feature_map": lambda: _feature_map_model(pauli_feature_map(3, reps=1, paulis=["Z", "XY", "ZZ"])),
    "reuploading": _reuploading,
}


@pytest.mark.parametrize("name", ANSATZE)
@pytest.mark.parametrize("strategy", ["auto", "statevector"])
def test_expressions_match_statevector(name, strategy):
    ansatz = ANSATZE[name]()
    torch.manual_seed(0)
    x, w = torch.rand(5, ansatz.n_inputs, dtype=torch.float64) * 3, torch.rand(ansatz.n_weights, dtype=torch.float64) * 3
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        out = compile_ansatz(ansatz, dtype, method=strategy)(x.to(dtype), w.to(dtype))
        np.testing.assert_allclose(out.double().numpy(), _reference(ansatz, x, w), atol=tol)


def test_re_uploading_takes_the_closed_form_and_says_what_torch_computes():
    prog = compile_ansatz(_reuploading())
    assert prog.simulator() == "closed-form"
    assert "6 angle expression(s) computed by torch" in repr(prog)  # s_q·x_q and w0·w1 + sin(x_q) per qubit


@pytest.mark.parametrize("name", ANSATZE)
@pytest.mark.parametrize("strategy", ["auto", "statevector"])
def test_expressions_are_twice_differentiable(name, strategy):
    ansatz = ANSATZE[name]()
    prog = compile_ansatz(ansatz, torch.float64, method=strategy)
    torch.manual_seed(1)
    x = torch.rand(3, ansatz.n_inputs, dtype=torch.float64, requires_grad=True)
    w = torch.rand(ansatz.n_weights, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(prog, (x, w))
    assert torch.autograd.gradgradcheck(prog, (x, w))


def test_a_layer_with_qiskits_zz_feature_map_trains():
    layer = QuantumLayer(3, ansatz=ANSATZE["zz_feature_map"]())
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    x, target = torch.rand(16, 3), torch.full((16, 3), 0.5)
    losses = []
    for _ in range(20):
        loss = (layer(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_the_noisy_engine_refuses_expressions_and_auto_falls_back_to_aer():
    ansatz = ANSATZE["zz_feature_map"]()
    with pytest.raises(UnsupportedCircuitError, match=r"has angle .* in 2 parameters \(x\[0\], x\[1\]\); the noisy engine "
                       r"supports angles linear in one parameter \(the exact engine and Aer take any expression\), so "
                       r"use simulator='aer'"):
        noisy_program(get_profile("fake-manila"), ansatz)
    layer = QuantumLayer(3, ansatz=ansatz, backend="fake-manila")
    assert layer.simulator == "aer"


def test_an_angle_that_is_a_single_parameter_expression_stays_affine():
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1)
    qc.rx(2 * x + 0.5, 0)
    qc.rz(w, 0)
    assert "computed by torch" not in repr(compile_ansatz(Ansatz(qc, [x], [w])))
