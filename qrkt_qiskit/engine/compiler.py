"""Compile an `Ansatz` into a batched, exact, differentiable PyTorch program.

`compile` lowers the circuit, chooses a strategy once, and wraps the strategy's `Program`
in a `CompiledCircuit`, which checks every call's tensors and shapes:

* *closed form* (`bloch.BlochCircuit`): single-qubit gates followed by a Clifford tail,
  which moves into the observables (`clifford`); exact at any width.
* *statevector* (`statevector.StatevectorCircuit`): any circuit, width limited by memory.
"""

from __future__ import annotations

import collections
import functools
from typing import Protocol

import numpy as np
import torch
from qiskit.circuit import Barrier

from ..circuits import Ansatz
from .bloch import BlochCircuit
from .clifford import absorb_clifford_tail, is_clifford
from .expressions import lower_ansatz
from .lowering import Op, UnsupportedCircuitError
from .statevector import StatevectorCircuit
from .tracing import is_tracing

__all__ = ["CompiledCircuit", "Program", "compile"]

STRATEGIES = ("auto", "closed-form", "statevector")


def compile(ansatz: Ansatz, dtype: torch.dtype = torch.float32, device="cpu", *, strategy: str = "auto",
            fuse: bool | None = None, kernel: bool = True):
    """Compile ``ansatz`` for the engine.

    Args:
        ansatz: the circuit, its inputs, weights and observables.
        dtype: ``torch.float32`` (complex64 state, ~1e-6 accurate) or ``torch.float64``
            (complex128, ~1e-14).
        device: where the program runs (``"cpu"``, ``"cuda"``, a ``torch.device``).
        strategy: ``"closed-form"`` (single-qubit gates then a Clifford tail: exact at any
            width, see `clifford`), ``"statevector"`` (any circuit, width limited by
            memory), or ``"auto"``: the closed form wherever it applies.
        fuse: how the statevector path fuses weight-only runs: ``None`` in blocks of at most
            ``statevector.BLOCK_QUBITS`` qubits, ``True`` up to ``statevector.FUSE_MAX_QUBITS``,
            ``False`` not at all (for tests and benchmarks).
        kernel: whether the statevector path runs its compiled CPU kernel (`fused`) where it
            can; ``False``: the torch sweep everywhere (for tests and benchmarks).

    Returns:
        A `CompiledCircuit`: ``compiled(x, w)`` maps ``x: (..., n_inputs)`` and
        ``w: (n_weights,)`` to exact expectation values ``(..., n_observables)``.

    Raises:
        TypeError: if ``ansatz`` is not an `Ansatz`.
        ValueError: for a dtype other than float32/float64 or an unknown strategy.
        UnsupportedCircuitError: for an unsupported gate, a measurement,
            reset or conditional, a statevector too large for the device's memory, or
            ``strategy="closed-form"`` on a circuit it does not apply to.
    """
    if not isinstance(ansatz, Ansatz):
        raise TypeError(f"compile expects an Ansatz (see qrkt_qiskit.make_ansatz), got {type(ansatz).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    return CompiledCircuit(ansatz, dtype, torch.device(device), strategy, fuse, kernel)


class Program(Protocol):
    """What a strategy builds: exact expectation values of a flat batch, on trusted tensors.

    `bloch.BlochCircuit` and `statevector.StatevectorCircuit` are the two; `CompiledCircuit`
    checks the tensors and flattens the batch before it calls one.
    """

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``."""

    def describe(self) -> str:
        """The plan in one line, for ``repr``."""


class CompiledCircuit:
    """An `Ansatz` compiled into a PyTorch program; call it as ``compiled(x, w)``.

    Attributes:
        ansatz: the circuit it was compiled from.
        dtype, device: what its tensors must be.
        strategy: ``"closed-form"`` or ``"statevector"``, the one `compile` chose.
    """

    def __init__(self, ansatz: Ansatz, dtype: torch.dtype, device: torch.device, strategy: str,
                 fuse: bool | None, kernel: bool = True):
        self.ansatz, self.dtype, self.device = ansatz, dtype, device
        n = ansatz.n_qubits
        self._derived, self.strategy, ops, observables = _plan(ansatz, strategy)
        n_derived = 0 if self._derived is None else len(self._derived)  # read as inputs, after the real ones
        shape = {"n_qubits": n, "n_inputs": ansatz.n_inputs + n_derived, "n_weights": ansatz.n_weights}
        self._program: Program = (
            BlochCircuit(ops, observables, **shape, dtype=dtype, device=device) if self.strategy == "closed-form"
            else StatevectorCircuit(ops, observables, **shape, dtype=dtype, device=device, fuse=fuse, kernel=kernel))

    def __call__(self, x: torch.Tensor, w: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """Expectation values ``(..., n_observables)`` for ``x: (..., n_inputs)``, ``w: (n_weights,)``.

        ``validate=False`` skips the shape and finiteness checks (one device sync) for
        callers that made them already; dtype and device are always checked.
        """
        check_tensors(x, w, self.dtype, self.device, "the circuit was compiled")
        if validate:
            check_inputs(x, self.ansatz)
            check_weights(w, self.ansatz)
        lead = x.shape[:-1]
        if lead.numel() == 0:
            return empty_result(x, w, self.ansatz.n_observables)
        x = x.reshape(lead.numel(), self.ansatz.n_inputs)
        if self._derived is not None:
            x = torch.cat([x, self._derived(x, w)], dim=1)
        return self._program(x, w).reshape(*lead, -1)

    def __repr__(self) -> str:
        a = self.ansatz
        derived = "" if self._derived is None else f"{self._derived.describe()}; "
        return (f"CompiledCircuit({a.circuit.name!r}, {a.n_qubits} qubits, {self.dtype} on {self.device}, "
                f"strategy={self.strategy!r}: {derived}{self._program.describe()})")


def empty_result(x: torch.Tensor, w: torch.Tensor, n_observables: int) -> torch.Tensor:
    """The result for inputs with no sample, ``(..., 0-sized, ..., n_observables)``: nothing runs, gradients are zero."""
    return x.new_zeros(*x.shape[:-1], n_observables) + 0 * (x.sum() + w.sum())


def check_tensors(x, w, dtype: torch.dtype, device: torch.device, program: str) -> None:
    """Raise a one-sentence error unless ``x`` and ``w`` are tensors of ``dtype`` on ``device``.

    ``program`` names what was built for them ("the circuit was compiled", …).
    """
    for name, t in (("inputs", x), ("weights", w)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype != dtype:
            raise TypeError(f"{name} have dtype {t.dtype} but {program} for {dtype}")
        if t.device.type != device.type or (device.index is not None and t.device != device):
            raise ValueError(f"{name} are on {t.device} but {program} for {device}")


class NonFiniteAngleError(ValueError):
    """A circuit was given NaN or infinite inputs or weights (in training: the model diverged upstream)."""


def all_finite(t: torch.Tensor) -> bool:
    """Whether no entry of ``t`` is NaN or infinite.

    On the CPU numpy answers in ~3 µs where torch's ops cost ~35 µs (dispatch, at the small
    sizes of a circuit call); elsewhere, the minimum and maximum (which propagate NaN) in one
    pass, without the full boolean mask of ``isfinite(t).all()``, which costs ~10x more.
    """
    if t.numel() == 0:
        return True
    if t.device.type == "cpu":
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(torch.stack(torch.aminmax(t))).all())


def check_inputs(x: torch.Tensor, ansatz: Ansatz) -> None:
    """Raise a one-sentence error unless ``x`` is a finite ``(..., n_inputs)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != ansatz.n_inputs:
        raise ValueError(f"inputs must have shape (..., {ansatz.n_inputs}) for this {ansatz.n_qubits}-qubit "
                         f"circuit, got {tuple(x.shape)}")
    if not is_tracing() and not all_finite(x):
        raise NonFiniteAngleError("inputs contain NaN or infinite values; every angle must be finite")


