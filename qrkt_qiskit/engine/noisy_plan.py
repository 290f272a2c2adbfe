"""The noisy engine's compile time: an ISA circuit and its noise, lowered and planned into a `NoisyPlan`.

`NoisyBuilder` lowers every instruction to a Pauli transfer matrix (the gate, then the
channel Aer applies after it) or a parametric gate with its error's PTM, and plans where
each runs (docs/noise.md): each qubit's product prefix, the Schrödinger steps up to the last
input read, the Heisenberg steps after it. The plan is data (the dataclasses below); `noisy`
runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import ParameterExpression
from qiskit.quantum_info import SparsePauliOp

from ..circuits import Ansatz
from .gates import PARAMETRIC_GATES
from .lowering import Angle, UnsupportedCircuitError, constant_matrix, parse_angle, refuse_non_unitary, split_product_prefix
from .noise import DeviceNoise, readout_observables
from .ptm import DIGIT, gate_ptm, pauli_label, superop_ptm
from .state_ops import kron_matrices

__all__ = ["MAX_ACTIVE_QUBITS", "ConstFactor", "EachFactor", "Group", "GroupFactor", "Instr", "MeasuredTerms",
           "NoisyBuilder", "NoisyPlan", "PrefixColumn", "Step", "step_matrix"]

# A density matrix over k qubits is 4^k numbers per sample: 1 M at k = 10.
MAX_ACTIVE_QUBITS = 10


@dataclass
class Instr:
    """One ISA instruction on active qubits: a constant PTM, or a parametric gate and its error's PTM."""

    name: str
    qubits: tuple[int, ...]
    ptm: torch.Tensor | None = None  # constant: error · gate
    angles: tuple[Angle, ...] = ()
    error: torch.Tensor | None = None  # parametric: the error's PTM, applied after the gate
    batched: bool = False  # an angle reads an input


@dataclass(frozen=True)
class Group:
    """The parametric instructions of one gate that read (``batched``) or do not read the inputs.

    Their PTMs are built together, ``(..., gates, d², d²)``, from angle tables ``(params, gates)``.
    """

    name: str
    batched: bool
    ids: tuple[int, ...]
    index: torch.Tensor  # slots into [x, w, 0] (batched) or [w, 0]
    scale: torch.Tensor
    offset: torch.Tensor
    errors: torch.Tensor | None  # (gates, d², d²), identity where an instruction has none


@dataclass(frozen=True)
class ConstFactor:
    """Consecutive constant instructions of a prefix column, multiplied out: ``(qubits, 4, 4)``."""

    matrix: torch.Tensor


@dataclass(frozen=True)
class GroupFactor:
    """One parametric instruction per qubit of a column, taken from one `Group`'s PTMs by ``index``."""

    batched: bool
    name: str
    index: torch.Tensor


