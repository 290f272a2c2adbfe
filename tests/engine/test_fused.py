"""The numba kernel (`engine.fused`, ``method="kernel"``) against the torch sweep it replaces on small calls, and the dispatch."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import SparsePauliOp, random_unitary

from qrkt_qiskit import ANSATZ_NAMES, Ansatz, compile_ansatz, make_ansatz
from qrkt_qiskit.engine import dispatch, fused

from ..conftest import reference
from ..strategies import random_ansatze


def samples(ansatz, batch=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    w = (torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    return x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()


def both_paths(ansatz, dtype=torch.float64, batch=5, tile=None):
    """Outputs and the gradients of ``Σ out²`` by the kernel and by the torch sweep, on the same samples."""
    kernel, sweep = (compile_ansatz(ansatz, dtype, method=method) for method in ("kernel", "sweep"))
    if tile is not None:
        kernel._program._kernel.tile = tile
    x, w = samples(ansatz, batch, dtype=dtype)
    results = []
    for prog in (kernel, sweep):
        out = prog(x, w)
        gx, gw = torch.autograd.grad(out.square().sum(), (x, w), allow_unused=True, materialize_grads=True)
        results.append([t.detach().double() for t in (out, gx, gw)])
    return results


def assert_agree(ansatz, dtype=torch.float64, **kw):
    (out, gx, gw), (ref_out, ref_gx, ref_gw) = both_paths(ansatz, dtype, **kw)
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    scale = max(1.0, sum(np.abs(o.coeffs).sum() for o in ansatz.observables)) ** 2
    for a, b in ((out, ref_out), (gx, ref_gx), (gw, ref_gw)):
        if b.numel():
            assert (a - b).abs().max().item() <= tol * scale * max(1.0, b.abs().max().item())


def mixed_circuit() -> Ansatz:
    """Every kind of gate the kernel treats apart: per-sample and shared rotations, a constant angle, two-qubit
    parametric gates, monomials on 1-3 qubits (X, CX, CZ, SWAP, CCX) and a dense 3-qubit unitary; X/Y terms read out."""
    x, w = ParameterVector("x", 3), ParameterVector("w", 6)
    qc = QuantumCircuit(4)
    qc.rx(x[0], 0)
    qc.u(w[0], 0.3, x[1], 1)
    qc.h(2)
    qc.x(3)
    qc.cx(0, 1)
    qc.crx(w[1], 1, 2)
    qc.rzz(2 * x[2] + 0.1, 2, 3)
    qc.swap(0, 3)
    qc.ccx(0, 1, 2)
    qc.append(UnitaryGate(random_unitary(8, seed=3)), [3, 0, 2])
    qc.cz(1, 3)
    qc.cp(w[2], 0, 2)
    qc.ryy(w[3], 1, 0)
    qc.ry(w[4], 3)
    qc.p(-w[5], 1)
    observables = [SparsePauliOp(["ZIIZ", "XYIZ"], [0.5, -1.5]), SparsePauliOp("IXIY"), SparsePauliOp("IIZI")]
    return Ansatz(qc, x, w, observables=observables)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ANSATZ_NAMES)
@pytest.mark.parametrize("n", [1, 2, 3, 6, 8])
def test_kernel_and_torch_sweep_agree_on_the_shipped_ansatze(name, n, dtype):
    for layers in (1, 2, 3):
        assert_agree(make_ansatz(name, n, layers), dtype)


@settings(max_examples=40, deadline=None)
@given(random_ansatze())
def test_kernel_and_torch_sweep_agree_on_random_circuits(ansatz):
    assert_agree(ansatz)


def test_every_gate_kind_matches_statevector_and_the_sweep():
    ansatz = mixed_circuit()
    assert_agree(ansatz)
    x, w = samples(ansatz)
    out = compile_ansatz(ansatz, torch.float64)(x, w)
    assert np.abs(out.detach().numpy() - reference(ansatz, x.detach().numpy(), w.detach().numpy())).max() < 1e-10
    assert torch.autograd.gradcheck(compile_ansatz(ansatz, torch.float64), samples(ansatz, batch=2))


def test_a_batch_split_into_tiles_gives_the_same_numbers():
    """Tiles of 2 samples, the last one short, against one tile for the whole batch."""
    ansatz = mixed_circuit()
    (out, gx, gw), _ = both_paths(ansatz, batch=7, tile=2)
    (ref_out, ref_gx, ref_gw), _ = both_paths(ansatz, batch=7)
    for a, b in ((out, ref_out), (gx, ref_gx), (gw, ref_gw)):
        assert (a - b).abs().max().item() < 1e-12


def test_double_backward_goes_through_the_torch_sweep():
    """A WGAN-GP critic differentiates the gradient: the kernel's node hands that to the sweep, recorded."""
    ansatz = mixed_circuit()
    prog = compile_ansatz(ansatz, torch.float64)
    assert torch.autograd.gradgradcheck(prog, samples(ansatz, batch=2), eps=1e-6, atol=1e-6)


