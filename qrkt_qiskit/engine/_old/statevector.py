"""The statevector program: any circuit the engine lowers, as a batched ``(batch, 2^n)`` state.

The plan is chosen once, at build time (docs/engine.md says why each step exists):

1. *Product-state prefix*: single-qubit gates before a qubit's first multi-qubit gate act
   on a ``(batch, n, 2)`` product state; one Kronecker product gives the full state.
2. *Fused blocks*: runs of gates that do not read the inputs are cut into blocks of at
   most ``BLOCK_QUBITS`` qubits, each one dense unitary (built once per call from the
   weights, or at build time if constant) applied with one GEMM; blocks of
   permutation-and-phase gates become one gather.
3. *Gate by gate* for the rest (`kernels`).
4. *Expectations* as matmuls with Pauli tables (`observables.PauliTables`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from ..gates import PARAMETRIC_GATES
from .kernels import Permutation, apply, is_monomial, kron, permutation, rotate
from ..lowering import Op, UnsupportedCircuitError, with_zero_slot
from .observables import PauliTables

__all__ = ["BLOCK_QUBITS", "FUSE_MAX_QUBITS", "StatevectorCircuit"]

# Weight-only runs are cut into blocks of at most this many qubits, each one dense GEMM:
# one pass over the state per block instead of one or more per gate. Six qubits (64×64
# blocks) measured fastest on 2 CPU cores at 6-12 qubits (docs/benchmarks.md).
BLOCK_QUBITS = 6
# `fuse=True` allows blocks up to this width (a 1024×1024 matrix).
FUSE_MAX_QUBITS = 10


@dataclass
class _Group:
    """Gates of one type: one per qubit of a product state, or a single gate on the state."""

    name: str
    qubits: torch.Tensor | tuple[int, ...]  # per-qubit: a tensor of qubits; single: the gate's wires
    per_qubit: bool
    batched: bool  # some angle reads an input, so matrices differ per sample
    index: torch.Tensor | None = None  # (n_params, k) slots into the value vector
    scale: torch.Tensor | None = None
    offset: torch.Tensor | None = None
    matrix: torch.Tensor | None = None  # constant matrices, (k, d, d) or (d, d)
    inputs_only: bool = False  # every angle reads an input: index x itself, no value vector needed


@dataclass
class _Fused:
    """A block of weight-only gates applied as one dense unitary on its qubits."""

    qubits: tuple[int, ...]
    gates: list[_Group]
    matrix: torch.Tensor | None  # precomputed when the run has no weights


class StatevectorCircuit:
    """A circuit's exact expectation values from its full statevector, for any circuit.

    Args:
        ops: the lowered circuit (`lowering.lower`).
        observables: Pauli sums, one per output.
        n_qubits, n_inputs, n_weights: the circuit's width and how its angle slots split.
        dtype: ``torch.float32`` (a complex64 state) or ``torch.float64`` (complex128).
        device: where the program runs.
        fuse: how weight-only runs are fused: ``None`` in blocks of at most
            ``BLOCK_QUBITS`` qubits, ``True`` up to ``FUSE_MAX_QUBITS``, ``False`` not at all.

    Raises:
        UnsupportedCircuitError: when the statevector cannot fit in the device's memory.
    """

    def __init__(self, ops: list[Op], observables: Sequence[SparsePauliOp], *, n_qubits: int, n_inputs: int,
                 n_weights: int, dtype: torch.dtype, device: torch.device, fuse: bool | None):
        self.n_qubits, self.n_inputs, self.dtype, self.device = n_qubits, n_inputs, dtype, device
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self._zero_slot = n_inputs + n_weights
        self._memory = _memory(device)
        _check_width(n_qubits, observables, self.cdtype, device, self._memory)
        prefix, rest = _split_prefix(ops, n_qubits)
        self._prefix = [self._group(g, per_qubit=True) for g in _prefix_groups(prefix)]
        self._steps = _merge_permutations([step for run in _runs(rest, n_inputs)
                                           for step in self._steps_for(run, fuse)])
        # angles that read inputs index `x` itself, unless some also read weights or constants
        self._inputs_only = all(g.inputs_only for g in self._prefix + self._steps
                                if isinstance(g, _Group) and g.batched and g.matrix is None)
        self._observables = PauliTables(observables, n_qubits, dtype, device)

    # ------------------------------------------------------------------ compile time
    def _group(self, ops: list[Op], per_qubit: bool) -> _Group:
        first = ops[0]
        batched = _reads_inputs(ops, self.n_inputs)
        qubits = torch.tensor([op.qubits[0] for op in ops], device=self.device) if per_qubit else first.qubits
        if first.matrix is not None:
            matrix = torch.as_tensor(np.stack([op.matrix for op in ops]), dtype=self.cdtype, device=self.device)
            return _Group(first.name, qubits, per_qubit, False, matrix=matrix if per_qubit else matrix[0])
        n_in = 0 if batched else self.n_inputs  # weight-only groups index the weights alone
        cols = [[a for a in op.angles] for op in ops]

        def table(get, dtype):
            return torch.tensor([[get(col[p]) for col in cols] for p in range(len(first.angles))], dtype=dtype,
                                device=self.device)

        index = table(lambda a: a.source(self._zero_slot) - n_in, torch.long)
        scale, offset = table(lambda a: a.scale, self.dtype), table(lambda a: a.offset, self.dtype)
        if bool((scale == 1).all() and (offset == 0).all()):  # plain parameters: skip the affine map
            scale = offset = None
        return _Group(first.name, qubits, per_qubit, batched, index, scale, offset,
                      inputs_only=bool((index < self.n_inputs).all()) if batched else False)

    def _steps_for(self, run: list[Op], fuse: bool | None) -> list:
        """Fused blocks for weight-only runs, gate by gate for the rest."""
        if _reads_inputs(run, self.n_inputs):
            return self._one_by_one(run)
        limit = {None: BLOCK_QUBITS, True: FUSE_MAX_QUBITS, False: 0}[fuse]
        steps = []
        for block in _blocks(run, limit):
            monomial = all(op.matrix is not None and is_monomial(op.matrix) for op in block)
            steps.extend(self._one_by_one(block) if len(block) == 1 or monomial else [self._fused(block)])
        return steps

    def _fused(self, block: list[Op]) -> _Fused:
        support = tuple(sorted({q for op in block for q in op.qubits}))
        local = {q: i for i, q in enumerate(support)}
        gates = [self._group([Op(op.name, tuple(local[q] for q in op.qubits), op.angles, op.matrix)],
                             per_qubit=False) for op in block]
        fused = _Fused(support, gates, None)
        if not any(op.slots for op in block):  # constant: build it once, now
            fused.matrix = self._unitary(fused, torch.zeros(self._zero_slot + 1 - self.n_inputs,
                                                            dtype=self.dtype, device=self.device))
        return fused

    def _one_by_one(self, run: list[Op]) -> list:
        """Each gate alone: a gather where it only permutes and phases, else its matrix."""
        return [permutation(op, self.n_qubits, self.cdtype, self.device)
                if op.matrix is not None and is_monomial(op.matrix) else self._group([op], per_qubit=False)
                for op in run]

    # ------------------------------------------------------------------ run time
    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``."""
        batch = x.shape[0]
        _check_batch(batch, self.n_qubits, self.cdtype, self.device, self._memory)
        values_w = with_zero_slot(w)  # (n_weights + 1,)
        # (batch, n_inputs + n_weights + 1); input slots index x alike, so x serves when they are all there is
        values_x = x if self._inputs_only else torch.cat([x, values_w.expand(batch, -1)], dim=1)

        state = kron(self._product_state(values_x, values_w).expand(batch, -1, -1))  # (batch, 2^n)
        for step in self._steps:
            if isinstance(step, Permutation):
                state = step(state)
            elif isinstance(step, _Fused):
                u = step.matrix if step.matrix is not None else self._unitary(step, values_w)
                state = apply(state, u, step.qubits, self.n_qubits)
            else:
                state = apply(state, self._matrices(step, values_x, values_w), step.qubits, self.n_qubits)
        return self._observables(state)

    def _product_state(self, values_x, values_w) -> torch.Tensor:
        """The prefix applied to ``|0…0>``: ``(batch|1, n, 2)``.

        Weight-only groups between input-dependent ones are multiplied together on
        ``(n, 2, 2)`` first, so the batch is touched once per input-dependent group.
        """
        n = self.n_qubits
        eye = torch.eye(2, dtype=self.cdtype, device=self.device).expand(n, 2, 2)
        psi = eye[..., 0]  # (n, 2): |0> on every qubit
        pending = None  # the weight-only gates not yet applied, (n, 2, 2)
        for g in self._prefix:
            m = self._matrices(g, values_x, values_w)  # (batch|·, k, 2, 2)
            if not g.batched:
                full = m if len(g.qubits) == n else eye.index_copy(0, g.qubits, m)
                pending = full if pending is None else full @ pending
                continue
            if pending is not None:
                psi, pending = rotate(pending, psi), None
            if len(g.qubits) == n:  # every qubit, in order
                psi = rotate(m, psi)
            else:
                psi = psi.expand(m.shape[0], n, 2).index_copy(1, g.qubits, rotate(m, psi[..., g.qubits, :]))
        return psi if pending is None else rotate(pending, psi)

    def _matrices(self, g: _Group, values_x, values_w) -> torch.Tensor:
        if g.matrix is not None:
            return g.matrix
        values = values_x if g.batched else values_w
        angles = [values[..., idx] for idx in g.index]
        if g.scale is not None:
            angles = [a * s + o for a, s, o in zip(angles, g.scale, g.offset)]
        m = PARAMETRIC_GATES[g.name][1](*angles)  # (batch|·, k, d, d)
        return m if g.per_qubit else m.squeeze(-3)

    def _unitary(self, fused: _Fused, values_w) -> torch.Tensor:
        """The run's unitary on its support: the gates applied to each basis state."""
        k = len(fused.qubits)
        rows = torch.eye(2**k, dtype=self.cdtype, device=self.device)  # row j = |j>
        for g in fused.gates:
            rows = apply(rows, g.matrix if g.matrix is not None else self._matrices(g, None, values_w), g.qubits, k)
        return rows.transpose(0, 1)  # rows[j] = U|j>, so U = rows^T

    def describe(self) -> str:
        """The plan, one part per step, for ``repr``."""
        parts = [f"product-state prefix of {len(self._prefix)} gate group(s)"] if self._prefix else []
        for step in self._steps:
            if isinstance(step, _Fused):
                how = "constant" if step.matrix is not None else "built per call"
                parts.append(f"{len(step.gates)} gates fused on {len(step.qubits)} qubit(s) ({how})")
            elif isinstance(step, Permutation):
                parts.append("a permutation")
            else:
                parts.append(f"gate {step.name!r}")
        parts.append(self._observables.describe())
        return f"{self.cdtype} statevector: " + "; ".join(parts)


