"""The numba kernel (`engine.fused`, ``method="kernel"``) against the torch sweep (``method="sweep"``) and Qiskit's
`Statevector`, at 1-14 qubits, in float32 and float64, on one thread and two, in one tile and several; and the
dispatch between the two (`engine.dispatch`)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import SparsePauliOp, random_unitary

from qrkt_qiskit import ANSATZ_NAMES, Ansatz, compile_ansatz, make_ansatz
from qrkt_qiskit.engine import dispatch
from qrkt_qiskit.engine.fused import MIN_TILE, PARALLEL_AMPLITUDES
from qrkt_qiskit.engine.fused_kernels import DENSE, MONOMIAL, monomial_swaps

from ..conftest import reference
from ..strategies import random_ansatze


def samples(ansatz, batch=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    w = (torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) - 0.5) * 2 * np.pi
    return x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()


def node(out: torch.Tensor) -> str:
    """The autograd node that computed ``out`` (under the compiled circuit's reshape)."""
    return out.grad_fn.next_functions[0][0].name()


def outputs_and_grads(prog, x, w):
    """Outputs and the gradients of ``Σ out²`` (float64 copies), and the autograd node that ran."""
    out = prog(x, w)
    gx, gw = torch.autograd.grad(out.square().sum(), (x, w), allow_unused=True, materialize_grads=True)
    return [t.detach().double() for t in (out, gx, gw)], node(out)


def both_paths(ansatz, dtype=torch.float64, batch=5):
    """`outputs_and_grads` by the kernel and by the torch sweep, on the same samples."""
    x, w = samples(ansatz, batch, dtype=dtype)
    kernel, kernel_node = outputs_and_grads(compile_ansatz(ansatz, dtype, method="kernel"), x, w)
    sweep, sweep_node = outputs_and_grads(compile_ansatz(ansatz, dtype, method="sweep"), x, w)
    assert (kernel_node, sweep_node) == ("_FusedBackward", "_StatevectorBackward")
    return kernel, sweep


def assert_close(results, expected, ansatz, dtype):
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    scale = max(1.0, sum(np.abs(o.coeffs).sum() for o in ansatz.observables)) ** 2
    for a, b in zip(results, expected):
        if b.numel():
            assert (a - b).abs().max().item() <= tol * scale * max(1.0, b.abs().max().item())


def assert_agree(ansatz, dtype=torch.float64, batch=5):
    assert_close(*both_paths(ansatz, dtype, batch), ansatz, dtype)


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


def reuploading(n: int, layers: int, seed: int) -> Ansatz:
    """Inputs read again after every entangler, in random single-qubit rotations, linear angle expressions too."""
    rng = np.random.default_rng(seed)
    x, w = ParameterVector("x", n), ParameterVector("w", 2 * n * layers)
    qc = QuantumCircuit(n)
    for layer in range(layers):
        for j in range(n):
            getattr(qc, rng.choice(["rx", "ry", "rz"]))(rng.uniform(0.5, 2) * x[j] + rng.uniform(-1, 1), j)
            qc.ry(w[2 * (layer * n + j)], j)
            getattr(qc, rng.choice(["rz", "rx"]))(w[2 * (layer * n + j) + 1], j)
        for j in range(n - 1):
            getattr(qc, rng.choice(["cx", "cz"]))(j, j + 1)
    return Ansatz(qc, x, w)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ANSATZ_NAMES)
@pytest.mark.parametrize("n", [1, 2, 3, 6, 9])
def test_kernel_and_torch_sweep_agree_on_the_shipped_ansatze(name, n, dtype):
    for layers in (1, 3):
        assert_agree(make_ansatz(name, n, layers), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ANSATZ_NAMES)
def test_kernel_agrees_at_14_qubits(name, dtype):
    assert_agree(make_ansatz(name, 14, 2), dtype, batch=3)


