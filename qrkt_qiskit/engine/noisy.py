"""A device's noise in the engine: ISA circuits with their noise model, as exact batched PyTorch programs.

The density matrix of the circuit's *active* qubits (those a gate or an observable touches;
idle physical qubits stay in |0> and are dropped) is held in the Pauli basis: a real vector
``r_P = Tr(ρ P)`` over the ``4^k`` Pauli strings, qubit q being digit q (I, X, Y, Z = 0..3).
Every instruction is one real Pauli transfer matrix ``R = R_error · R_gate`` (the gate, then
the channel Aer applies after it), so gates and noise cost the same and fuse freely.

The program is split where the inputs stop mattering (docs/noise.md):

1. *Product prefix*: each qubit's single-qubit gates before its first multi-qubit gate act
   on its own Bloch 4-vector (noise on one qubit keeps a product state a product state).
2. *Schrödinger middle* (only when an input is read after an entangler): the batched
   ``(batch, 4^k)`` state, gate by gate.
3. *Heisenberg tail*: everything after the last input-dependent gate is applied, transposed,
   to the observables instead, once per call whatever the batch (``(terms, 4^k)``).
4. The two meet in one matmul. Single-qubit gates are multiplied into the next multi-qubit
   gate on their qubit, so the big tensors are touched once per entangler.

Readout error is an observable transformation: a bit flips with probability ``P(m|b)``, so
a measured Pauli parity on support S has expectation ``Σ_{T⊆S} Π_{S∖T} α_q Π_T β_q <P_T>``
with ``α = P(0|1) − P(1|0)``, ``β = 1 − P(0|1) − P(1|0)``; `readout_observables` writes it
as a ``SparsePauliOp`` that any exact estimator (Aer's too) can evaluate. Finite shots are
binomial samples of each measured term around its exact value.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from ..circuits import Ansatz
from .compiler import check_inputs, check_tensors, check_weights, empty_result
from .gates import PARAMETRIC_GATES
from .kernels import apply, kron
from .lowering import Angle, UnsupportedCircuitError, constant_matrix, parse_angle, refuse_non_unitary, with_zero_slot
from .rotation import AXES, rotation, rotation_parts

__all__ = ["DeviceNoise", "MAX_ACTIVE_QUBITS", "NoisyCircuit", "readout_observables"]

# A density matrix over k qubits is 4^k numbers per sample: 1 M at k = 10.
MAX_ACTIVE_QUBITS = 10
# Samples per chunk are capped so that one chunk's (chunk, 4^k) state stays this small.
_CHUNK_ELEMENTS = 2**24

_PAULI_1Q = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)
_DIGIT = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}  # (x, z) -> I, X, Y, Z


@functools.cache
def pauli_basis(m: int) -> np.ndarray:
    """``(4^m, 2^m, 2^m)``: Pauli string ``Σ d_q 4^q`` on qubits 0..m-1 (qubit q = bit q of the matrix index)."""
    basis = _PAULI_1Q
    for _ in range(m - 1):
        basis = np.einsum("aij,rkl->arikjl", _PAULI_1Q, basis).reshape(4 * len(basis), 2 * basis.shape[1], -1)
    basis.flags.writeable = False  # shared by every caller
    return basis


def superop_ptm(superop: np.ndarray) -> np.ndarray:
    """The Pauli transfer matrix ``R[P, Q] = Tr(P E(Q)) / d`` of a column-stacking superoperator (Qiskit's)."""
    d = int(round(np.sqrt(superop.shape[0])))
    basis = pauli_basis(int(np.log2(d)))
    vec = basis.transpose(0, 2, 1).reshape(len(basis), -1)  # row Q = vec(Q), columns stacked
    images = (vec @ superop.T).reshape(len(basis), d, d).transpose(0, 2, 1)  # E(Q)
    ptm = np.einsum("pij,qji->pq", basis, images).real / d
    ptm[np.abs(ptm) < 1e-14] = 0.0  # round-off of the change of basis, not physics
    return ptm


def unitary_ptm(u: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``(..., d, d)`` unitaries -> ``(..., d², d²)`` real Pauli transfer matrices, differentiably."""
    conjugated = torch.einsum("...jk,qkl,...il->...qji", u, basis, u.conj())  # U Q U† per Q
    return torch.einsum("pij,...qji->...pq", basis, conjugated).real / u.shape[-1]


@dataclass(frozen=True)
class DeviceNoise:
    """A device's noise as the engine applies it.

    Attributes:
        errors: ``(instruction name, physical qubits) -> superoperator`` (Qiskit's
            column-stacking convention) of the channel applied after that instruction.
        readout: ``physical qubit -> (2, 2)`` assignment matrix, row = prepared bit,
            column = measured bit (Qiskit's ``ReadoutError.probabilities``).
    """

    errors: Mapping[tuple[str, tuple[int, ...]], np.ndarray]
    readout: Mapping[int, np.ndarray]

    @classmethod
    def from_noise_model(cls, noise_model, circuit: QuantumCircuit, cache: dict | None = None) -> DeviceNoise:
        """The errors Aer's ``noise_model`` applies to the instructions of ``circuit``.

        Aer looks up an error by instruction name and qubits, else the name's all-qubit
        error; readout errors likewise. Only what ``circuit`` uses is converted, and
        ``cache`` (a dict kept beside ``noise_model``) keeps conversions for the next circuit.

        Raises:
            UnsupportedCircuitError: for noise the engine does not model (non-local errors,
                correlated readout, errors on measurements).
        """
        from qiskit.quantum_info import SuperOp

        local, default = noise_model._local_quantum_errors, noise_model._default_quantum_errors
        if "measure" in local or "measure" in default:
            raise UnsupportedCircuitError("the noise model has quantum errors on measurements, which the noisy "
                                          "engine does not model; use simulator='aer'")
        if any(len(q) > 1 for q in noise_model._local_readout_errors):
            raise UnsupportedCircuitError("the noise model has correlated multi-qubit readout errors, which the "
                                          "noisy engine does not model; use simulator='aer'")
        errors = {}
        for inst in circuit.data:
            name = inst.operation.name
            qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
            error = local.get(name, {}).get(qubits, default.get(name))
            key = (name, qubits)
            if error is not None and key not in errors:
                errors[key] = cache[key] if cache is not None and key in cache else np.asarray(SuperOp(error).data)
                if cache is not None:
                    cache[key] = errors[key]
        readout = {}
        for q in range(circuit.num_qubits):
            error = noise_model._local_readout_errors.get((q,), noise_model._default_readout_error)
            if error is not None:
                readout[q] = np.asarray(error.probabilities, dtype=float)
        return cls(errors, readout)


def readout_observables(observables: Sequence[SparsePauliOp], readout: Mapping[int, np.ndarray]) -> list[SparsePauliOp]:
    """The observables whose exact values are what a device with ``readout`` error measures.

    Each Pauli term on support S becomes ``Σ_{T⊆S} Π_{S∖T} α_q Π_T β_q P_T`` (the module
    docstring); qubits without an entry in ``readout`` read perfectly.
    """
    dressed = []
    for obs in observables:
        labels, coeffs = [], []
        for pauli, coeff in zip(obs.paulis, obs.coeffs):
            for label, c in _dressed_term(pauli, readout):
                labels.append(label)
                coeffs.append(coeff * c)
        if not labels:  # every measured qubit reads a coin flip (readout error 1/2): the value is 0
            labels, coeffs = ["I" * obs.num_qubits], [0.0]
        dressed.append(SparsePauliOp(labels, np.array(coeffs)).simplify(atol=0.0))
    return dressed


def _dressed_term(pauli, readout: Mapping[int, np.ndarray]):
    """``(label, coefficient)`` pairs of one Pauli term under readout error."""
    support = [q for q in range(pauli.num_qubits) if pauli.x[q] or pauli.z[q]]
    label = pauli.to_label().lstrip("-i")
    factors = []
    for q in support:
        p = readout.get(q)
        if p is None:
            factors.append((0.0, 1.0))
            continue
        f0, f1 = p[0, 0] - p[0, 1], p[1, 0] - p[1, 1]  # E[(-1)^m | prepared b]
        factors.append(((f0 + f1) / 2, (f0 - f1) / 2))
    phase = (-1j) ** pauli.phase
    for keep in itertools.product((False, True), repeat=len(support)):
        c = phase * np.prod([beta if k else alpha for k, (alpha, beta) in zip(keep, factors)])
        if c != 0:
            chars = list(label)
            for q, k in zip(support, keep):
                if not k:
                    chars[len(chars) - 1 - q] = "I"
            yield "".join(chars), c


@dataclass
class _Instr:
    """One ISA instruction on active qubits: a constant PTM, or a parametric gate and its error's PTM."""

    name: str
    qubits: tuple[int, ...]
    ptm: np.ndarray | torch.Tensor | None = None  # constant: error · gate (a tensor once planned)
    angles: tuple[Angle, ...] = ()
    error: np.ndarray | torch.Tensor | None = None  # parametric: the error's PTM, applied after the gate
    batched: bool = False  # an angle reads an input


@dataclass
class _Step:
    """A multi-qubit instruction (or none) preceded by the single-qubit chains on its qubits."""

    qubits: tuple[int, ...]
    chains: tuple[tuple[int, ...], ...]  # per qubit, instruction ids applied first, in order
    main: int | None  # the multi-qubit instruction's id
    matrix: torch.Tensor | None = None  # the whole step, when every instruction in it is constant


class NoisyCircuit:
    """An ansatz as a device runs it, noise and readout included; call it as ``program(x, w)``.

    Args:
        ansatz: the logical circuit: its inputs, weights and output count.
        circuit: the ISA circuit the device runs (the ansatz transpiled; same parameters).
        observables: the ansatz's observables laid out onto ``circuit``.
        noise: the device's noise (``None``: ideal gates and readout).
        readout_error: measure through the readout assignment matrices.
        shots: ``None`` for exact expectation values (the infinite-shot limit), else binomial
            samples of each measured term; gradients are then those of the exact values.
        seed: seeds the shot sampler.
        dtype, device: ``torch.float32``/``float64``; CPU or CUDA.

    Raises:
        UnsupportedCircuitError: for an instruction the engine cannot express, or more than
            `MAX_ACTIVE_QUBITS` active qubits.
    """

    def __init__(self, ansatz: Ansatz, circuit: QuantumCircuit, observables: Sequence[SparsePauliOp],
                 noise: DeviceNoise | None, *, readout_error: bool = True, shots: int | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32, device="cpu", name: str = "device"):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.ansatz, self.dtype, self.device, self.shots = ansatz, dtype, torch.device(device), shots
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        noise = noise or DeviceNoise({}, {})
        support = {q for obs in observables for p in obs.paulis for q in np.flatnonzero(p.x | p.z)}
        touched = {circuit.find_bit(q).index for inst in circuit.data if inst.operation.name != "barrier"
                   for q in inst.qubits}
        self.physical = tuple(sorted(touched | {int(q) for q in support}))
        k = self.k = len(self.physical)
        if k > MAX_ACTIVE_QUBITS:
            raise UnsupportedCircuitError(
                f"the circuit uses {k} qubits of {name} after transpilation, more than the {MAX_ACTIVE_QUBITS} "
                f"the noisy engine simulates (a density matrix of 4^{k} entries per sample); use simulator='aer' "
                "or narrower circuits (QuantumLinear(..., n_qubits=...))")
        slots = {p: i for i, p in enumerate(ansatz.inputs + ansatz.weights)}
        self._zero_slot = len(slots)
        self._instrs = self._lower(circuit, slots, noise, name)
        self._plan()
        readout = {self.physical.index(q): m for q, m in noise.readout.items() if q in self.physical}
        self._terms, self._coeffs, self._offset = self._measured_terms(observables, readout if readout_error else {})
        self._basis = {m: torch.tensor(pauli_basis(m), dtype=self.cdtype, device=self.device) for m in (1, 2)}
        self._rotation_parts = {name: torch.as_tensor(rotation_parts([AXES[name]])[:, 0], dtype=dtype, device=self.device)
                                for name in _ROTATION_PLANES}  # (3, 4, 4): A, B, C of each rotation gate's PTM
        self._support = None if self._middle or not len(self._terms) else self._tail_support()
        self._generator = None
        if shots is not None:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(seed if seed is not None else secrets.randbits(63))  # not torch's global RNG

    # ------------------------------------------------------------------ compile time
    def _lower(self, circuit: QuantumCircuit, slots, noise: DeviceNoise, name: str) -> list[_Instr]:
        local = {q: i for i, q in enumerate(self.physical)}
        error_ptms: dict[tuple, np.ndarray] = {}  # one conversion per (instruction, qubits), however often it occurs
        instrs = []
        for inst in circuit.data:
            op = inst.operation
            physical = tuple(circuit.find_bit(q).index for q in inst.qubits)
            if op.name == "barrier":
                continue
            if op.name == "delay":
                raise UnsupportedCircuitError(
                    f"the circuit has a delay on qubits {list(physical)}; the noisy engine does not model scheduled "
                    "idle time, so transpile without scheduling or use simulator='aer'")
            refuse_non_unitary(op, physical)
            error = noise.errors.get((op.name, physical))
            if error is not None:
                if (op.name, physical) not in error_ptms:
                    error_ptms[op.name, physical] = superop_ptm(error)
                error = error_ptms[op.name, physical]
            qubits = tuple(local[q] for q in physical)
            free = any(isinstance(p, ParameterExpression) and p.parameters for p in op.params)
            matrix = None if free else constant_matrix(op)
            if matrix is not None:
                ptm = superop_ptm(np.kron(matrix.conj(), matrix))  # column stacking: vec(UρU†) = (Ū⊗U) vec(ρ)
                instrs.append(_Instr(op.name, qubits, ptm=ptm if error is None else error @ ptm))
            elif op.name in PARAMETRIC_GATES:
                angles = tuple(parse_angle(p, op, physical, slots) for p in op.params)
                batched = any(a.slot is not None and a.slot < self.ansatz.n_inputs for a in angles)
                instrs.append(_Instr(op.name, qubits, angles=angles, error=error, batched=batched))
            else:
                raise UnsupportedCircuitError(
                    f"instruction {op.name!r} on qubits {list(physical)} of {name} has free parameters and no "
                    "matrix the noisy engine can build; transpile to the device's basis gates")
        return instrs

    def _plan(self) -> None:
        """Prefix chains per qubit, then Schrödinger steps up to the last input read, Heisenberg steps after."""
        prefix: list[list[int]] = [[] for _ in range(self.k)]
        entangled: set[int] = set()
        rest = []
        for i, ins in enumerate(self._instrs):
            if ins.ptm is not None:
                ins.ptm = torch.as_tensor(ins.ptm, dtype=self.dtype, device=self.device)
            if ins.error is not None:
                ins.error = torch.as_tensor(ins.error, dtype=self.dtype, device=self.device)
            if len(ins.qubits) == 1 and ins.qubits[0] not in entangled:
                prefix[ins.qubits[0]].append(i)
            else:
                entangled.update(ins.qubits)
                rest.append(i)
        last_read = max((j for j, i in enumerate(rest) if self._instrs[i].batched), default=-1)
        self._prefix = prefix
        self._place: dict[int, tuple[bool, str, int]] = {}  # parametric instruction -> (batched, gate, index)
        self._groups = {flag: self._parametric_groups(flag) for flag in (False, True)}
        self._columns = self._prefix_columns(prefix)
        order = [q for qubits, _ in self._columns for q in qubits]
        self._unsort = None if order == sorted(order) else torch.argsort(torch.tensor(order, device=self.device))
        self._middle = self._steps(rest[: last_read + 1])
        self._tail = self._steps(rest[last_read + 1:])
        self._one_by_one = {i for _, factors in self._columns for f in factors if f[0] == "ids" for i in f[1]}
        self._one_by_one |= {i for step in self._middle + self._tail if step.matrix is None
                             for i in [*(j for chain in step.chains for j in chain), step.main] if i is not None}
        self._constants = {i: self._instrs[i].ptm for i in self._one_by_one if self._instrs[i].ptm is not None}
        self._tail_cache = None  # the Heisenberg-evolved terms, when the tail has no weights

    def _tail_support(self) -> torch.Tensor | None:
        """The Pauli strings the evolved terms can reach, if few: the meet then gathers them from the Bloch vectors.

        Clifford gates map Pauli strings to Pauli strings and device noise mixes few, so a
        one-layer circuit reaches a handful of the 4^k. The support is read off the terms
        evolved with random weights (a string reached for some weights is reached for almost
        all); ``None`` where it is too large to pay off.
        """
        g = torch.Generator(device="cpu").manual_seed(0)
        w = torch.rand(self.ansatz.n_weights, generator=g, dtype=self.dtype).to(self.device) * 2 * np.pi + 0.1
        fixed = self._ptms(with_zero_slot(w), batched=False)
        reach = self._terms.abs()  # magnitudes through |R|: sums of non-negative terms never cancel to a false zero
        for step in reversed(self._tail):
            reach = apply(reach, self._step_matrix(step, fixed).abs().transpose(-1, -2), _wires(step.qubits), 2 * self.k)
        support = torch.nonzero((reach > 0).any(dim=0)).flatten()
        if len(support) * self.k > 4**self.k // 4:
            return None
        digits = (support.unsqueeze(1) // 4 ** torch.arange(self.k, device=self.device)) % 4  # (strings, k)
        self._gather = (torch.arange(self.k, device=self.device) * 4 + digits).flatten()  # into (batch, 4k) Bloch
        return support

    def _prefix_columns(self, prefix: list[list[int]]) -> list[tuple[tuple[int, ...], list[tuple]]]:
        """Qubits whose chains have one shape, each chain as factors applied to all of them at once.

        A factor is ``("const", (qubits, 4, 4))`` (consecutive constant gates, multiplied
        out now), ``("group", batched, name, index)`` (one parametric gate per qubit, taken
        from its group's PTMs in one gather) or ``("ids", ids)``.
        """
        shapes: dict[tuple, list[int]] = {}
        for q, chain in enumerate(prefix):
            shapes.setdefault(tuple((self._instrs[i].name, self._instrs[i].batched) for i in chain), []).append(q)
        columns = []
        for qubits in shapes.values():
            factors: list[tuple] = []
            for position in zip(*(prefix[q] for q in qubits)):
                instrs = [self._instrs[i] for i in position]
                if all(ins.ptm is not None for ins in instrs):
                    m = torch.stack([ins.ptm for ins in instrs])
                    if factors and factors[-1][0] == "const":
                        m = m @ factors.pop()[1]
                    factors.append(("const", m))
                else:
                    place = [self._place.get(i) for i in position]
                    if all(p is not None and p[:2] == place[0][:2] for p in place):
                        index = torch.tensor([p[2] for p in place], device=self.device)
                        factors.append(("group", place[0][0], place[0][1], index))
                    else:
                        factors.append(("ids", position))
            columns.append((tuple(qubits), factors))
        return columns

    def _parametric_groups(self, batched: bool) -> list[tuple[str, list[int], torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Parametric instructions by gate: ``(name, ids, index, scale, offset)``, each table ``(params, gates)``."""
        by_name: dict[str, list[int]] = {}
        for i, ins in enumerate(self._instrs):
            if ins.ptm is None and ins.batched == batched:
                by_name.setdefault(ins.name, []).append(i)
        shift = 0 if batched else self.ansatz.n_inputs  # weight-only angles index [w, 0]
        groups = []
        for name, ids in by_name.items():
            table = lambda get, dtype: torch.tensor(  # noqa: E731
                [[get(self._instrs[i].angles[p]) for i in ids] for p in range(len(self._instrs[ids[0]].angles))],
                dtype=dtype, device=self.device)
            index = table(lambda a: a.source(self._zero_slot) - shift, torch.long)
            errors = None
            if any(self._instrs[i].error is not None for i in ids):
                eye = torch.eye(4 ** len(self._instrs[ids[0]].qubits), dtype=self.dtype, device=self.device)
                errors = torch.stack([eye if self._instrs[i].error is None else self._instrs[i].error for i in ids])
            for g, i in enumerate(ids):
                self._place[i] = (batched, name, g)
            groups.append((name, ids, index, table(lambda a: a.scale, self.dtype), table(lambda a: a.offset, self.dtype),
                           errors))
        return groups

    def _steps(self, ids: list[int]) -> list[_Step]:
        pending: dict[int, list[int]] = {}
        steps = []
        for i in ids:
            qubits = self._instrs[i].qubits
            if len(qubits) == 1:
                pending.setdefault(qubits[0], []).append(i)
            else:
                steps.append(_Step(qubits, tuple(tuple(pending.pop(q, ())) for q in qubits), i))
        steps.extend(_Step((q,), (tuple(chain),), None) for q, chain in sorted(pending.items()))
        for step in steps:  # steps of constant instructions only are multiplied out once, here
            ids = [i for chain in step.chains for i in chain] + ([] if step.main is None else [step.main])
            if all(self._instrs[i].ptm is not None for i in ids):
                step.matrix = self._step_matrix(step, {i: self._instrs[i].ptm for i in ids})
        return steps

    def _measured_terms(self, observables, readout):
        """Measured Pauli terms as ``(terms, 4^k)`` Pauli-basis rows, ``(n_obs, terms)`` coefficients, offsets.

        A term is measured once however many observables share it; its row is the term as
        the device reads it (`readout_observables`), so a sampled term is one parity.
        """
        rows: dict[tuple, int] = {}
        vectors, entries, offset = [], [], np.zeros(len(observables))
        for o, obs in enumerate(observables):
            for pauli, coeff in zip(obs.paulis, obs.coeffs):
                digits = tuple(_DIGIT[bool(pauli.x[q]), bool(pauli.z[q])] for q in self.physical)
                c = complex(coeff * (-1j) ** pauli.phase).real
                if not any(digits):  # the identity: a constant
                    offset[o] += c
                    continue
                if digits not in rows:
                    rows[digits] = len(rows)
                    (dressed,) = readout_observables([SparsePauliOp(_label(digits))], readout)
                    vec = np.zeros(4**self.k)
                    for p, dc in zip(dressed.paulis, dressed.coeffs):
                        vec[sum(_DIGIT[bool(p.x[q]), bool(p.z[q])] * 4**q for q in range(self.k))] += dc.real
                    vectors.append(vec)
                entries.append((o, rows[digits], c))
        matrix = np.zeros((len(observables), len(rows)))
        for o, t, c in entries:
            matrix[o, t] += c
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        return as_t(np.stack(vectors) if vectors else np.zeros((0, 4**self.k))), as_t(matrix), as_t(offset)

    # ------------------------------------------------------------------ run time
    def __call__(self, x: torch.Tensor, w: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """What the device measures, ``(..., n_observables)``, for ``x: (..., n_inputs)``, ``w: (n_weights,)``."""
        check_tensors(x, w, self.dtype, self.device, "the noisy program was built")
        if validate:
            check_inputs(x, self.ansatz)
            check_weights(w, self.ansatz)
        lead = x.shape[:-1]
        if lead.numel() == 0:
            return empty_result(x, w, len(self._offset))
        x = x.reshape(lead.numel(), self.ansatz.n_inputs)
        values_w = with_zero_slot(w)
        fixed = self._ptms(values_w, batched=False)
        heisenberg = self._heisenberg(fixed)
        chunk = max(1, _CHUNK_ELEMENTS // 4**self.k)
        expectations = torch.cat([self._meet(part, values_w, fixed, heisenberg) for part in x.split(chunk)])
        if self.shots is not None:
            expectations = expectations + (self._sample(expectations.detach()) - expectations.detach())
        return (expectations @ self._coeffs.T + self._offset).reshape(*lead, len(self._offset))

    def _heisenberg(self, fixed: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """The measured terms evolved backwards through the tail: ``(terms, 4^k)``."""
        if self._tail_cache is not None or not len(self._terms):  # identity terms only: nothing to evolve
            return self._terms if self._tail_cache is None else self._tail_cache
        h = self._terms
        for step in reversed(self._tail):
            h = apply(h, self._step_matrix(step, fixed).transpose(-1, -2), _wires(step.qubits), 2 * self.k)
        if all(step.matrix is not None for step in self._tail):
            self._tail_cache = h  # no weight in the tail: the same every call
        return h

    def _meet(self, x, values_w, fixed, heisenberg) -> torch.Tensor:
        """``(batch, terms)``: the Schrödinger state of ``x`` against the Heisenberg-evolved terms."""
        batch = x.shape[0]
        if not len(self._terms):  # identity terms only (no active qubit at all, maybe): constants
            return x.new_zeros(batch, 0)
        values_x = torch.cat([x, values_w.expand(batch, -1)], dim=1)
        ptms = {**fixed, **self._ptms(values_x, batched=True)}
        zero = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=self.dtype, device=self.device)  # |0>
        columns = []
        for qubits, runs in self._columns:
            r = zero.expand(len(qubits), 4)  # (qubits, 4), then (batch, qubits, 4) from the first input gate
            pending = None  # weight-only factors not applied yet: multiplied together first, (qubits, 4, 4)
            for factor in runs:
                if factor[0] == "const":
                    m = factor[1]
                elif factor[0] == "group" and ("angles", factor[2]) in ptms and factor[1]:
                    if pending is not None:
                        r, pending = (pending @ r.unsqueeze(-1)).squeeze(-1), None
                    r = _rotate(r, factor[2], ptms["angles", factor[2]].index_select(-1, factor[3]))
                    continue
                elif factor[0] == "group":
                    m = ptms["group", factor[1], factor[2]].index_select(-3, factor[3])
                else:
                    m = torch.stack([ptms[i] for i in factor[1]], dim=-3)
                if m.dim() == 3:
                    pending = m if pending is None else m @ pending
                    continue
                if pending is not None:
                    r, pending = (pending @ r.unsqueeze(-1)).squeeze(-1), None
                r = (m @ r.unsqueeze(-1)).squeeze(-1)
            if pending is not None:
                r = (pending @ r.unsqueeze(-1)).squeeze(-1)
            columns.append(r.expand(batch, len(qubits), 4) if r.dim() == 2 else r)
        bloch = torch.cat(columns, dim=1)
        if self._unsort is not None:  # columns group qubits by chain shape: back to qubit order
            bloch = bloch.index_select(1, self._unsort)
        if self._support is not None:  # r_P of a product state is the product of its qubits' entries
            factors = bloch.reshape(batch, 4 * self.k).index_select(1, self._gather).view(batch, -1, self.k)
            r = factors[..., 0]
            for q in range(1, self.k):
                r = r * factors[..., q]
            return r @ heisenberg[:, self._support].T
        state = kron(bloch)  # (batch, 4^k)
        for step in self._middle:
            state = apply(state, self._step_matrix(step, ptms), _wires(step.qubits), 2 * self.k)
        return state @ heisenberg.T

    def _ptms(self, values: torch.Tensor, *, batched: bool) -> dict:
        """PTMs of the parametric gates that read (``batched``) or do not read the inputs.

        Keys ``("group", batched, gate)`` hold a whole group, ``(..., gates, d², d²)``; an
        instruction id holds one PTM, for the instructions the steps take one at a time
        (constants among them, with ``batched=False``).
        """
        out: dict = {}
        for name, ids, index, scale, offset, errors in self._groups[batched]:
            angles = [values.index_select(-1, index[p]) * scale[p] + offset[p] for p in range(len(index))]
            if batched and name in _ROTATION_PLANES and errors is None:
                out["angles", name] = angles[0]  # (batch, gates): turned on the Bloch vectors directly, no matrix
                for g, i in enumerate(ids):
                    if i in self._one_by_one:
                        out[i] = self._rotation_ptm(name, angles[0][:, g])
                continue
            if name in _ROTATION_PLANES:
                ptm = self._rotation_ptm(name, angles[0])
            else:
                d = 2 ** len(self._instrs[ids[0]].qubits)
                ptm = unitary_ptm(PARAMETRIC_GATES[name][1](*angles), self._basis[d.bit_length() - 1])
            if errors is not None:
                ptm = errors @ ptm
            out["group", batched, name] = ptm
            for g, i in enumerate(ids):
                if i in self._one_by_one:
                    out[i] = ptm[..., g, :, :]
        if not batched:
            out.update(self._constants)
        return out

    def _rotation_ptm(self, name: str, theta: torch.Tensor) -> torch.Tensor:
        """``(..., 4, 4)`` PTMs of RX/RY/RZ/P(θ): ``A + cos θ B + sin θ C`` (`rotation`)."""
        theta = theta[..., None, None]
        return rotation(*self._rotation_parts[name], torch.cos(theta), torch.sin(theta))

    def _step_matrix(self, step: _Step, ptms: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """The step's PTM: each qubit's chain, then the multi-qubit instruction."""
        if step.matrix is not None:
            return step.matrix
        chains = []
        for chain in step.chains:
            m = None
            for i in chain:
                m = ptms[i] if m is None else ptms[i] @ m
            chains.append(m if m is not None else torch.eye(4, dtype=self.dtype, device=self.device))
        if step.main is None:
            return chains[0]
        before = chains[-1]
        for m in reversed(chains[:-1]):  # qubit j of the step is digit j: the last qubit is the highest
            before = _kron(before, m)
        return ptms[step.main] @ before

    def _sample(self, expectations: torch.Tensor) -> torch.Tensor:
        p = ((1 - expectations) / 2).clamp(0, 1)  # probability of an odd parity
        counts = torch.binomial(torch.full_like(p, float(self.shots)), p, generator=self._generator)
        return 1 - 2 * counts / self.shots

    def describe(self) -> str:
        """One line for ``repr``: the active qubits and how the plan splits the noisy instructions."""
        return (f"{self.k} active qubit(s) {list(self.physical)}, {len(self._instrs)} noisy instructions: "
                f"{sum(map(len, self._prefix))} in the product prefix, {len(self._middle)} Schrödinger step(s), "
                f"{len(self._tail)} Heisenberg step(s); {len(self._terms)} measured term(s)"
                + ("" if self.shots is None else f", {self.shots} shots"))

    def __repr__(self) -> str:
        return f"NoisyCircuit({self.ansatz.circuit.name!r}, {self.dtype} on {self.device}: {self.describe()})"


# The plane each rotation gate turns, (b, c) as Pauli digits with C e_b = e_c: its axis is a
# coordinate axis, so B is the projector onto this plane and C a quarter turn within it.
_ROTATION_PLANES = {"rx": (2, 3), "ry": (3, 1), "rz": (1, 2), "p": (1, 2)}


def _rotate(r: torch.Tensor, name: str, theta: torch.Tensor) -> torch.Tensor:
    """``A r + cos θ B r + sin θ C r`` for ``r: (..., k, 4)`` and ``θ: (batch, k)``, without building R.

    ``B r`` and ``C r`` live in the gate's plane (b, c), so only ``r_b`` and ``r_c`` change.
    """
    b, c = _ROTATION_PLANES[name]
    cos, sin = torch.cos(theta), torch.sin(theta)
    r = r.expand(theta.shape[0], *r.shape[-2:])
    rb, rc = r[..., b], r[..., c]
    parts = list(r.unbind(-1))
    parts[b], parts[c] = cos * rb - sin * rc, sin * rb + cos * rc
    return torch.stack(parts, dim=-1)


def _wires(qubits: tuple[int, ...]) -> tuple[int, ...]:
    """The two bits of each qubit's Pauli digit in the ``4^k`` index."""
    return tuple(b for q in qubits for b in (2 * q, 2 * q + 1))


def _kron(high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """Kronecker product of (possibly batched) square matrices, ``low`` on the low digits."""
    a, b = high.shape[-1], low.shape[-1]
    return (high[..., :, None, :, None] * low[..., None, :, None, :]).reshape(*torch.broadcast_shapes(
        high.shape[:-2], low.shape[:-2]), a * b, a * b)


def _label(digits: tuple[int, ...]) -> str:
    return "".join("IXYZ"[d] for d in reversed(digits))
