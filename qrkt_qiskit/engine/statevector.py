"""The statevector program: any circuit the engine lowers, as a batched ``(batch, 2^n)`` state.

The plan is chosen once, at build time (docs/engine.md says why each step exists), and runs
as one `autograd.Function` with a hand-written adjoint reverse pass (`sweep`):

1. *Product-state prefix*: single-qubit gates before a qubit's first multi-qubit gate act
   on a ``(batch, n, 2)`` product state, one ``(depth, n)`` grid of 2×2 matrices; one
   Kronecker product gives the full state.
2. *Steps* on the state: runs of at least two permutation-and-phase gates become one
   gather; the other runs of gates that do not read the inputs are cut into blocks of at
   most ``block_qubits`` qubits (`BLOCK_QUBITS` by default), each one dense unitary (built once per call from the
   weights, or at build time if constant) applied with one GEMM; a gate that reads an
   input after the prefix is applied with one matrix per sample.
3. *Expectations* as matmuls with Pauli tables (`observables.PauliTables`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from . import fused
from .gates import gate_parts
from .lowering import Op, UnsupportedCircuitError, split_product_prefix
from .observables import PauliTables
from .state_ops import Permutation, apply, is_monomial, permutation
from .sweep import Angles, Block, Const, Gate, Layer, Perm, Prefix, ProductState, Segment, SweepPlan, Where, run

__all__ = ["BLOCK_QUBITS", "MAX_BLOCK_QUBITS", "StatevectorCircuit"]

# Weight-only runs are cut into blocks of at most this many qubits, each one dense GEMM:
# one pass over the state per block instead of one or more per gate. Six qubits (64×64
# blocks) measured fastest on 2 CPU cores at 6-12 qubits (docs/benchmarks.md).
BLOCK_QUBITS = 6
# The widest block `compile_ansatz(block_qubits=...)` takes (a 1024×1024 matrix).
MAX_BLOCK_QUBITS = 10


class StatevectorCircuit:
    """A circuit's exact expectation values from its full statevector, for any circuit: two simulators.

    `sweep` runs the plan as torch tensors (`sweep`); `kernel`, where it was built, as the
    numba kernel (`fused`). `dispatch.choose` picks one per call.

    Args:
        ops: the lowered circuit (`lowering.lower`).
        observables: Pauli sums, one per output.
        n_qubits, n_inputs, n_weights: the circuit's width and how its angle slots split.
        dtype: ``torch.float32`` (a complex64 state) or ``torch.float64`` (complex128).
        device: where the program runs.
        block_qubits: the widest block of weight-only gates multiplied into one unitary
            (0: every gate alone).
        with_kernel: also build the numba kernel (`fused`; CPU only).

    Raises:
        UnsupportedCircuitError: when the statevector cannot fit in the device's memory.
    """

    def __init__(self, ops: list[Op], observables: Sequence[SparsePauliOp], *, n_qubits: int, n_inputs: int,
                 n_weights: int, dtype: torch.dtype, device: torch.device, block_qubits: int = BLOCK_QUBITS,
                 with_kernel: bool = False):
        self.n_qubits, self.n_inputs, self.dtype, self.device = n_qubits, n_inputs, dtype, device
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self._memory = _memory(device)
        _check_width(n_qubits, observables, self.cdtype, device, self._memory)
        tables = PauliTables(observables, n_qubits, dtype, device)
        self._plan = _Builder(n_qubits, n_inputs, n_weights, dtype, self.cdtype, device).build(ops, tables, block_qubits)
        self._kernel = fused.FusedProgram(ops, tables, n_qubits=n_qubits, dtype=dtype) if with_kernel else None

    @property
    def has_kernel(self) -> bool:
        return self._kernel is not None

    def sweep(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``, by the torch sweep."""
        _check_batch(x.shape[0], self.n_qubits, self.cdtype, self.device, self._memory)
        return run(self._plan, x, w)

    def kernel(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The same by the numba kernel (its double backward is the sweep's)."""
        _check_batch(x.shape[0], self.n_qubits, self.cdtype, self.device, self._memory)
        return fused.run(self._kernel, self._plan, x, w)

    def describe(self) -> str:
        """The plan, one part per step, for ``repr``."""
        p = self._plan
        parts = [f"product-state prefix of depth {p.prefix.depth}"] if p.prefix is not None else []
        for stage in p.stages:
            for step in stage:
                parts.append(_describe(step))
        parts.append(p.tables.describe())
        return f"{self.cdtype} statevector, adjoint reverse pass; " + "; ".join(parts)


def _describe(step) -> str:
    if isinstance(step, Perm):
        return "a permutation"
    qubits = list(step.where.qubits)
    if isinstance(step, Const):
        return f"a constant unitary on qubits {qubits}"
    if isinstance(step, Gate):
        return f"an input-dependent gate on qubits {qubits}"
    layers = sum(isinstance(part, Layer) for part in step.parts)
    return (f"a unitary on qubits {qubits} built per call ({layers} rotation layer(s), "
            f"{len(step.parts) - layers} other part(s))")


class _Builder:
    """Turns lowered operations into a `sweep.SweepPlan`, collecting every angle into two tables."""

    def __init__(self, n: int, n_inputs: int, n_weights: int, dtype, cdtype, device):
        self.n, self.n_inputs = n, n_inputs
        self.n_weights, self.dtype, self.cdtype, self.device = n_weights, dtype, cdtype, device
        self.batched: list[tuple] = []  # (slot into [x, w] or None, scale, offset) of φ
        self.weights: list[tuple] = []  # the same, for angles that read weights only

    def build(self, ops: list[Op], tables: PauliTables, block_qubits: int) -> SweepPlan:
        prefix_ops, rest = split_product_prefix(ops, self.n)
        prefix = self._prefix(prefix_ops)
        steps = _merge_permutations([step for run_ in _runs(rest, self.n_inputs) for step in self._steps(run_, block_qubits)])
        steps = [self._perm(step) if isinstance(step, Permutation) else step for step in steps]
        stages = _stages(steps, self.n)
        has_grad = [any(isinstance(s, (Block, Gate)) for s in stage) for stage in stages]
        needed = tuple(any(has_grad[:i]) for i in range(len(stages)))
        zero = torch.zeros(2**self.n, 1, dtype=self.cdtype, device=self.device)
        zero[0, 0] = 1
        return SweepPlan(self.n, self.n_inputs, self.n_weights, self._angles(self.batched, True), self._angles(self.weights, False),
                       prefix, tuple(stages), needed, tables, zero)

    # ------------------------------------------------------------------ angles and matrices
    def _angle(self, op: Op, table: list) -> int:
        """Append the angle of a one-angle gate to ``table``; return its position."""
        _, _, _, alpha = gate_parts(op.name)
        a = op.angles[0]
        table.append((a.slot, alpha * a.scale, alpha * a.offset))
        return len(table) - 1

    def _pad(self, table: list) -> None:
        table.append((None, 0.0, 0.0))

    def _angles(self, table: list, batched: bool) -> Angles | None:
        """The table's `sweep.Angles`: each angle ``(slot into [x, w] or None, scale, offset)`` a column of the maps."""
        if not table:
            return None
        m = len(table)
        maps = np.zeros((self.n_inputs + self.n_weights, m))
        for j, (slot, scale, _) in enumerate(table):
            if slot is not None:
                maps[slot, j] = scale
        offset = np.array([o for _, _, o in table])
        x_map, w_map = np.split(np.concatenate([maps, maps], axis=1), [self.n_inputs])  # columns [φ, φ - π/2]
        return Angles(self._real(x_map) if batched else None, self._real(w_map.T), self._real(np.concatenate(
            [offset, offset - np.pi / 2])), self._real(maps[:self.n_inputs].T) if batched else None,
            self._real(maps[self.n_inputs:].T))

    def _real(self, values) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(values), dtype=self.dtype, device=self.device)

    def _complex(self, values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values), dtype=self.cdtype, device=self.device)

    def _parts(self, op: Op, qubits: tuple[int, ...], k: int) -> list[np.ndarray]:
        """``A, B, C`` of a parametric ``op`` (or its constant matrix as ``A``), on local ``qubits`` of ``k``."""
        if op.matrix is not None:
            a, b, c = op.matrix, np.zeros_like(op.matrix), np.zeros_like(op.matrix)
        else:
            a, b, c, _ = gate_parts(op.name)
        return [_embed(part, qubits, k) for part in (a, b, c)]

    # ------------------------------------------------------------------ the plan
    def _prefix(self, chains: list[list[Op]]) -> Prefix | None:
        entries = [self._chain(chain) for chain in chains]
        depth = max(map(len, entries), default=0)
        if depth == 0:
            return None
        batched = _reads_inputs([op for chain in chains for op in chain], self.n_inputs)
        table = self.batched if batched else self.weights
        start = len(table)
        grid = np.zeros((4, depth, self.n, 2, 2), dtype=complex)  # A, B, C, F
        for d in range(depth):
            for q, chain in enumerate(entries):
                if d < len(chain):
                    *grid[:, d, q], op = chain[d]
                    if op is None:
                        self._pad(table)
                    else:
                        self._angle(op, table)
                else:
                    grid[1, d, q] = np.eye(2)  # the identity at angle 0
                    self._pad(table)
        A, B, C, F = grid
        zero = np.array([1.0, 0.0])
        first = np.stack([_real_vector(m @ zero) for m in (A[0], B[0], C[0])])  # (3, n, 4)
        step = [np.concatenate([_block_diagonal(m[d]) for m in (A, B, C)], axis=1) for d in range(1, depth)]
        back = [np.concatenate([_block_diagonal(m[d].conj().swapaxes(-1, -2)) for m in (A, B, C)], axis=1)
                for d in range(1, depth)]
        return Prefix(self._real(first), self._real(np.reshape(step, (depth - 1, 4 * self.n, 12 * self.n))),
                      self._real(np.reshape(back, (depth - 1, 4 * self.n, 12 * self.n))),
                      self._real(_block_diagonal(F.reshape(-1, 2, 2))), batched, start,
                      _product_plan(self.n, self.device, self.cdtype))

    def _chain(self, ops: list[Op]) -> list[tuple]:
        """A qubit's prefix as ``(A, B, C, F, op)`` per parametric gate, constant gates folded in.

        A constant ``K`` before a gate ``G`` becomes ``G K`` (parts ``A K, B K, C K``; ``F`` stays
        ``C``); constants after the last gate become ``K G``, ``F = K C K†``; a chain of constants
        only is one constant ``A`` (``op`` None, no angle).
        """
        entries, pending = [], np.eye(2, dtype=complex)
        for op in ops:
            if op.matrix is not None:
                pending = op.matrix @ pending
                continue
            a, b, c, _ = gate_parts(op.name)
            entries.append((a @ pending, b @ pending, c @ pending, c, op))
            pending = np.eye(2, dtype=complex)
        if not entries:
            return [(pending, np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), None)] if ops else []
        a, b, c, f, op = entries[-1]
        entries[-1] = (pending @ a, pending @ b, pending @ c, pending @ f @ pending.conj().T, op)
        return entries

    def _steps(self, run_: list[Op], limit: int) -> list:
        """Gathers, constant unitaries and blocks for a weight-only run; a per-sample gate for an input-dependent one."""
        if _reads_inputs(run_, self.n_inputs):
            (op,) = run_
            qubits = tuple(sorted(op.qubits))
            parts = self._parts(op, tuple(qubits.index(q) for q in op.qubits), len(qubits))
            column = self._angle(op, self.batched)
            return [Gate(Where(self.n, qubits), *(self._complex(p) for p in parts), column)]
        steps = []
        fits = len({q for op in run_ for q in op.qubits}) <= limit  # one block: its gathers cost nothing there
        for piece in ([run_] if fits else _monomial_runs(run_)):
            if all(op.matrix is not None and is_monomial(op.matrix) for op in piece):
                steps.extend(permutation(op, self.n, self.cdtype, self.device) for op in piece)
                continue
            for block in _blocks(piece, limit):
                if all(op.matrix is not None and is_monomial(op.matrix) for op in block):
                    steps.extend(permutation(op, self.n, self.cdtype, self.device) for op in block)
                else:
                    steps.append(self._block(block))
        return steps

    def _block(self, ops: list[Op]):
        """One `Const` for a constant block, else a `Block`: constants merged, single-qubit gates in layers."""
        support = tuple(sorted({q for op in ops for q in op.qubits}))
        k, local = len(support), {q: i for i, q in enumerate(support)}
        where = Where(self.n, support)
        parts: list = []  # np.ndarray constants, dicts (qubit -> chain) for layers, Ops for segments
        for op in ops:
            qubits = tuple(local[q] for q in op.qubits)
            if op.matrix is not None:
                m = _embed(op.matrix, qubits, k)
                if parts and isinstance(parts[-1], np.ndarray):
                    parts[-1] = m @ parts[-1]
                else:
                    parts.append(m)
            elif len(qubits) == 1:
                if not (parts and isinstance(parts[-1], dict)):
                    parts.append({})
                parts[-1].setdefault(qubits[0], []).append(op)
            else:
                parts.append((op, qubits))
        start = parts.pop(0) if isinstance(parts[0], np.ndarray) else None
        if not parts:
            return Const(where, self._complex(start), self._complex(start.conj().T))
        return Block(where, self._start(start), tuple(self._part(part, k) for part in parts))

    def _start(self, start: np.ndarray | None):
        """A block's leading constant: ``None``, ``(columns, phase)`` if it is monomial (`sweep.Block`), else the matrix."""
        if start is None or not is_monomial(start):
            return None if start is None else self._complex(start)
        columns = (np.abs(start) > 1e-12).argmax(axis=0)  # the row of each column's non-zero
        phase = start[columns, np.arange(len(columns))]
        return (torch.as_tensor(columns, device=self.device),
                None if np.allclose(phase, 1, rtol=0, atol=1e-15) else self._complex(phase))

    def _part(self, part, k: int):
        if isinstance(part, np.ndarray):
            return self._complex(part)
        if isinstance(part, tuple):
            op, qubits = part
            return Segment(*(self._complex(p) for p in self._parts(op, qubits, k)), self._angle(op, self.weights))
        depth = max(map(len, part.values()))
        start = len(self.weights)
        grid = np.zeros((3, depth, k, 2, 2), dtype=complex)
        for d in range(depth):
            for q in range(k):
                chain = part.get(q, [])
                if d < len(chain):
                    grid[:, d, q] = self._parts(chain[d], (0,), 1)
                    self._angle(chain[d], self.weights)
                else:
                    grid[1, d, q] = np.eye(2)
                    self._pad(self.weights)
        return Layer(*(self._complex(g) for g in grid), start, _trace_index(k, self.device))

    def _perm(self, p: Permutation) -> Perm:
        if p.phase is None:
            return Perm(p.source, p.inverse, None, None)
        return Perm(p.source, p.inverse, p.phase.unsqueeze(-1), p.phase.conj()[p.inverse].unsqueeze(-1))