def node(out: torch.Tensor) -> str:
    """The autograd node that computed ``out`` (under the compiled circuit's reshape)."""
    return out.grad_fn.next_functions[0][0].name()


def test_calls_above_the_kernels_size_run_the_torch_sweep():
    """The dispatch is by size only: the same call gives the same numbers on either side of the threshold."""
    ansatz = make_ansatz("qrkt", 4, 2)
    prog = compile_ansatz(ansatz, torch.float64, method="statevector")
    x, w = samples(ansatz, batch=8)
    large_batch = dispatch.KERNEL_MAX_AMPLITUDES // 2**4 + 1
    assert (prog.simulator(8), prog.simulator(large_batch)) == ("kernel", "sweep")
    small = prog(x, w)
    assert node(small) == "_FusedBackward"
    large = prog(x.repeat(large_batch // 8 + 1, 1), w)
    assert node(large) == "_StatevectorBackward"
    torch.testing.assert_close(small, large[:8], atol=1e-12, rtol=0)


def test_the_method_forces_a_simulator_and_repr_shows_the_choice():
    ansatz = make_ansatz("qrkt", 4, 2)
    x, w = samples(ansatz, batch=3)
    assert node(compile_ansatz(ansatz, torch.float64, method="sweep")(x, w)) == "_StatevectorBackward"
    forced = compile_ansatz(ansatz, torch.float64, method="kernel")
    assert forced.simulator(1 << 20) == "kernel" and "method='kernel' runs kernel:" in repr(forced)
    assert "kernel up to 131072 amplitudes (batch · 2^n), sweep above" in repr(compile_ansatz(ansatz, torch.float64))


def test_wide_circuits_and_gpus_get_no_kernel():
    wide = compile_ansatz(make_ansatz("qrkt", dispatch.KERNEL_MAX_QUBITS + 1, 2), torch.float32, method="statevector")
    assert wide.simulator(1) == "sweep" and "method='statevector' runs sweep:" in repr(wide)
    with pytest.raises(ValueError, match=r"^method 'kernel' runs on the CPU at up to 8 qubits, but this 9-qubit circuit "
                                         r"is compiled for cpu; use method='sweep'$"):
        compile_ansatz(make_ansatz("qrkt", dispatch.KERNEL_MAX_QUBITS + 1, 2), method="kernel")


@pytest.mark.parametrize("gate, qubits, monomial", [("x", [0], True), ("cx", [0, 1], True), ("cz", [0, 1], True),
                                                    ("swap", [0, 1], True), ("h", [0], False), ("sx", [0], False)])
def test_permutation_and_phase_gates_are_applied_as_such(gate, qubits, monomial):
    qc = QuantumCircuit(2)
    getattr(qc, gate)(*qubits)
    kernel = compile_ansatz(Ansatz(qc, [], [], observables=[SparsePauliOp("ZZ")]), torch.float64,
                            method="kernel")._program._kernel
    assert list(kernel.kind) == [fused._MONOMIAL if monomial else fused._DENSE]
