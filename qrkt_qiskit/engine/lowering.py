"""Lower a Qiskit circuit into a flat list of engine operations, or refuse it.

Gates are lowered as ``qiskit.quantum_info.Statevector`` lowers them: a gate whose angles
are all bound becomes its own constant matrix (``to_matrix``); a parameterized gate of
the native set keeps its angles as linear functions of one input or weight; anything
else is replaced by its ``definition``, recursively; what has neither is refused.
Global phases are dropped: they cancel in every expectation value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import ControlFlowOp, Instruction, Parameter, ParameterExpression, QuantumCircuit
from qiskit.circuit.exceptions import CircuitError

from .gates import PARAMETRIC_GATES

__all__ = ["Angle", "Op", "UnsupportedCircuitError", "constant_matrix", "lower", "parse_angle",
           "refuse_non_unitary", "reuploads", "split_product_prefix", "split_u", "with_zero_slot"]

_IGNORED = {"barrier", "delay", "id"}  # identity on the state


class UnsupportedCircuitError(ValueError):
    """The native engine cannot simulate this circuit exactly; the message names why."""


@dataclass(frozen=True)
class Angle:
    """A gate angle ``scale * v[slot] + offset``; ``slot`` is None for a constant.

    Slots number the inputs, then the weights. Every program appends one zero to its values,
    ``v = [x, w, 0]`` (`with_zero_slot`), and a constant angle reads that *zero slot*,
    ``n_inputs + n_weights``, so that all angles are one gather and one affine map. Tables of
    weight-only angles read ``[w, 0]``, every index ``n_inputs`` lower; the zero slot's
    gradient is dropped.
    """

    slot: int | None
    scale: float
    offset: float

    def source(self, zero_slot: int) -> int:
        """The slot this angle reads: its parameter's, or ``zero_slot`` for a constant."""
        return zero_slot if self.slot is None else self.slot


def with_zero_slot(w: torch.Tensor) -> torch.Tensor:
    """``(n,)`` -> ``(n + 1,)``: ``w`` and the zero slot (`Angle`)."""
    return torch.cat([w, w.new_zeros(1)])


@dataclass(frozen=True)
class Op:
    """One engine operation: a parametric gate (``angles``) or a constant ``matrix``."""

    name: str
    qubits: tuple[int, ...]
    angles: tuple[Angle, ...] = ()
    matrix: np.ndarray | None = None

    @property
    def slots(self) -> set[int]:
        return {a.slot for a in self.angles if a.slot is not None}


def lower(circuit: QuantumCircuit, slots: dict[Parameter, int], expressions=None) -> list[Op]:
    """Flatten ``circuit`` into ``Op``s whose angle slots index ``slots``.

    ``expressions``, if given, is called with every angle that is not linear in one parameter
    and returns the slot to read it from (`expressions.lower_ansatz`); without it such an
    angle is refused.

    Raises:
        UnsupportedCircuitError: naming the first instruction that cannot be simulated.
    """
    ops: list[Op] = []
    _lower_into(ops, circuit, tuple(range(circuit.num_qubits)), slots, expressions)
    return ops


def _lower_into(ops: list[Op], circuit: QuantumCircuit, wires: tuple[int, ...], slots, expressions) -> None:
    for inst in circuit.data:
        op = inst.operation
        qubits = tuple(wires[circuit.find_bit(q).index] for q in inst.qubits)
        refuse_non_unitary(op, qubits)
        if op.name in _IGNORED:
            continue
        free = any(isinstance(p, ParameterExpression) and p.parameters for p in op.params)
        matrix = None if free else constant_matrix(op)
        if matrix is not None:
            ops.append(Op(op.name, qubits, matrix=matrix))
        elif op.name in PARAMETRIC_GATES:
            ops.append(Op(op.name, qubits, angles=tuple(parse_angle(p, op, qubits, slots, expressions)
                                                        for p in op.params)))
        elif op.definition is None:
            raise UnsupportedCircuitError(
                f"gate {op.name!r} on qubits {list(qubits)} is not supported: it has no matrix and no definition"
            )
        else:
            _lower_into(ops, op.definition, qubits, slots, expressions)