def _real_vector(v: np.ndarray) -> np.ndarray:
    """Complex vectors ``(..., 2)`` as 4 reals ``(re, im)`` per entry: ``(..., 4)``."""
    return np.stack([v.real, v.imag], axis=-1).reshape(*v.shape[:-1], 4)


def _block_diagonal(m: np.ndarray) -> np.ndarray:
    """Complex 2×2 matrices ``m (k, 2, 2)`` as one real ``(4k, 4k)`` table acting on `_real_vector` rows from the right.

    ``v @ R = m v``: ``R[(c, x), (a, y)]`` is ``Re m[a, c]`` for ``x = y``, ``∓ Im m[a, c]`` for ``(x, y) = (im, re), (re, im)``.
    """
    k = m.shape[0]
    out = np.zeros((k, 2, 2, k, 2, 2))  # (qubit in, c, re|im in, qubit out, a, re|im out)
    for q in range(k):
        t = m[q].T  # [c, a]
        out[q, :, 0, q, :, 0], out[q, :, 1, q, :, 1] = t.real, t.real
        out[q, :, 1, q, :, 0], out[q, :, 0, q, :, 1] = -t.imag, t.imag
    return out.reshape(4 * k, 4 * k)


def _embed(matrix: np.ndarray, qubits: tuple[int, ...], k: int) -> np.ndarray:
    """A gate's matrix on local ``qubits`` (its own order) as a ``(2^k, 2^k)`` operator on all ``k``."""
    rows = apply(torch.eye(2**k, dtype=torch.complex128), torch.tensor(np.asarray(matrix), dtype=torch.complex128), qubits, k)
    return rows.numpy().T  # rows[j] = G|j>