def _split_prefix(ops: list[Op], n: int) -> tuple[list[list[Op]], list[Op]]:
    """Per-qubit single-qubit gates before the qubit's first multi-qubit gate, and the rest."""
    prefix: list[list[Op]] = [[] for _ in range(n)]
    entangled: set[int] = set()
    rest = []
    for op in ops:
        if len(op.qubits) == 1 and op.qubits[0] not in entangled:
            prefix[op.qubits[0]].append(op)
        else:
            entangled.update(op.qubits)
            rest.append(op)
    return prefix, rest


def _prefix_groups(prefix: list[list[Op]]) -> list[list[Op]]:
    """Group the prefix by depth, then by gate type, angle source and constness."""
    groups = []
    for depth in range(max((len(p) for p in prefix), default=0)):
        by_kind: dict[tuple, list[Op]] = {}
        for ops in prefix:
            if depth < len(ops):
                op = ops[depth]
                key = ("const",) if op.matrix is not None else (op.name, bool(op.slots))
                by_kind.setdefault(key, []).append(op)
        groups.extend(by_kind.values())
    return groups


def _runs(ops: list[Op], n_inputs: int) -> list[list[Op]]:
    """Split into maximal runs of input-independent gates and single input-dependent gates."""
    runs: list[tuple[bool, list[Op]]] = []
    for op in ops:
        dependent = _reads_inputs([op], n_inputs)
        if not dependent and runs and not runs[-1][0]:
            runs[-1][1].append(op)
        else:
            runs.append((dependent, [op]))
    return [run for _, run in runs]