def refuse_non_unitary(op: Instruction, qubits: tuple[int, ...]) -> None:
    """Refuse, in one sentence, control flow, measurements, resets and classical bits."""
    where = f"on qubits {list(qubits)}"
    if isinstance(op, ControlFlowOp):
        raise UnsupportedCircuitError(
            f"the circuit contains a classically conditioned block ({op.name!r} {where}); "
            "the engine simulates unitary circuits only"
        )
    if op.name == "measure":
        raise UnsupportedCircuitError(
            f"the circuit contains a measurement ({where}); the engine computes expectation values, "
            "so remove it (QuantumCircuit.remove_final_measurements)"
        )
    if op.name == "reset":
        raise UnsupportedCircuitError(
            f"the circuit contains a reset ({where}); the engine simulates unitary circuits only"
        )
    if op.num_clbits:
        raise UnsupportedCircuitError(
            f"instruction {op.name!r} {where} uses classical bits; the engine simulates unitary circuits only"
        )


def constant_matrix(op: Instruction) -> np.ndarray | None:
    """The gate's matrix if all its angles are bound, else ``None``."""
    try:
        return np.asarray(op.to_matrix(), dtype=complex)
    except (CircuitError, AttributeError, TypeError):
        return None


def parse_angle(value, op: Instruction, qubits, slots: dict[Parameter, int], expressions=None) -> Angle:
    """A gate parameter as ``scale * v[slot] + offset``, or a one-sentence refusal naming the gate.

    An angle in several parameters, or not linear in its one, reads the slot ``expressions``
    gives it (see `lower`), or is refused when there is none.
    """
    if isinstance(value, Parameter):
        return Angle(slots[value], 1.0, 0.0)
    if not isinstance(value, ParameterExpression):
        return Angle(None, 0.0, _real(value, op, qubits))
    params = value.parameters
    if not params:
        return Angle(None, 0.0, _real(complex(value), op, qubits))
    where = f"gate {op.name!r} on qubits {list(qubits)}"
    if len(params) > 1:
        if expressions is not None:
            return Angle(expressions(value), 1.0, 0.0)
        names = ", ".join(sorted(p.name for p in params))
        raise UnsupportedCircuitError(
            f"{where} has angle {value} in {len(params)} parameters ({names}); the noisy engine supports angles "
            "linear in one parameter (the exact engine and Aer take any expression), so use simulator='aer'"
        )
    (param,) = params
    slope = value.gradient(param)
    if isinstance(slope, ParameterExpression) and slope.parameters:
        if expressions is not None:
            return Angle(expressions(value), 1.0, 0.0)
        raise UnsupportedCircuitError(
            f"{where} has angle {value}, which is not linear in {param.name}; the noisy engine supports "
            f"angles of the form a*{param.name} + b (the exact engine and Aer take any expression), so use simulator='aer'"
        )
    offset = value.assign(param, 0.0)
    return Angle(slots[param], _real(complex(slope), op, qubits), _real(complex(offset), op, qubits))


def _real(value, op: Instruction, qubits) -> float:
    value = complex(value)
    if abs(value.imag) > 1e-12:
        raise UnsupportedCircuitError(f"gate {op.name!r} on qubits {list(qubits)} has a complex angle {value}")
    return value.real


def split_product_prefix(gates, n: int, qubits_of=lambda gate: gate.qubits) -> tuple[list[list], list]:
    """Per qubit, the single-qubit gates before that qubit's first multi-qubit gate (the product-state
    prefix every simulator starts from); and the rest, in circuit order."""
    prefix: list[list] = [[] for _ in range(n)]
    entangled: set[int] = set()
    rest = []
    for gate in gates:
        qubits = qubits_of(gate)
        if len(qubits) == 1 and qubits[0] not in entangled:
            prefix[qubits[0]].append(gate)
        else:
            entangled.update(qubits)
            rest.append(gate)
    return prefix, rest


def reuploads(ops: list[Op], n: int, n_inputs: int) -> bool:
    """Whether a gate after a multi-qubit gate on its qubits reads an input (slots below ``n_inputs``):
    a per-sample gate on an entangled state, which `dispatch` routes to the kernel."""
    return any(s < n_inputs for op in split_product_prefix(ops, n)[1] for s in op.slots)


def split_u(ops: list[Op]) -> list[Op]:
    """``u(θ, φ, λ)`` as ``rz(λ) ry(θ) rz(φ)`` (equal up to a global phase, which no expectation sees), so the
    exact simulators know rotations about one axis only."""
    out = []
    for op in ops:
        if op.name == "u" and op.matrix is None:
            theta, phi, lam = op.angles
            out += [Op("rz", op.qubits, (lam,)), Op("ry", op.qubits, (theta,)), Op("rz", op.qubits, (phi,))]
        else:
            out.append(op)
    return out
