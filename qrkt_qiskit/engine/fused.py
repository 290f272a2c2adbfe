"""The statevector program on the CPU as one compiled kernel: the gates, the expectations, the adjoint.

At a few qubits and a small batch, the torch sweep (`sweep`) is ~200 ATen calls of a few
microseconds each, and the call costs dispatch, not arithmetic (docs/benchmarks.md). Here
the lowered gates run as two numba-compiled loops, one for the forward pass and one for the
adjoint reverse pass, with no framework call per gate:

* the state is kept as real and imaginary ``(2^n, T)`` planes for a *tile* of ``T`` samples
  (at most `TILE_AMPLITUDES` amplitudes); every gate loops over amplitude pairs (or groups)
  with the tile's samples innermost, so the loops vectorise over samples;
* a parametric gate ``A + cos φ B + sin φ C`` (`gates.gate_parts`) is built per sample,
  ``φ = scale · v[slot] + offset``; a constant gate that only permutes and phases basis states
  (X, CNOT, CZ, SWAP, CCX, `kernels.is_monomial`) is applied as such, any other as its dense matrix;
* the reverse pass is the adjoint method: from the final state ``ψ`` and the co-state
  ``λ = dL/dψ`` (torch's convention, `observables.PauliTables.costate`) it un-applies the gates
  one by one and reads ``dL/dφ = Re <λ| (dG/dφ) G† ψ>`` at each gate's output; it stops at the
  first parametric gate.

It computes first derivatives only: a double backward (a WGAN-GP critic) and the
``torch.func`` transforms run the torch sweep, which autograd differentiates.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from .gates import gate_parts
from .state_ops import is_monomial, monomial_columns
from .lowering import Op
from .sweep import SweepPlan, gradients

__all__ = ["TILE_AMPLITUDES", "FusedProgram", "run"]

# A tile holds at most this many amplitudes per plane (the states of its samples): the loops
# vectorise over a tile's samples, so wide tiles run faster, even past the core's L2 cache
# (docs/benchmarks.md); this bounds the kernels' scratch, four planes of 1 MiB (float32).
TILE_AMPLITUDES = 1 << 18
_DENSE, _MONOMIAL, _PARAMETRIC = 0, 1, 2
_NO_ANGLE, _CONSTANT_ANGLE = -1, -2


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
                kind.append(_PARAMETRIC)
                mats += [*a.ravel(), *b.ravel(), *c.ravel()]
                angle = op.angles[0]
                source.append(_CONSTANT_ANGLE if angle.slot is None else angle.slot)
                scale.append(alpha * angle.scale)
                offset.append(alpha * angle.offset)
                continue
            source.append(_NO_ANGLE)
            scale.append(0.0)
            offset.append(0.0)
            if is_monomial(op.matrix):
                columns = monomial_columns(op.matrix)
                kind.append(_MONOMIAL)
                mats += list(op.matrix[np.arange(len(columns)), columns])
                perm += list(columns)
            else:
                kind.append(_DENSE)
                mats += list(op.matrix.ravel())
        parametric = [g for g, k in enumerate(kind) if k == _PARAMETRIC]
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
        self.tile = max(1, TILE_AMPLITUDES // dim)

    def _arrays(self):
        return (self.kind, self.width, self.offsets, self.qubits, self.sorted_qubits, self.mats_re, self.mats_im,
                self.perm, self.source, self.scale, self.offset, self.n, self.z_table, self.flips, self.x_re, self.x_im)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expectations ``(batch, n_observables)`` and the final state as ``(2, 2^n, batch)`` planes."""
        batch = x.shape[0]
        out = torch.empty(batch, self.n_observables, dtype=self.dtype)
        state = torch.empty(2, 2**self.n, batch, dtype=self.dtype)
        _forward(_numpy(x), _numpy(w), *self._arrays(), self.tile, out.numpy(), state.numpy())
        return out, state

    def backward(self, x: torch.Tensor, w: torch.Tensor, state: torch.Tensor, grad: torch.Tensor):
        """``dL/dx``, ``dL/dw`` from the final state ``forward`` returned and ``grad = dL/dout``."""
        gx = torch.zeros(x.shape, dtype=self.dtype)
        gw = np.zeros(w.shape[0], np.float64)
        _backward(_numpy(x), _numpy(w), *self._arrays(), self.tile, self.first_parametric, state.numpy(),
                  _numpy(grad), gx.numpy(), gw)
        return gx, torch.from_numpy(gw).to(self.dtype)