# The product state gathers and multiplies this many qubits' amplitudes at once
# (`sweep.ProductState`): a (64, 6, batch) tensor for 6 qubits.
KRON_CHUNK = 6


def _product_plan(n: int, device, cdtype) -> ProductState:
    """`sweep.ProductState`'s gathers and tables for ``n`` qubits, in chunks of at most ``KRON_CHUNK``."""
    index, pairs, bits, partners = [], [], [], []
    chunk = min(KRON_CHUNK, -(-n // 2))  # two chunks at least: their gathers stay smaller than the state
    for lo in range(0, n, chunk):
        k = min(chunk, n - lo)
        i, j = np.arange(2**k), np.arange(k)
        b = (i[:, None] >> j) & 1  # (2^k, k)
        index.append(torch.as_tensor(2 * (lo + j) + b, device=device))
        flips = i[None, :, None] ^ (np.arange(2)[None, None, :] << j[:, None, None])  # (k, 2^k, 2)
        pairs.append(torch.as_tensor(flips.reshape(-1), device=device))
        bits.append(torch.as_tensor(np.stack([b.T == 0, b.T == 1], axis=1), dtype=cdtype, device=device))
        a_xor_s = np.arange(2)[:, None] ^ np.arange(2)[None, :]  # (2, 2)
        partners.append(torch.as_tensor((2 * (lo + j)[:, None, None] + a_xor_s).reshape(-1), device=device))
    return ProductState(tuple(index), tuple(pairs), tuple(bits), tuple(partners))


def _trace_index(k: int, device) -> torch.Tensor:
    """Flat indices into a ``(2^k, 2^k)`` matrix, ``(k, 2, 2, 2^(k-1))``: entry ``(q, a, c)`` sums to its partial trace."""
    rest = np.arange(2 ** (k - 1))
    index = np.zeros((k, 2, 2, rest.size), dtype=np.int64)
    for q in range(k):
        low, high = rest & ((1 << q) - 1), (rest >> q) << (q + 1)
        for a in range(2):
            for c in range(2):
                index[q, a, c] = (high | low | (a << q)) * 2**k + (high | low | (c << q))
    return torch.as_tensor(index.reshape(-1), device=device)


def _runs(ops: list[Op], n_inputs: int) -> list[list[Op]]:
    """Split into maximal runs of input-independent gates and single input-dependent gates."""
    runs: list[tuple[bool, list[Op]]] = []
    for op in ops:
        dependent = _reads_inputs([op], n_inputs)
        if not dependent and runs and not runs[-1][0]:
            runs[-1][1].append(op)
        else:
            runs.append((dependent, [op]))
    return [run_ for _, run_ in runs]


def _monomial_runs(run_: list[Op]) -> list[list[Op]]:
    """Cut out every stretch of two or more permutation-and-phase gates: one gather, whatever its width."""
    pieces: list[tuple[bool, list[Op]]] = []
    for op in run_:
        mono = op.matrix is not None and is_monomial(op.matrix)
        if pieces and pieces[-1][0] == mono:
            pieces[-1][1].append(op)
        else:
            pieces.append((mono, [op]))
    merged: list[tuple[bool, list[Op]]] = []  # a lone monomial gate stays with its neighbours
    for mono, piece in pieces:
        if merged and not (mono and len(piece) > 1) and not merged[-1][0]:
            merged[-1][1].extend(piece)
        else:
            merged.append((mono and len(piece) > 1, piece))
    return [piece for _, piece in merged]


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


def _stages(steps: list, n: int) -> list[tuple]:
    """Consecutive steps on pairwise disjoint qubits: the reverse sweep takes their gradients at one point."""
    stages: list[list] = []
    used: set[int] = set()
    for step in steps:
        qubits = set(range(n)) if isinstance(step, Perm) else set(step.where.qubits)
        if stages and not (qubits & used):
            stages[-1].append(step)
            used |= qubits
        else:
            stages.append([step])
            used = set(qubits)
    return [tuple(stage) for stage in stages]


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
