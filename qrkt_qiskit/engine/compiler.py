"""The engine's front door: `compile_ansatz` turns an `Ansatz` into one `CompiledCircuit`.

A `CompiledCircuit` checks each call's tensors once (`validation`) and hands the flat batch
to one of its simulators, the one `dispatch.choose` picks for the call: the closed form
(`bloch`), the torch sweep or the numba kernel of the statevector (`statevector`), or the
noisy density matrix (`noisy`). ``repr`` shows the choice; ``method=`` forces it.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass
from typing import Protocol

import torch
from qiskit.circuit import Barrier
from qiskit.quantum_info import SparsePauliOp

from ..circuits import Ansatz
from . import dispatch
from .bloch import BlochCircuit
from .clifford import absorb_clifford_tail, is_clifford
from .expressions import DerivedInputs, lower_ansatz
from .lowering import Op, UnsupportedCircuitError, reuploads, split_u
from .noisy import DensityMatrixCircuit, DeviceNoise
from .statevector import BLOCK_QUBITS, MAX_BLOCK_QUBITS, StatevectorCircuit
from .tracing import is_tracing
from .validation import check_call, check_tensors, empty_result

__all__ = ["CompiledCircuit", "Lowered", "Simulator", "compile_ansatz", "lowered"]


def compile_ansatz(ansatz: Ansatz, dtype: torch.dtype = torch.float32, device="cpu", *, method: str = "auto",
                   noise: DeviceNoise | None = None, shots: int | None = None, seed: int | None = None,
                   block_qubits: int = BLOCK_QUBITS) -> CompiledCircuit:
    """Compile ``ansatz`` for the engine.

    Args:
        ansatz: the circuit, its inputs, weights and observables; with ``noise``, the
            device's ISA circuit and the observables laid out onto it.
        dtype: ``torch.float32`` (complex64 state, ~1e-6 accurate) or ``torch.float64``
            (complex128, ~1e-14).
        device: where the program runs (``"cpu"``, ``"cuda"``, a ``torch.device``).
        method: the simulator (`dispatch`): ``"auto"`` (the closed form wherever it
            applies, else the statevector; the density matrix with ``noise``),
            ``"closed-form"``, ``"statevector"`` (the kernel or the sweep, by `dispatch`'s rule),
            ``"sweep"``, ``"kernel"`` or ``"density-matrix"``.
        noise: a device's noise (`DeviceNoise`), simulated as a density matrix; ``None``: none.
        shots: with ``noise``, binomial samples of each measured term instead of exact
            values (gradients stay those of the exact values); ``None``: exact.
        seed: seeds the shot sampler.
        block_qubits: the statevector's weight-only gates are multiplied into blocks of at
            most this many qubits, one GEMM each (0 applies every gate alone; at most
            `statevector.MAX_BLOCK_QUBITS`).

    Returns:
        A `CompiledCircuit`: ``compiled(x, w)`` maps ``x: (..., n_inputs)`` and
        ``w: (n_weights,)`` to expectation values ``(..., n_observables)``.

    Raises:
        TypeError: if ``ansatz`` is not an `Ansatz`.
        ValueError: for a dtype other than float32/float64, an unknown method or one that
            cannot run the circuit, ``block_qubits`` out of range, or ``shots`` without noise.
        UnsupportedCircuitError: for an unsupported gate, a measurement, reset or
            conditional, a statevector too large for the device's memory, or
            ``method="closed-form"`` on a circuit it does not apply to.
    """
    if not isinstance(ansatz, Ansatz):
        raise TypeError(f"compile_ansatz expects an Ansatz (see qrkt_qiskit.make_ansatz), got {type(ansatz).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if method not in dispatch.METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(dispatch.METHODS)}")
    if isinstance(block_qubits, bool) or not isinstance(block_qubits, int) or not 0 <= block_qubits <= MAX_BLOCK_QUBITS:
        raise ValueError(f"block_qubits must be an integer from 0 to {MAX_BLOCK_QUBITS}, got {block_qubits!r}")
    if shots is not None and noise is None and method != "density-matrix":
        raise ValueError("shots= samples a device's measurements, so it needs noise= (DeviceNoise() for ideal gates)")
    return CompiledCircuit(ansatz, dtype, torch.device(device), method, noise, shots, seed, block_qubits)


class Simulator(Protocol):
    """What `CompiledCircuit` runs: exact expectation values of a flat batch, on tensors it has checked."""

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``."""

    def describe(self) -> str:
        """The plan in one line, for ``repr``."""


class CompiledCircuit:
    """An `Ansatz` compiled into a PyTorch program; call it as ``compiled(x, w)``.

    Attributes:
        ansatz: the circuit it was compiled from.
        dtype, device: what its tensors must be.
        method: the ``method`` it was compiled with; `simulator` says which one a call runs.
    """

    def __init__(self, ansatz: Ansatz, dtype: torch.dtype, device: torch.device, method: str,
                 noise: DeviceNoise | None, shots: int | None, seed: int | None, block_qubits: int):
        self.ansatz, self.dtype, self.device, self.method = ansatz, dtype, device, method
        self._derived = None
        if noise is not None or method == "density-matrix":
            self.facts = dispatch.Facts(ansatz.n_qubits, device, closed_form=False, noisy=True)
            dispatch.check_method(method, self.facts)
            self._program = DensityMatrixCircuit(ansatz, noise or DeviceNoise(), shots=shots, seed=seed, dtype=dtype,
                                                 device=device)
            self._simulators: dict[str, Simulator] = {"density-matrix": self._program}
            return
        plan = lowered(ansatz, closed_form=method in ("auto", "closed-form"))
        n_derived = 0 if plan.derived is None else len(plan.derived)  # read as inputs, after the real ones
        shape = {"n_qubits": ansatz.n_qubits, "n_inputs": ansatz.n_inputs + n_derived, "n_weights": ansatz.n_weights}
        self.facts = dispatch.Facts(ansatz.n_qubits, device, closed_form=plan.closed_form is not None, noisy=False,
                                    reuploads=reuploads(plan.ops, shape["n_qubits"], shape["n_inputs"]))
        dispatch.check_method(method, self.facts)
        if method == "closed-form" and plan.closed_form is None:
            plan.refuse_closed_form()
        self._derived = plan.derived
        chosen = dispatch.choose(method, self.facts, False)
        if chosen == "closed-form":
            self._program = BlochCircuit(*plan.closed_form, **shape, dtype=dtype, device=device)
            self._simulators = {"closed-form": self._program}
            return
        self._program = StatevectorCircuit(plan.ops, plan.observables, **shape, dtype=dtype, device=device,
                                           block_qubits=block_qubits, with_kernel=chosen == "kernel")
        self._simulators = {"sweep": self._program.sweep}
        if self._program.has_kernel:
            self._simulators["kernel"] = self._program.kernel

    def simulator(self) -> str:
        """The simulator that runs a call now (`dispatch.choose`; the sweep under tracing where it would be the kernel)."""
        return dispatch.choose(self.method, self.facts, is_tracing())

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(..., n_observables)`` for ``x: (..., n_inputs)``, ``w: (n_weights,)``."""
        check_tensors(x, w, self.dtype, self.device, "the circuit was compiled")
        check_call(x, w, self.ansatz)
        lead = x.shape[:-1]
        if lead.numel() == 0:
            return empty_result(x, w, self.ansatz.n_observables)
        x = x.reshape(lead.numel(), self.ansatz.n_inputs)
        if self._derived is not None:
            x = torch.cat([x, self._derived(x, w)], dim=1)
        return self._simulators[self.simulator()](x, w).reshape(*lead, -1)

    def describe(self) -> str:
        """The simulator choice and the plan, in one line."""
        derived = "" if self._derived is None else f"{self._derived.describe()}; "
        return (f"method={self.method!r} runs {dispatch.describe(self.method, self.facts)}: "
                f"{derived}{self._program.describe()}")

    def __repr__(self) -> str:
        a = self.ansatz
        return (f"CompiledCircuit({a.circuit.name!r}, {a.n_qubits} qubits, {self.dtype} on {self.device}, "
                f"{self.describe()})")


@dataclass(frozen=True)
class Lowered:
    """An ansatz lowered for the exact simulators.

    Attributes:
        derived: the inputs computed from non-linear angle expressions, or ``None``.
        ops, observables: the lowered circuit and its observables (the statevector runs these).
        closed_form: ``(ops, observables)`` once the Clifford tail has moved into the
            observables, where no multi-qubit gate is left; else ``None``.
        entangler: the last multi-qubit gate left, which keeps the closed form out.
    """

    derived: DerivedInputs | None
    ops: list[Op]
    observables: tuple[SparsePauliOp, ...]
    closed_form: tuple[list[Op], list[SparsePauliOp]] | None
    entangler: Op | None

    def refuse_closed_form(self):
        why = "is followed by a non-Clifford gate on its qubits" if is_clifford(self.entangler) else "is not Clifford"
        raise UnsupportedCircuitError(
            f"the closed form needs single-qubit gates followed by Clifford gates only, but gate "
            f"{self.entangler.name!r} on qubits {list(self.entangler.qubits)} {why}")


# Lowerings by circuit structure: a model holds many layers of one ansatz (a 384-qubit ring
# costs ~0.5 s to lower and to move its Clifford tail), and each layer needs only its own program.
_LOWERED: collections.OrderedDict = collections.OrderedDict()
_LOWERED_KEPT = 64


def lowered(ansatz: Ansatz, *, closed_form: bool = True) -> Lowered:
    """``ansatz`` lowered, shared by equal structures; ``closed_form=False`` skips moving the Clifford tail."""
    key = _structure(ansatz, closed_form)
    if key is not None and key in _LOWERED:
        _LOWERED.move_to_end(key)
        return _LOWERED[key]
    ops, derived = lower_ansatz(ansatz)
    ops = split_u(ops)
    observables = tuple(ansatz.observables)
    entangler, reduced = None, None
    if closed_form:
        remaining, conjugated = absorb_clifford_tail(ops, observables, ansatz.n_qubits)
        entangler = next((op for op in reversed(remaining) if len(op.qubits) > 1), None)
        reduced = (remaining, conjugated) if entangler is None else None
    result = Lowered(derived, ops, observables, reduced, entangler)
    if key is not None:
        _LOWERED[key] = result
        if len(_LOWERED) > _LOWERED_KEPT:
            _LOWERED.popitem(last=False)
    return result


def _structure(ansatz: Ansatz, closed_form: bool):
    """A key equal for ansätze that lower alike, or ``None`` when a gate's name may not tell what it does.

    Standard gates on the same wires with the same angles (parameters by name: their order
    gives the slots), the same observables: the same lowering. A custom gate could hide any
    definition behind its name, so such circuits are lowered on their own.
    """
    circuit, standard = ansatz.circuit, _standard_gates()
    rows = []
    for inst in circuit.data:
        op = inst.operation
        if op.name not in standard or type(op) is not type(standard[op.name]):
            return None
        params = tuple(repr(float(p)) if isinstance(p, (int, float)) else str(p) for p in op.params)
        rows.append((op.name, tuple(circuit.find_bit(q).index for q in inst.qubits), params))
    observables = tuple((tuple(o.paulis.to_labels()), tuple(o.coeffs.tolist())) for o in ansatz.observables)
    return (closed_form, ansatz.n_qubits, tuple(p.name for p in ansatz.inputs), tuple(p.name for p in ansatz.weights),
            observables, tuple(rows))


@functools.cache
def _standard_gates() -> dict:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return {**get_standard_gate_name_mapping(), "barrier": Barrier(1)}