def run(fused: FusedProgram, program: SweepPlan, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``, one autograd node.

    ``program`` is the same circuit's torch sweep, which a double backward runs instead.
    """
    return _Fused.apply(x, w, fused, program)


class _Fused(torch.autograd.Function):
    """The kernels as one node; under ``create_graph`` its backward is the torch sweep's, recorded.

    The classic ``forward(ctx, ...)`` form: on this project's machine it costs ~90 µs less per
    call than ``setup_context`` with a non-differentiable second output (docs/benchmarks.md).
    """

    @staticmethod
    def forward(ctx, x, w, fused, program):
        out, ctx.state = fused.forward(x, w)
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
        return gx if ctx.needs_input_grad[0] else None, gw if ctx.needs_input_grad[1] else None, None, None


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


# ---------------------------------------------------------------------------------- kernels
_jit = numba.njit(cache=True, nogil=True)


@_jit
def _groups(n, qubits, sorted_qubits):
    """``(2^(n-k), 2^k)``: for each setting of the other qubits, the basis indices of a ``k``-qubit gate's
    local states (local index little-endian over ``qubits``, as the gate's matrix is)."""
    k = qubits.shape[0]
    d = 1 << k
    offs = np.zeros(d, np.int64)
    for a in range(d):
        for j in range(k):
            if (a >> j) & 1:
                offs[a] |= 1 << qubits[j]
    groups = np.empty((1 << (n - k), d), np.int64)
    for i in range(1 << (n - k)):
        base = i
        for q in sorted_qubits:  # insert a 0 bit at each of the gate's qubits
            base = ((base >> q) << (q + 1)) | (base & ((1 << q) - 1))
        for a in range(d):
            groups[i, a] = base | offs[a]
    return groups


@_jit
def _gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset, m_re, m_im,
                 dm_re, dm_im):
    """Gate ``g``'s matrix into ``m (d·d, T)`` and, if parametric, ``dG/dφ`` into ``dm``.

    Returns whether it differs between samples (its angle reads an input); if not, only
    column 0 is written.
    """
    dd = 1 << (2 * width[g])
    mo = offsets[g, 1]
    if kind[g] != _PARAMETRIC:
        for e in range(dd):
            m_re[e, 0] = mats_re[mo + e]
            m_im[e, 0] = mats_im[mo + e]
        return False
    nx = x.shape[1]
    src = source[g]
    per_sample = 0 <= src < nx
    n_t = T if per_sample else 1
    c, s = np.empty(n_t, m_re.dtype), np.empty(n_t, m_re.dtype)
    for t in range(n_t):
        v = 0.0 if src == _CONSTANT_ANGLE else (x[b0 + t, src] if per_sample else w[src - nx])
        phi = scale[g] * v + offset[g]
        c[t], s[t] = np.cos(phi), np.sin(phi)
    for e in range(dd):
        ar, br, cr = mats_re[mo + e], mats_re[mo + dd + e], mats_re[mo + 2 * dd + e]
        ai, bi, ci = mats_im[mo + e], mats_im[mo + dd + e], mats_im[mo + 2 * dd + e]
        mr, mi, dr, di = m_re[e], m_im[e], dm_re[e], dm_im[e]
        for t in range(n_t):
            mr[t] = ar + c[t] * br + s[t] * cr
            mi[t] = ai + c[t] * bi + s[t] * ci
            dr[t] = c[t] * cr - s[t] * br
            di[t] = c[t] * ci - s[t] * bi
    return per_sample


@_jit
def _broadcast(dd, T, m_re, m_im):
    """Copy column 0 of ``m (d·d, T)`` into every column: a shared matrix as a per-sample one."""
    for e in range(dd):
        for t in range(1, T):
            m_re[e, t] = m_re[e, 0]
            m_im[e, t] = m_im[e, 0]


@_jit
def _apply_1q(re, im, n, q, m_re, m_im):
    """A one-qubit matrix per sample ``m (4, T)`` on qubit ``q`` of the tile's planes ``(2^n, T)``."""
    T = re.shape[1]
    low = (1 << q) - 1
    m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i = m_re[0], m_im[0], m_re[1], m_im[1], m_re[2], m_im[2], m_re[3], m_im[3]
    for i in range(1 << (n - 1)):
        i0 = ((i >> q) << (q + 1)) | (i & low)
        r0, j0, r1, j1 = re[i0], im[i0], re[i0 | (1 << q)], im[i0 | (1 << q)]
        for t in range(T):
            ar, ai, br, bi = r0[t], j0[t], r1[t], j1[t]
            r0[t] = m0r[t] * ar - m0i[t] * ai + m1r[t] * br - m1i[t] * bi
            j0[t] = m0r[t] * ai + m0i[t] * ar + m1r[t] * bi + m1i[t] * br
            r1[t] = m2r[t] * ar - m2i[t] * ai + m3r[t] * br - m3i[t] * bi
            j1[t] = m2r[t] * ai + m2i[t] * ar + m3r[t] * bi + m3i[t] * br


@_jit
def _apply_1q_shared(re, im, n, q, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i):
    """A one-qubit matrix shared by the samples (eight scalars), which the loop over samples vectorises."""
    T = re.shape[1]
    low = (1 << q) - 1
    for i in range(1 << (n - 1)):
        i0 = ((i >> q) << (q + 1)) | (i & low)
        r0, j0, r1, j1 = re[i0], im[i0], re[i0 | (1 << q)], im[i0 | (1 << q)]
        for t in range(T):
            ar, ai, br, bi = r0[t], j0[t], r1[t], j1[t]
            r0[t] = m0r * ar - m0i * ai + m1r * br - m1i * bi
            j0[t] = m0r * ai + m0i * ar + m1r * bi + m1i * br
            r1[t] = m2r * ar - m2i * ai + m3r * br - m3i * bi
            j1[t] = m2r * ai + m2i * ar + m3r * bi + m3i * br


@_jit
def _grad_1q_shared(re, im, l_re, l_im, n, q, d0r, d0i, d1r, d1i, d2r, d2i, d3r, d3i, dphi):
    """``dphi[t] += Re <λ_t| dG ψ_t>`` for a shared one-qubit ``dG`` (eight scalars)."""
    T = re.shape[1]
    low = (1 << q) - 1
    for i in range(1 << (n - 1)):
        i0 = ((i >> q) << (q + 1)) | (i & low)
        i1 = i0 | (1 << q)
        r0, j0, r1, j1 = re[i0], im[i0], re[i1], im[i1]
        s0, k0, s1, k1 = l_re[i0], l_im[i0], l_re[i1], l_im[i1]
        for t in range(T):
            pr, pi, qr, qi = r0[t], j0[t], r1[t], j1[t]
            vr = d0r * pr - d0i * pi + d1r * qr - d1i * qi
            vi = d0r * pi + d0i * pr + d1r * qi + d1i * qr
            ur = d2r * pr - d2i * pi + d3r * qr - d3i * qi
            ui = d2r * pi + d2i * pr + d3r * qi + d3i * qr
            dphi[t] += s0[t] * vr + k0[t] * vi + s1[t] * ur + k1[t] * ui


@_jit
def _apply_dense(re, im, n, qubits, sorted_qubits, m_re, m_im, acc_re, acc_im):
    """A ``k``-qubit matrix per sample ``m (d·d, T)``; ``acc (d, T)`` is scratch."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in _groups(n, qubits, sorted_qubits):
        for a in range(d):
            ar, ai = acc_re[a], acc_im[a]
            ar[:] = 0.0
            ai[:] = 0.0
            for c in range(d):
                sr, si = re[idx[c]], im[idx[c]]
                mr, mi = m_re[a * d + c], m_im[a * d + c]
                for t in range(T):
                    ar[t] += mr[t] * sr[t] - mi[t] * si[t]
                    ai[t] += mr[t] * si[t] + mi[t] * sr[t]
        for a in range(d):
            re[idx[a]] = acc_re[a]
            im[idx[a]] = acc_im[a]


@_jit
def _apply_monomial(re, im, n, qubits, sorted_qubits, perm, ph_re, ph_im, inverse, acc_re, acc_im):
    """``new[a] = ph[a] · old[perm[a]]`` on the gate's local indices (``inverse``: its adjoint)."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in _groups(n, qubits, sorted_qubits):
        for a in range(d):
            acc_re[a] = re[idx[a]]
            acc_im[a] = im[idx[a]]
        for a in range(d):
            pr, pi = ph_re[a], ph_im[a]
            if inverse:  # old[perm[a]] = conj(ph[a]) · new[a]
                pi = -pi
                dst, src = idx[perm[a]], a
            else:
                dst, src = idx[a], perm[a]
            tr, ti, sr, si = re[dst], im[dst], acc_re[src], acc_im[src]
            for t in range(T):
                tr[t] = pr * sr[t] - pi * si[t]
                ti[t] = pr * si[t] + pi * sr[t]


@_jit
def _apply(g, re, im, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, m_re, m_im,
           per_sample, acc_re, acc_im, inverse):
    """Gate ``g`` with its matrix ``m`` (`_gate_matrix`; unused if monomial) or, with ``inverse``, ``G†``."""
    k = width[g]
    qo, mo, po = offsets[g, 0], offsets[g, 1], offsets[g, 2]
    qs, sq = qubits[qo:qo + k], sorted_qubits[qo:qo + k]
    if kind[g] == _MONOMIAL:
        d = 1 << k
        _apply_monomial(re, im, n, qs, sq, perm[po:po + d], mats_re[mo:mo + d], mats_im[mo:mo + d], inverse,
                        acc_re, acc_im)
        return
    if inverse:
        _adjoint_in_place(1 << k, re.shape[1] if per_sample else 1, m_re, m_im)
    if k == 1 and not per_sample:
        _apply_1q_shared(re, im, n, qs[0], m_re[0, 0], m_im[0, 0], m_re[1, 0], m_im[1, 0], m_re[2, 0], m_im[2, 0],
                         m_re[3, 0], m_im[3, 0])
    elif k == 1:
        _apply_1q(re, im, n, qs[0], m_re, m_im)
    else:
        if not per_sample:
            _broadcast(1 << (2 * k), re.shape[1], m_re, m_im)
        _apply_dense(re, im, n, qs, sq, m_re, m_im, acc_re, acc_im)
    if inverse:
        _adjoint_in_place(1 << k, re.shape[1] if per_sample else 1, m_re, m_im)


@_jit
def _adjoint_in_place(d, T, m_re, m_im):
    """``m <- m†`` per sample (its own inverse: called twice, it restores ``m``)."""
    for r in range(d):
        for t in range(T):
            m_im[r * d + r, t] = -m_im[r * d + r, t]
        for c in range(r + 1, d):
            for t in range(T):
                a_re, a_im = m_re[r * d + c, t], m_im[r * d + c, t]
                m_re[r * d + c, t], m_im[r * d + c, t] = m_re[c * d + r, t], -m_im[c * d + r, t]
                m_re[c * d + r, t], m_im[c * d + r, t] = a_re, -a_im


@_jit
def _expectations(re, im, z_table, flips, x_re, x_im, out, b0):
    """``out[b0 + t, o] = <ψ_t|O_o|ψ_t>`` from the Pauli tables (`observables.PauliTables`)."""
    dim, T = re.shape
    n_obs = out.shape[1]
    acc = np.zeros((n_obs, T), re.dtype)
    if z_table.shape[0] > 0:
        for i in range(dim):
            for o in range(n_obs):
                z = z_table[i, o]
                for t in range(T):
                    acc[o, t] += z * (re[i, t] * re[i, t] + im[i, t] * im[i, t])
    for gi in range(flips.shape[0]):
        f = flips[gi]
        for i in range(dim):
            j = i ^ f
            for o in range(n_obs):
                tr, ti = x_re[gi, i, o], x_im[gi, i, o]
                for t in range(T):  # Re(conj(ψ_i) ψ_j (tr + i ti))
                    pr = re[i, t] * re[j, t] + im[i, t] * im[j, t]
                    pi = re[i, t] * im[j, t] - im[i, t] * re[j, t]
                    acc[o, t] += pr * tr - pi * ti
    for o in range(n_obs):
        for t in range(T):
            out[b0 + t, o] = acc[o, t]


@_jit
def _costate(re, im, z_table, flips, x_re, x_im, grad, b0, l_re, l_im):
    """``λ = dL/dψ`` of the tile from ``grad = dL/dout`` (`observables.PauliTables.costate`)."""
    dim, T = re.shape
    n_obs = grad.shape[1]
    g = np.empty((n_obs, T), re.dtype)  # the tile's grad, samples innermost
    for o in range(n_obs):
        for t in range(T):
            g[o, t] = grad[b0 + t, o]
    l_re[:, :] = 0.0
    l_im[:, :] = 0.0
    if z_table.shape[0] > 0:
        zg = np.zeros(T, re.dtype)
        for i in range(dim):
            zg[:] = 0.0
            for o in range(n_obs):
                z2, go = 2.0 * z_table[i, o], g[o]
                for t in range(T):
                    zg[t] += z2 * go[t]
            rr, ri, lr, li = re[i], im[i], l_re[i], l_im[i]
            for t in range(T):
                lr[t] = zg[t] * rr[t]
                li[t] = zg[t] * ri[t]
    if flips.shape[0] == 0:
        return
    tt_re = np.empty((dim, T), re.dtype)
    tt_im = np.empty((dim, T), re.dtype)
    for gi in range(flips.shape[0]):
        f = flips[gi]
        tt_re[:, :] = 0.0
        tt_im[:, :] = 0.0
        for i in range(dim):
            tr, ti = tt_re[i], tt_im[i]
            for o in range(n_obs):
                xr, xi, go = x_re[gi, i, o], x_im[gi, i, o], g[o]
                for t in range(T):
                    tr[t] += xr * go[t]
                    ti[t] += xi * go[t]
        for i in range(dim):
            j = i ^ f
            rj, ij, lr, li = re[j], im[j], l_re[i], l_im[i]
            for t in range(T):  # ψ_j (t_i + conj(t_j))
                sr = tt_re[i, t] + tt_re[j, t]
                si = tt_im[i, t] - tt_im[j, t]
                lr[t] += rj[t] * sr - ij[t] * si
                li[t] += rj[t] * si + ij[t] * sr


@_jit
def _angle_grad(re, im, l_re, l_im, n, qubits, sorted_qubits, dm_re, dm_im, dphi):
    """``dphi[t] += Re <λ_t| dG ψ_t>`` for a gate with per-sample derivative ``dm (d·d, T)``."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in _groups(n, qubits, sorted_qubits):
        for a in range(d):
            lr, li = l_re[idx[a]], l_im[idx[a]]
            for c in range(d):
                sr, si = re[idx[c]], im[idx[c]]
                mr, mi = dm_re[a * d + c], dm_im[a * d + c]
                for t in range(T):
                    vr = mr[t] * sr[t] - mi[t] * si[t]
                    vi = mr[t] * si[t] + mi[t] * sr[t]
                    dphi[t] += lr[t] * vr + li[t] * vi


@_jit
def _scratch(d, T, dtype):
    """A gate's per-sample matrix ``m``, its derivative ``dm`` (``(d·d, T)`` planes each) and ``acc (d, T)``."""
    return (np.empty((d * d, T), dtype), np.empty((d * d, T), dtype), np.empty((d * d, T), dtype),
            np.empty((d * d, T), dtype), np.empty((d, T), dtype), np.empty((d, T), dtype))


@_jit
def _forward(x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset, n,
             z_table, flips, x_re, x_im, tile, out, state):
    """Every tile from ``|0…0>`` through the gates; expectations into ``out``, final planes into ``state``."""
    batch = x.shape[0]
    dim = 1 << n
    dtype = state.dtype
    d = 1 << max(1, width.max()) if width.shape[0] else 2
    for b0 in range(0, batch, tile):
        T = min(tile, batch - b0)
        r, i_ = np.zeros((dim, T), dtype), np.zeros((dim, T), dtype)
        m_re, m_im, dm_re, dm_im, acc_re, acc_im = _scratch(d, T, dtype)
        r[0, :] = 1.0
        for g in range(kind.shape[0]):
            per_sample = False
            if kind[g] != _MONOMIAL:
                per_sample = _gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale,
                                          offset, m_re, m_im, dm_re, dm_im)
            _apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                   m_re, m_im, per_sample, acc_re, acc_im, False)
        _expectations(r, i_, z_table, flips, x_re, x_im, out, b0)
        for j in range(dim):
            for t in range(T):
                state[0, j, b0 + t] = r[j, t]
                state[1, j, b0 + t] = i_[j, t]


