"""The statevector program on the CPU as one compiled kernel: the gates, the expectations, the adjoint.

The torch sweep (`sweep`) applies a per-sample gate (an input read after an entangler) as
several tensor ops over the whole ``(2^n, batch)`` state, and pays ~200 ATen calls of
dispatch per call at a few qubits (docs/benchmarks.md). Here the lowered gates run as two
numba-compiled passes, a forward and an adjoint reverse pass (`fused_kernels`), at every
width the memory check admits, with no framework call per gate:

* the batch is cut into tiles of ``T`` samples that run in parallel on
  ``torch.get_num_threads()`` Python threads (``qrkt --threads``; the kernels release the GIL); a tile's state is kept as real
  and imaginary ``(2^n, T)`` planes with the samples innermost, so every gate's loop
  vectorises over samples (`fused_kernels`);
* a parametric gate ``A + cos φ B + sin φ C`` (`gates.gate_parts`) is built per sample,
  ``φ = scale · v[slot] + offset``, and applied in place; runs of one-qubit gates on a qubit
  are one pass over the state; a constant multi-qubit gate that only permutes and phases
  basis states (CNOT, CZ, SWAP, CCX, `state_ops.is_monomial`) is applied as such, any other
  as its dense matrix;
* every observable is read from the final state in one pass (`observables.PauliTables`);
* the reverse pass is the adjoint method: from the final state ``ψ`` and the co-state
  ``λ = dL/dψ`` it un-applies the gates and reads ``dL/dφ = Re <λ| (dG/dφ) G† ψ>`` at each
  gate's output; it stops at the first parametric gate.

`dispatch.choose` decides per call whether this kernel or the torch sweep runs; the sweep
stays where this kernel cannot go: CUDA tensors, a double backward (``create_graph``: a
WGAN-GP critic; this kernel computes first derivatives only), and tracing
(``torch.compile``, ``torch.export``, the ``torch.func`` transforms), which cannot see
inside a numba call.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from . import fused_kernels
from .fused_kernels import CONSTANT_ANGLE, DENSE, MONOMIAL, NO_ANGLE, PARAMETRIC, monomial_swaps
from .gates import gate_parts
from .lowering import Op
from .state_ops import is_monomial, monomial_columns
from .sweep import SweepPlan, gradients

__all__ = ["MIN_TILE", "PARALLEL_AMPLITUDES", "TILE_AMPLITUDES", "FusedProgram", "run"]

# A tile holds at most this many amplitudes per plane (the states of its samples): the loops
# vectorise over a tile's samples, so wide tiles run faster, even past the core's L2 cache
# (docs/benchmarks.md); this bounds the kernels' scratch, four planes of 1 MiB (float32).
TILE_AMPLITUDES = 1 << 18
# ... but a tile keeps at least this many samples (two AVX-512 float32 vectors) at any width.
MIN_TILE = 16
# A call with fewer amplitudes (batch · 2^n) runs on one thread: waking a second one costs more, and
# on a busy machine far more (a 64-sample 6-qubit call ran 20x slower on two threads).
PARALLEL_AMPLITUDES = 1 << 16


class FusedProgram:
    """A lowered circuit and its Pauli tables as the flat arrays the kernels read, for one dtype.

    Args:
        ops: the lowered gates (``u`` already split into ``rz ry rz``).
        tables: the observables' `observables.PauliTables`.
        n_qubits: the circuit's width (angle slots below the call's input count read inputs, the rest weights).
        dtype: ``torch.float32`` or ``torch.float64``, the precision of every plane.
    """

    def __init__(self, ops: list[Op], tables, *, n_qubits: int, dtype: torch.dtype):
        self.n, self.dtype = n_qubits, dtype
        real = np.float64 if dtype == torch.float64 else np.float32
        kind, width, qubits, sorted_qubits, mats, perm, source, scale, offset = [], [], [], [], [], [], [], [], []
        self.offsets = np.zeros((len(ops), 3), dtype=np.int64)  # into qubits, mats, perm
        for g, op in enumerate(ops):
            self.offsets[g] = len(qubits), len(mats), len(perm)
            qubits += op.qubits
            sorted_qubits += sorted(op.qubits)
            width.append(len(op.qubits))
            if op.matrix is None:
                a, b, c, alpha = gate_parts(op.name)
                kind.append(PARAMETRIC)
                mats += [*a.ravel(), *b.ravel(), *c.ravel()]
                angle = op.angles[0]
                source.append(CONSTANT_ANGLE if angle.slot is None else angle.slot)
                scale.append(alpha * angle.scale)
                offset.append(alpha * angle.offset)
                continue
            source.append(NO_ANGLE)
            scale.append(0.0)
            offset.append(0.0)
            if len(op.qubits) > 1 and is_monomial(op.matrix):  # one-qubit gates join their qubit's run
                columns = monomial_columns(op.matrix)
                kind.append(MONOMIAL)
                mats += list(op.matrix[np.arange(len(columns)), columns])
                perm += monomial_swaps(columns)
            else:
                kind.append(DENSE)
                mats += list(op.matrix.ravel())
        parametric = [g for g, k in enumerate(kind) if k == PARAMETRIC]
        self.first_parametric = parametric[0] if parametric else len(ops)
        mats = np.asarray(mats, dtype=complex)
        self.kind, self.width = np.asarray(kind, np.int64), np.asarray(width, np.int64)
        self.qubits, self.sorted_qubits = np.asarray(qubits, np.int64), np.asarray(sorted_qubits, np.int64)
        self.mats_re, self.mats_im = mats.real.astype(real), mats.imag.astype(real)
        self.perm = np.asarray(perm, np.int64)
        self.source = np.asarray(source, np.int64)
        self.scale, self.offset = np.asarray(scale, real), np.asarray(offset, real)
        dim, n_obs = 2**n_qubits, tables.n_observables
        z = tables.z_table
        self.z_table = np.zeros((0, n_obs), real) if z is None else np.ascontiguousarray(z.cpu().numpy(), real)
        self.flips = np.asarray([int(index[0]) for index, _ in tables.x_groups], np.int64)
        x_tables = np.stack([t.cpu().numpy() for _, t in tables.x_groups]) if tables.x_groups else np.zeros((0, dim, n_obs))
        self.x_re = np.array(x_tables.real, real)  # copies: writable, so one compiled type whatever the tables
        self.x_im = np.array(x_tables.imag, real)
        self.n_observables = n_obs
        self.max_tile = max(MIN_TILE, TILE_AMPLITUDES // dim)

    def _arrays(self):
        return (self.kind, self.width, self.offsets, self.qubits, self.sorted_qubits, self.mats_re, self.mats_im,
                self.perm, self.source, self.scale, self.offset, self.n, self.z_table, self.flips, self.x_re, self.x_im)

    def tiles(self, batch: int) -> tuple[int, int]:
        """Samples per tile and threads: tiles as wide as `TILE_AMPLITUDES` allows, but one per thread at
        least; ``torch.get_num_threads()`` threads (``qrkt --threads``), one below `PARALLEL_AMPLITUDES`."""
        threads = max(1, torch.get_num_threads()) if batch * 2**self.n >= PARALLEL_AMPLITUDES else 1
        return max(1, min(self.max_tile, -(-batch // threads))), threads

    def forward(self, x: torch.Tensor, w: torch.Tensor, keep_state: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Expectations ``(batch, n_observables)`` and the final state as ``(2, 2^n, batch)`` planes
        (``(2, 0, 0)`` unless ``keep_state``: the reverse pass starts from it)."""
        batch = x.shape[0]
        tile, threads = self.tiles(batch)
        out = torch.empty(batch, self.n_observables, dtype=self.dtype)
        state = torch.empty((2, 2**self.n, batch) if keep_state else (2, 0, 0), dtype=self.dtype)
        _on_threads(fused_kernels.forward, -(-batch // tile), threads, _numpy(x), _numpy(w), *self._arrays(), tile,
                    out.numpy(), state.numpy())
        return out, state

    def backward(self, x: torch.Tensor, w: torch.Tensor, state: torch.Tensor, grad: torch.Tensor):
        """``dL/dx``, ``dL/dw`` from the final state ``forward`` returned and ``grad = dL/dout``."""
        batch = x.shape[0]
        tile, threads = self.tiles(batch)
        n_tiles = -(-batch // tile)
        gx = torch.zeros(x.shape, dtype=self.dtype)
        gw = np.zeros((n_tiles, w.shape[0]), np.float64)  # one row per tile: the threads share no sum
        _on_threads(fused_kernels.backward, n_tiles, threads, _numpy(x), _numpy(w), *self._arrays(), tile,
                    self.first_parametric, state.numpy(), _numpy(grad), gx.numpy(), gw)
        return gx, torch.from_numpy(gw.sum(0)).to(self.dtype)


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """The helper threads for ``workers + 1``-thread calls (one pool per thread count torch was given)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="qrkt-kernel")


def _on_threads(kernel, n_tiles: int, threads: int, *args) -> None:
    """``kernel(k0, k1, *args)`` over tiles ``0 … n_tiles-1`` cut into ``threads`` ranges, one per thread
    (the kernels release the GIL); the calling thread runs the first range."""
    threads = min(threads, n_tiles)
    bounds = [n_tiles * i // threads for i in range(threads + 1)]
    if threads == 1:
        kernel(0, n_tiles, *args)
        return
    pool = _pool(threads - 1)
    rest = [pool.submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(1, threads)]
    kernel(bounds[0], bounds[1], *args)
    for future in rest:
        future.result()


def run(fused: FusedProgram, program: SweepPlan, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``, one autograd node.

    ``program`` is the same circuit's torch sweep, which a double backward runs instead.
    """
    keep_state = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)  # no reverse pass, no state
    return _Fused.apply(x, w, fused, program, keep_state)


class _Fused(torch.autograd.Function):
    """The kernels as one node; under ``create_graph`` its backward is the torch sweep's, recorded.

    The classic ``forward(ctx, ...)`` form: on this project's machine it costs ~90 µs less per
    call than ``setup_context`` with a non-differentiable second output (docs/benchmarks.md).
    """

    @staticmethod
    def forward(ctx, x, w, fused, program, keep_state):
        out, ctx.state = fused.forward(x, w, keep_state)
        ctx.fused, ctx.program = fused, program
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        if torch.is_grad_enabled():  # a double backward: autograd records the torch sweep
            gx, gw = gradients(ctx.program, x, w, grad, ctx.needs_input_grad[0])
        else:
            gx, gw = ctx.fused.backward(x, w, ctx.state, grad)
        return gx if ctx.needs_input_grad[0] else None, gw if ctx.needs_input_grad[1] else None, None, None, None


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()