@settings(max_examples=40, deadline=None)
@given(random_ansatze())
def test_kernel_and_torch_sweep_agree_on_random_circuits(ansatz):
    assert_agree(ansatz)


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 14), st.integers(1, 3), st.integers(0, 2**16), st.sampled_from([torch.float32, torch.float64]))
def test_reuploading_circuits_match_statevector_and_the_sweep(n, layers, seed, dtype):
    """Per-sample gates after entanglers, 1-14 qubits: the kernel against the sweep, and its values against Qiskit."""
    ansatz = reuploading(n, layers, seed)
    kernel, sweep = both_paths(ansatz, dtype, batch=2)
    assert_close(kernel, sweep, ansatz, dtype)
    x, w = samples(ansatz, 2)
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    assert np.abs(kernel[0].numpy() - reference(ansatz, x.detach().numpy(), w.detach().numpy())).max() < tol * n


def test_every_gate_kind_matches_statevector_and_the_sweep():
    ansatz = mixed_circuit()
    assert_agree(ansatz)
    x, w = samples(ansatz)
    prog = compile_ansatz(ansatz, torch.float64, method="kernel")
    out = prog(x, w)
    assert np.abs(out.detach().numpy() - reference(ansatz, x.detach().numpy(), w.detach().numpy())).max() < 1e-10
    assert torch.autograd.gradcheck(prog, samples(ansatz, batch=2))