@_jit
def _backward(x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset, n,
              z_table, flips, x_re, x_im, tile, first_parametric, state, grad, gx, gw):
    """The adjoint sweep of every tile: ``dL/dφ`` at each parametric gate, into ``gx`` and ``gw``."""
    batch, nx = x.shape
    dim = 1 << n
    dtype = state.dtype
    d = 1 << max(1, width.max()) if width.shape[0] else 2
    for b0 in range(0, batch, tile):
        T = min(tile, batch - b0)
        r, i_ = np.empty((dim, T), dtype), np.empty((dim, T), dtype)
        lr, li = np.empty((dim, T), dtype), np.empty((dim, T), dtype)
        m_re, m_im, dm_re, dm_im, acc_re, acc_im = _scratch(d, T, dtype)
        dphi = np.empty(T, dtype)
        for j in range(dim):
            for t in range(T):
                r[j, t] = state[0, j, b0 + t]
                i_[j, t] = state[1, j, b0 + t]
        _costate(r, i_, z_table, flips, x_re, x_im, grad, b0, lr, li)
        for g in range(kind.shape[0] - 1, first_parametric - 1, -1):
            k = width[g]
            parametric = kind[g] == _PARAMETRIC
            costate = g > first_parametric  # an earlier parametric gate reads λ
            # ψ is un-applied always: the angle's gradient reads dG ψ before the gate, as earlier gates do
            per_sample = False
            if kind[g] != _MONOMIAL:
                per_sample = _gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale,
                                          offset, m_re, m_im, dm_re, dm_im)
            qo = offsets[g, 0]
            dphi[:] = 0.0
            if k == 1 and kind[g] != _MONOMIAL and not per_sample:  # three vectorised passes
                q = qubits[qo]
                a = (m_re[0, 0], -m_im[0, 0], m_re[2, 0], -m_im[2, 0], m_re[1, 0], -m_im[1, 0], m_re[3, 0], -m_im[3, 0])
                _apply_1q_shared(r, i_, n, q, *a)
                if parametric:
                    _grad_1q_shared(r, i_, lr, li, n, q, dm_re[0, 0], dm_im[0, 0], dm_re[1, 0], dm_im[1, 0],
                                    dm_re[2, 0], dm_im[2, 0], dm_re[3, 0], dm_im[3, 0], dphi)
                if costate:
                    _apply_1q_shared(lr, li, n, q, *a)
            else:
                _apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                       m_re, m_im, per_sample, acc_re, acc_im, True)
                if parametric:
                    if not per_sample:
                        _broadcast(1 << (2 * k), T, dm_re, dm_im)
                    _angle_grad(r, i_, lr, li, n, qubits[qo:qo + k], sorted_qubits[qo:qo + k], dm_re, dm_im, dphi)
                if costate:
                    _apply(g, lr, li, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                           m_re, m_im, per_sample, acc_re, acc_im, True)
            if parametric:
                src = source[g]
                if 0 <= src < nx:
                    for t in range(T):
                        gx[b0 + t, src] += scale[g] * dphi[t]
                elif src >= nx:
                    total = 0.0
                    for t in range(T):
                        total += dphi[t]
                    gw[src - nx] += scale[g] * total