def _blocks(run: list[Op], limit: int) -> list[list[Op]]:
    """Cut a run greedily into consecutive blocks acting on at most ``limit`` qubits."""
    blocks: list[list[Op]] = []
    support: set[int] = set()
    for op in run:
        if blocks and len(support | set(op.qubits)) <= limit:
            blocks[-1].append(op)
            support |= set(op.qubits)
        else:
            blocks.append([op])
            support = set(op.qubits)
    return blocks


def _merge_permutations(steps: list) -> list:
    merged: list = []
    for step in steps:
        if merged and isinstance(step, Permutation) and isinstance(merged[-1], Permutation):
            merged[-1] = merged[-1].then(step)
        else:
            merged.append(step)
    return merged


def _reads_inputs(ops: list[Op], n_inputs: int) -> bool:
    return any(s < n_inputs for op in ops for s in op.slots)


# A call holds about this many batch-sized statevectors at once (the state, the next one, a product).
_STATES_PER_CALL = 3


def _memory(device: torch.device) -> int:
    """Bytes of memory on ``device``: the GPU's, or this machine's RAM."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_width(n: int, observables: Sequence[SparsePauliOp], cdtype: torch.dtype, device: torch.device,
                 have: int) -> None:
    """Refuse, before any work, a circuit whose statevector and observable tables cannot fit in memory.

    The tables (`observables.PauliTables`) hold, per distinct X-mask of the observables' terms,
    a ``(2^n, n_observables)`` complex table built in numpy (16 bytes an entry) and copied to
    the device, and a ``2^n`` index.
    """
    element = torch.empty((), dtype=cdtype).element_size()
    masks = {tuple(p.x) for obs in observables for p in obs.paulis}
    need = 2**n * (element * _STATES_PER_CALL + len(masks) * (len(observables) * (16 + element) + 16))
    if need > have:
        raise UnsupportedCircuitError(
            f"a {n}-qubit statevector with its {len(observables)} observable(s) needs {_bytes(need)} ({cdtype}), "
            f"more than the {_bytes(have)} of memory on {device}; use fewer qubits per circuit"
        )


def _check_batch(batch: int, n: int, cdtype: torch.dtype, device: torch.device, have: int) -> None:
    """Refuse, before allocating, a batch of statevectors that cannot fit in memory."""
    per_sample = 2**n * torch.empty((), dtype=cdtype).element_size() * _STATES_PER_CALL
    if batch * per_sample > have:
        raise UnsupportedCircuitError(
            f"a batch of {batch} {n}-qubit statevectors needs {_bytes(batch * per_sample)} ({cdtype}), more than the "
            f"{_bytes(have)} of memory on {device}; evaluate at most {max(1, have // per_sample)} samples per call"
        )


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    raise AssertionError("unreachable")