def check_weights(w: torch.Tensor, ansatz: Ansatz) -> None:
    """Raise a one-sentence error unless ``w`` is a finite ``(n_weights,)`` tensor."""
    if w.shape != (ansatz.n_weights,):
        raise ValueError(f"weights must have shape ({ansatz.n_weights},), got {tuple(w.shape)}")
    if not is_tracing() and not all_finite(w):
        raise NonFiniteAngleError("weights contain NaN or infinite values; every angle must be finite")


# Plans by circuit structure: a model holds many layers of one ansatz (a 384-qubit ring costs
# ~0.5 s to lower and to move its Clifford tail), and each layer needs only its own program.
_PLANS: collections.OrderedDict = collections.OrderedDict()
_PLANS_KEPT = 64


def _plan(ansatz: Ansatz, strategy: str):
    """The derived inputs, strategy, operations and observables of ``ansatz``, shared by equal structures."""
    key = _structure(ansatz, strategy)
    if key is not None and key in _PLANS:
        _PLANS.move_to_end(key)
        return _PLANS[key]
    ops, derived = lower_ansatz(ansatz)
    plan = (derived, *_plan_strategy(strategy, ops, ansatz.observables, ansatz.n_qubits))
    if key is not None:
        _PLANS[key] = plan
        if len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)
    return plan


def _structure(ansatz: Ansatz, strategy: str):
    """A key equal for ansätze that plan alike, or ``None`` when a gate's name may not tell what it does.

    Standard gates on the same wires with the same angles (parameters by name: their order
    gives the slots), the same observables: the same plan. A custom gate could hide any
    definition behind its name, so such circuits are planned on their own.
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
    return (strategy, ansatz.n_qubits, tuple(p.name for p in ansatz.inputs), tuple(p.name for p in ansatz.weights),
            observables, tuple(rows))


@functools.cache
def _standard_gates() -> dict:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return {**get_standard_gate_name_mapping(), "barrier": Barrier(1)}


def _plan_strategy(strategy: str, ops: list[Op], observables, n: int):
    """The strategy, and the operations and observables it runs on.

    The closed form applies when no multi-qubit gate is left once the Clifford tail has
    moved into the observables.
    """
    if strategy == "statevector":
        return strategy, ops, observables
    remaining, conjugated = absorb_clifford_tail(ops, observables, n)
    entangler = next((op for op in reversed(remaining) if len(op.qubits) > 1), None)
    if entangler is None:
        return "closed-form", remaining, conjugated
    if strategy == "closed-form":
        why = "is followed by a non-Clifford gate on its qubits" if is_clifford(entangler) else "is not Clifford"
        raise UnsupportedCircuitError(
            f"the closed form needs single-qubit gates followed by Clifford gates only, but gate "
            f"{entangler.name!r} on qubits {list(entangler.qubits)} {why}"
        )
    return "statevector", ops, observables