@dataclass(frozen=True)
class EachFactor:
    """One instruction per qubit of a column, each PTM taken on its own."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class PrefixColumn:
    """Qubits whose prefix chains have one shape, and the chain as factors applied to all of them at once."""

    qubits: tuple[int, ...]
    factors: tuple[ConstFactor | GroupFactor | EachFactor, ...]


@dataclass
class Step:
    """A multi-qubit instruction (or none) preceded by the single-qubit chains on its qubits."""

    qubits: tuple[int, ...]
    chains: tuple[tuple[int, ...], ...]  # per qubit, instruction ids applied first, in order
    main: int | None  # the multi-qubit instruction's id
    matrix: torch.Tensor | None = None  # the whole step, when every instruction in it is constant


@dataclass(frozen=True)
class MeasuredTerms:
    """Measured Pauli terms: ``rows (terms, 4^k)`` in the Pauli basis, ``coeffs (n_obs, terms)``, ``offset (n_obs,)``."""

    rows: torch.Tensor
    coeffs: torch.Tensor
    offset: torch.Tensor


@dataclass(frozen=True)
class NoisyPlan:
    """Everything `noisy.DensityMatrixCircuit` runs.

    Attributes:
        physical: the active physical qubits; active qubit i is ``physical[i]``.
        instrs: the lowered instructions, referred to by position (their *id*).
        groups: per ``batched`` flag, the parametric instructions by gate.
        columns: the product prefix, by chain shape; ``unsort`` puts its qubits back in order.
        middle, tail: the Schrödinger steps (up to the last input read) and the Heisenberg steps.
        each: the instructions whose PTMs the steps and columns take one at a time.
        terms: what is measured.
        prefix_size: how many instructions the product prefix holds.
    """

    n_inputs: int
    n_weights: int
    physical: tuple[int, ...]
    instrs: tuple[Instr, ...]
    groups: dict[bool, tuple[Group, ...]]
    columns: tuple[PrefixColumn, ...]
    unsort: torch.Tensor | None
    middle: tuple[Step, ...]
    tail: tuple[Step, ...]
    each: frozenset[int]
    terms: MeasuredTerms
    prefix_size: int

    @property
    def k(self) -> int:
        return len(self.physical)


class NoisyBuilder:
    """Lowers an ISA circuit and its `DeviceNoise` into a `NoisyPlan`, for one dtype and device."""

    def __init__(self, ansatz: Ansatz, noise: DeviceNoise, dtype: torch.dtype, device: torch.device):
        self.ansatz, self.noise, self.dtype, self.device = ansatz, noise, dtype, device

    def build(self) -> NoisyPlan:
        circuit, observables = self.ansatz.circuit, self.ansatz.observables
        support = {q for obs in observables for p in obs.paulis for q in np.flatnonzero(p.x | p.z)}
        touched = {circuit.find_bit(q).index for inst in circuit.data if inst.operation.name != "barrier"
                   for q in inst.qubits}
        physical = tuple(sorted(touched | {int(q) for q in support}))
        k = len(physical)
        if k > MAX_ACTIVE_QUBITS:
            raise UnsupportedCircuitError(
                f"the circuit uses {k} qubits of {self.noise.device} after transpilation, more than the "
                f"{MAX_ACTIVE_QUBITS} the noisy engine simulates (a density matrix of 4^{k} entries per sample); use "
                "simulator='aer' or narrower circuits (QuantumLinear(..., n_qubits=...))")
        instrs = self._lower(physical)
        prefix, rest = split_product_prefix(range(len(instrs)), k, lambda i: instrs[i].qubits)
        last_read = max((j for j, i in enumerate(rest) if instrs[i].batched), default=-1)
        groups = {flag: self._groups(instrs, flag) for flag in (False, True)}
        place = {i: (g.batched, g.name, position) for flag in (False, True) for g in groups[flag]
                 for position, i in enumerate(g.ids)}
        columns = tuple(self._columns(instrs, prefix, place))
        order = [q for column in columns for q in column.qubits]
        unsort = None if order == sorted(order) else torch.argsort(torch.tensor(order, device=self.device))
        middle, tail = self._steps(instrs, rest[: last_read + 1]), self._steps(instrs, rest[last_read + 1:])
        each = {i for column in columns for f in column.factors if isinstance(f, EachFactor) for i in f.ids}
        each |= {i for step in middle + tail if step.matrix is None
                 for i in [*(j for chain in step.chains for j in chain), step.main] if i is not None}
        readout = {physical.index(q): m for q, m in self.noise.readout.items() if q in physical}
        return NoisyPlan(self.ansatz.n_inputs, self.ansatz.n_weights, physical, tuple(instrs), groups, columns,
                         unsort, tuple(middle), tuple(tail), frozenset(each),
                         self._measured_terms(observables, physical, readout), sum(map(len, prefix)))

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def _lower(self, physical: tuple[int, ...]) -> list[Instr]:
        circuit, ansatz = self.ansatz.circuit, self.ansatz
        slots = {p: i for i, p in enumerate(ansatz.inputs + ansatz.weights)}
        local = {q: i for i, q in enumerate(physical)}
        error_ptms: dict[tuple, np.ndarray] = {}  # one conversion per (instruction, qubits), however often it occurs
        instrs = []
        for inst in circuit.data:
            op = inst.operation
            qubits_physical = tuple(circuit.find_bit(q).index for q in inst.qubits)
            if op.name == "barrier":
                continue
            if op.name == "delay":
                raise UnsupportedCircuitError(
                    f"the circuit has a delay on qubits {list(qubits_physical)}; the noisy engine does not model "
                    "scheduled idle time, so transpile without scheduling or use simulator='aer'")
            refuse_non_unitary(op, qubits_physical)
            key = (op.name, qubits_physical)
            error = self.noise.errors.get(key)
            if error is not None:
                if key not in error_ptms:
                    error_ptms[key] = superop_ptm(error)
                error = error_ptms[key]
            qubits = tuple(local[q] for q in qubits_physical)
            free = any(isinstance(p, ParameterExpression) and p.parameters for p in op.params)
            matrix = None if free else constant_matrix(op)
            if matrix is not None:
                ptm = gate_ptm(matrix)
                instrs.append(Instr(op.name, qubits, ptm=self._tensor(ptm if error is None else error @ ptm)))
            elif op.name in PARAMETRIC_GATES:
                angles = tuple(parse_angle(p, op, qubits_physical, slots) for p in op.params)
                batched = any(a.slot is not None and a.slot < ansatz.n_inputs for a in angles)
                instrs.append(Instr(op.name, qubits, angles=angles, batched=batched,
                                    error=None if error is None else self._tensor(error)))
            else:
                raise UnsupportedCircuitError(
                    f"instruction {op.name!r} on qubits {list(qubits_physical)} of {self.noise.device} has free "
                    "parameters and no matrix the noisy engine can build; transpile to the device's basis gates")
        return instrs

    def _groups(self, instrs: list[Instr], batched: bool) -> tuple[Group, ...]:
        """Parametric instructions by gate, each table ``(params, gates)``."""
        by_name: dict[str, list[int]] = {}
        for i, ins in enumerate(instrs):
            if ins.ptm is None and ins.batched == batched:
                by_name.setdefault(ins.name, []).append(i)
        zero_slot = self.ansatz.n_inputs + self.ansatz.n_weights
        shift = 0 if batched else self.ansatz.n_inputs  # weight-only angles index [w, 0]
        groups = []
        for name, ids in by_name.items():
            params = range(len(instrs[ids[0]].angles))

            def table(get, dtype, ids=ids, params=params):
                return torch.tensor([[get(instrs[i].angles[p]) for i in ids] for p in params], dtype=dtype,
                                    device=self.device)

            errors = None
            if any(instrs[i].error is not None for i in ids):
                eye = torch.eye(4 ** len(instrs[ids[0]].qubits), dtype=self.dtype, device=self.device)
                errors = torch.stack([eye if instrs[i].error is None else instrs[i].error for i in ids])
            groups.append(Group(name, batched, tuple(ids), table(lambda a: a.source(zero_slot) - shift, torch.long),
                                table(lambda a: a.scale, self.dtype), table(lambda a: a.offset, self.dtype), errors))
        return tuple(groups)

    def _columns(self, instrs: list[Instr], prefix: list[list[int]], place: dict[int, tuple[bool, str, int]]):
        """Qubits whose chains have one shape, each chain as factors applied to all of them at once."""
        shapes: dict[tuple, list[int]] = {}
        for q, chain in enumerate(prefix):
            shapes.setdefault(tuple((instrs[i].name, instrs[i].batched) for i in chain), []).append(q)
        for qubits in shapes.values():
            factors: list = []
            for position in zip(*(prefix[q] for q in qubits)):
                if all(instrs[i].ptm is not None for i in position):
                    m = torch.stack([instrs[i].ptm for i in position])
                    if factors and isinstance(factors[-1], ConstFactor):
                        m = m @ factors.pop().matrix
                    factors.append(ConstFactor(m))
                    continue
                where = [place.get(i) for i in position]
                if all(p is not None and p[:2] == where[0][:2] for p in where):
                    index = torch.tensor([p[2] for p in where], device=self.device)
                    factors.append(GroupFactor(where[0][0], where[0][1], index))
                else:
                    factors.append(EachFactor(tuple(position)))
            yield PrefixColumn(tuple(qubits), tuple(factors))

    def _steps(self, instrs: list[Instr], ids: list[int]) -> list[Step]:
        pending: dict[int, list[int]] = {}
        steps = []
        for i in ids:
            qubits = instrs[i].qubits
            if len(qubits) == 1:
                pending.setdefault(qubits[0], []).append(i)
            else:
                steps.append(Step(qubits, tuple(tuple(pending.pop(q, ())) for q in qubits), i))
        steps.extend(Step((q,), (tuple(chain),), None) for q, chain in sorted(pending.items()))
        eye = torch.eye(4, dtype=self.dtype, device=self.device)
        for step in steps:  # steps of constant instructions only are multiplied out once, here
            ids = [i for chain in step.chains for i in chain] + ([] if step.main is None else [step.main])
            if all(instrs[i].ptm is not None for i in ids):
                step.matrix = step_matrix(step, lambda i: instrs[i].ptm, eye)
        return steps

    def _measured_terms(self, observables: Sequence[SparsePauliOp], physical: tuple[int, ...], readout) -> MeasuredTerms:
        """A term is measured once however many observables share it; its row is the term as the device reads it
        (`noise.readout_observables`), so a sampled term is one parity."""
        k = len(physical)
        rows: dict[tuple, int] = {}
        vectors, entries, offset = [], [], np.zeros(len(observables))
        for o, obs in enumerate(observables):
            for pauli, coeff in zip(obs.paulis, obs.coeffs):
                digits = tuple(DIGIT[bool(pauli.x[q]), bool(pauli.z[q])] for q in physical)
                c = complex(coeff * (-1j) ** pauli.phase).real
                if not any(digits):  # the identity: a constant
                    offset[o] += c
                    continue
                if digits not in rows:
                    rows[digits] = len(rows)
                    (dressed,) = readout_observables([SparsePauliOp(pauli_label(digits))], readout)
                    vec = np.zeros(4**k)
                    for p, dc in zip(dressed.paulis, dressed.coeffs):
                        vec[sum(DIGIT[bool(p.x[q]), bool(p.z[q])] * 4**q for q in range(k))] += dc.real
                    vectors.append(vec)
                entries.append((o, rows[digits], c))
        matrix = np.zeros((len(observables), len(rows)))
        for o, t, c in entries:
            matrix[o, t] += c
        return MeasuredTerms(self._tensor(np.stack(vectors) if vectors else np.zeros((0, 4**k))), self._tensor(matrix),
                             self._tensor(offset))


def step_matrix(step: Step, ptm: Callable[[int], torch.Tensor], eye: torch.Tensor) -> torch.Tensor:
    """The step's PTM from each instruction's (``ptm(id)``): each qubit's chain, then the multi-qubit instruction."""
    if step.matrix is not None:
        return step.matrix
    chains = []
    for chain in step.chains:
        m = None
        for i in chain:
            m = ptm(i) if m is None else ptm(i) @ m
        chains.append(m if m is not None else eye)
    if step.main is None:
        return chains[0]
    return ptm(step.main) @ kron_matrices(chains)  # qubit j of the step is digit j: the last qubit is the highest