@pytest.mark.parametrize("threads, n, batch", [(1, 10, 65), (2, 10, 65), (1, 14, MIN_TILE + 3)])
def test_threads_and_tiles_give_the_same_numbers(threads, n, batch):
    """Two threads split a batch of more than `PARALLEL_AMPLITUDES` into two tiles, the last one short; at
    14 qubits a tile holds `MIN_TILE` samples, so one thread runs two tiles too: against the sweep, and at
    10 qubits against one sample at a time."""
    assert batch * 2**n >= PARALLEL_AMPLITUDES
    torch.set_num_threads(threads)  # restored by conftest
    ansatz = reuploading(n, 2, seed=n)
    assert_agree(ansatz, torch.float64, batch)
    if n > 10:
        return
    x, w = samples(ansatz, batch)
    prog = compile_ansatz(ansatz, torch.float64, method="kernel")
    (out, gx, _), _ = outputs_and_grads(prog, x, w)
    for b in (0, batch // 2, batch // 2 + 1, batch - 1):  # either side of the tiles' seam, and the ends
        (row, row_gx, _), _ = outputs_and_grads(prog, x[b:b + 1].detach().clone().requires_grad_(), w)
        assert (out[b] - row[0]).abs().max() < 1e-12 and (gx[b] - row_gx[0]).abs().max() < 1e-12


def test_double_backward_goes_through_the_torch_sweep():
    """A WGAN-GP critic differentiates the gradient: the kernel's node hands that to the sweep, recorded."""
    ansatz = mixed_circuit()
    prog = compile_ansatz(ansatz, torch.float64, method="kernel")
    assert torch.autograd.gradgradcheck(prog, samples(ansatz, batch=2), eps=1e-6, atol=1e-6)


def test_torch_func_runs_the_torch_sweep():
    """The ``torch.func`` transforms cannot see inside a numba call: under them the kernel steps aside."""
    ansatz = make_ansatz("qrkt", 3, 2)
    prog = compile_ansatz(ansatz, torch.float64, method="kernel")
    x, w = samples(ansatz, batch=3)
    jac = torch.func.vmap(torch.func.jacrev(lambda xi: prog(xi, w.detach())))(x.detach())
    assert jac.shape == (3, ansatz.n_observables, ansatz.n_inputs)
    xi = x[0].detach().requires_grad_()
    (gx,) = torch.autograd.grad(prog(xi, w.detach())[1], xi)
    torch.testing.assert_close(jac[0, 1], gx, atol=1e-10, rtol=0)


def test_weight_only_circuits_above_the_kernels_width_run_the_torch_sweep():
    """Inputs read before the entanglers only: the kernel up to `dispatch.KERNEL_MAX_QUBITS`, the sweep's GEMMs above."""
    narrow = compile_ansatz(make_ansatz("qrkt", dispatch.KERNEL_MAX_QUBITS, 2), torch.float32, method="statevector")
    wide = compile_ansatz(make_ansatz("qrkt", dispatch.KERNEL_MAX_QUBITS + 1, 2), torch.float32)
    assert not narrow.facts.reuploads and not wide.facts.reuploads
    assert (narrow.simulator(), wide.simulator()) == ("kernel", "sweep")
    assert "method='statevector' runs kernel, sweep when traced:" in repr(narrow)
    assert "method='auto' runs sweep:" in repr(wide)
    x, w = samples(make_ansatz("qrkt", 4, 2), batch=3)
    assert node(compile_ansatz(make_ansatz("qrkt", 4, 2), torch.float64)(x, w)) == "_FusedBackward"


def test_reuploading_circuits_run_the_kernel_at_every_width():
    wide = compile_ansatz(reuploading(dispatch.KERNEL_MAX_QUBITS + 2, 2, seed=0), torch.float32)
    assert wide.facts.reuploads and wide.simulator() == "kernel"
    assert "method='auto' runs kernel, sweep when traced:" in repr(wide)


def test_the_method_forces_a_simulator_and_repr_shows_the_choice():
    ansatz = make_ansatz("qrkt", 4, 2)
    x, w = samples(ansatz, batch=3)
    assert node(compile_ansatz(ansatz, torch.float64, method="sweep")(x, w)) == "_StatevectorBackward"
    assert "method='sweep' runs sweep:" in repr(compile_ansatz(ansatz, torch.float64, method="sweep"))
    wide = compile_ansatz(make_ansatz("qrkt", dispatch.KERNEL_MAX_QUBITS + 1, 2), torch.float32, method="kernel")
    assert wide.simulator() == "kernel" and "method='kernel' runs kernel, sweep when traced:" in repr(wide)


def test_the_kernel_is_refused_off_the_cpu():
    with pytest.raises(ValueError, match=r"^method 'kernel' runs on the CPU, but this circuit is compiled for cuda; "
                                         r"use method='sweep'$"):
        compile_ansatz(make_ansatz("qrkt", 3, 2), device="cuda", method="kernel")


@pytest.mark.parametrize("gate, qubits, kind", [("x", [0], DENSE), ("h", [0], DENSE), ("cx", [0, 1], MONOMIAL),
                                                ("cz", [0, 1], MONOMIAL), ("swap", [0, 1], MONOMIAL)])
def test_permutation_and_phase_gates_are_applied_as_such(gate, qubits, kind):
    """Multi-qubit permutation-and-phase gates as row swaps; a one-qubit gate joins its qubit's run of 2×2s."""
    qc = QuantumCircuit(2)
    getattr(qc, gate)(*qubits)
    kernel = compile_ansatz(Ansatz(qc, [], [], observables=[SparsePauliOp("ZZ")]), torch.float64,
                            method="kernel")._program._kernel
    assert list(kernel.kind) == [kind]


@pytest.mark.parametrize("columns", [[0, 3, 2, 1], [0, 1, 3, 2], [1, 0, 3, 2], [2, 0, 1, 3], [0, 1, 2, 3]])
def test_a_permutation_is_the_row_swaps_the_kernel_applies(columns):
    """`monomial_swaps`: the swaps, applied in order, take ``old`` to ``old[columns]``."""
    rows = list("abcd")
    count, *pairs = monomial_swaps(np.array(columns))
    for a, b in zip(pairs[0::2], pairs[1::2]):
        rows[a], rows[b] = rows[b], rows[a]
    assert count == len(pairs) // 2 and rows == [list("abcd")[c] for c in columns]
