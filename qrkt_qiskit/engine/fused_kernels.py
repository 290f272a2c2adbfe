"""The numba code of the compiled CPU kernel (`fused`): its two passes and their gate primitives.

One module on purpose: numba's cache keys a compiled function by its own file, not by the
files of the functions it inlines, so a pass compiled against another module's older
primitives would be reused (and crash) after that module changed.

The batch is cut into tiles of ``T`` samples; `forward` and `backward` run a range of tiles
and release the GIL, so `fused` runs ranges on several Python threads at once (numba's
``prange`` did the same but took ~2 minutes more to compile, more than the kernels
themselves). Each tile runs the whole circuit on its own ``(2^n, T)`` planes, so the threads
share nothing but the read-only gate tables and write disjoint rows of the results.

Runs of one-qubit gates on a qubit are applied in one pass over the state: the forward
multiplies their matrices (per sample where an angle reads an input) and applies the
product when a multi-qubit gate needs the qubit, or at the end; the reverse pass
un-applies a run from ``ψ`` and ``λ`` in one pass, reading each angle's gradient on the
way (`chain_adjoint`). Gates on other qubits commute with the pending run, and
so do their gradients: ``<λ|dG ψ>`` is unchanged by a unitary on other qubits applied to both.

A tile's state is kept as real and imaginary planes ``(2^n, T)``, samples innermost, so
that every loop over a row vectorises over the tile's samples. A gate's matrix is either
shared by the tile (only column 0 of its ``(d·d, T)`` buffer is written) or one per sample.

Written for a short first call (numba compiles on it, per precision, then caches): numba
optimises every caller's module again with all its callees linked in, so the call tree is
kept shallow (no wrapper around the tile loop); array-to-array slice assignments are loops
(their broadcast error pulls string formatting into the compile); and no argument is a
bool constant (numba compiles a function once more for each constant it is called with).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["CHAIN", "CONSTANT_ANGLE", "DENSE", "MONOMIAL", "NO_ANGLE", "PARAMETRIC", "backward", "forward",
           "monomial_swaps"]

CHAIN = 8  # the reverse pass un-applies at most this many one-qubit gates of a qubit in one pass
DENSE, MONOMIAL, PARAMETRIC = 0, 1, 2  # how a gate is applied
NO_ANGLE, CONSTANT_ANGLE = -1, -2  # angle sources that are not a slot of [x, w]
jit = numba.njit(cache=True, nogil=True)  # nogil: `fused` runs tiles on several Python threads at once


@jit
def forward(k0, k1, x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset,
            n, z_table, flips, x_re, x_im, tile, out, state):
    """Tiles ``k0 … k1-1`` from ``|0…0>`` through the gates; expectations into ``out``, final planes into
    ``state`` (``(2, 2^n, batch)``, or ``(2, 0, 0)``: not kept)."""
    batch = x.shape[0]
    dim = 1 << n
    dtype = out.dtype
    dd = _scratch(width)
    keep = state.shape[1] > 0
    for k in range(k0, k1):
        b0 = k * tile
        T = min(tile, batch - b0)
        r, i_ = np.zeros((dim, T), dtype), np.zeros((dim, T), dtype)
        m_re, m_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        dm_re, dm_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        acc_re, acc_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        p_re, p_im = np.empty((n, 4, T), dtype), np.empty((n, 4, T), dtype)  # the pending run of each qubit
        p_ps, p_on = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
        for t in range(T):
            r[0, t] = 1.0
        for g in range(kind.shape[0]):
            qo = offsets[g, 0]
            if width[g] == 1:
                q = qubits[qo]
                ps = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset,
                                 m_re, m_im, dm_re, dm_im)
                if p_on[q]:
                    p_ps[q] = compose_1q(m_re, m_im, ps, p_re[q], p_im[q], p_ps[q], T, p_re[q], p_im[q])
                else:
                    for e in range(4):
                        for t in range(T if ps else 1):
                            p_re[q, e, t] = m_re[e, t]
                            p_im[q, e, t] = m_im[e, t]
                    p_ps[q], p_on[q] = ps, True
                continue
            for j in range(qo, qo + width[g]):
                q = qubits[j]
                if p_on[q]:
                    apply_1q(r, i_, n, q, p_re[q], p_im[q], p_ps[q])
                    p_on[q] = False
            per_sample = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset,
                                     m_re, m_im, dm_re, dm_im)
            apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                  m_re, m_im, per_sample, acc_re, acc_im, 1.0)
        for q in range(n):
            if p_on[q]:
                apply_1q(r, i_, n, q, p_re[q], p_im[q], p_ps[q])
        expectations(r, i_, z_table, flips, x_re, x_im, out, b0)
        if keep:
            for j in range(dim):
                for t in range(T):
                    state[0, j, b0 + t] = r[j, t]
                    state[1, j, b0 + t] = i_[j, t]


@jit
def backward(k0, k1, x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset,
             n, z_table, flips, x_re, x_im, tile, first_parametric, state, grad, gx, gw):
    """The adjoint sweep of tiles ``k0 … k1-1``: ``dL/dφ`` at each parametric gate, into ``gx`` and tile ``k``'s
    row ``gw[k]``."""
    batch, nx = x.shape
    dim = 1 << n
    dtype = state.dtype
    dd = _scratch(width)
    for k in range(k0, k1):
        b0 = k * tile
        T = min(tile, batch - b0)
        r, i_ = np.empty((dim, T), dtype), np.empty((dim, T), dtype)
        lr, li = np.empty((dim, T), dtype), np.empty((dim, T), dtype)
        m_re, m_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        dm_re, dm_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        acc_re, acc_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        c_re, c_im = np.empty((n, CHAIN, 4, T), dtype), np.empty((n, CHAIN, 4, T), dtype)  # pending runs
        cd_re, cd_im = np.empty((n, CHAIN, 4, T), dtype), np.empty((n, CHAIN, 4, T), dtype)
        c_ps, c_param = np.zeros((n, CHAIN), np.bool_), np.zeros((n, CHAIN), np.bool_)
        c_gate, c_len = np.zeros((n, CHAIN), np.int64), np.zeros(n, np.int64)
        dphi = np.empty((CHAIN, T), dtype)
        for j in range(dim):
            for t in range(T):
                r[j, t] = state[0, j, b0 + t]
                i_[j, t] = state[1, j, b0 + t]
        costate(r, i_, z_table, flips, x_re, x_im, grad, b0, lr, li)
        for g in range(kind.shape[0] - 1, first_parametric - 1, -1):
            qo, kw = offsets[g, 0], width[g]
            if kw == 1:
                q = qubits[qo]
                c = c_len[q]
                c_ps[q, c] = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale,
                                         offset, c_re[q, c], c_im[q, c], cd_re[q, c], cd_im[q, c])
                c_param[q, c], c_gate[q, c] = kind[g] == PARAMETRIC, g
                c_len[q] = c + 1
                if c + 1 == CHAIN:
                    chain_adjoint(r, i_, lr, li, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi,
                                  source, scale, nx, b0, gx, gw[k])
                continue
            for j in range(qo, qo + kw):
                if c_len[qubits[j]] > 0:
                    chain_adjoint(r, i_, lr, li, n, qubits[j], c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param,
                                  c_gate, dphi, source, scale, nx, b0, gx, gw[k])
            parametric = kind[g] == PARAMETRIC
            per_sample = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset,
                                     m_re, m_im, dm_re, dm_im)
            apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                  m_re, m_im, per_sample, acc_re, acc_im, -1.0)
            if parametric:
                if not per_sample:
                    broadcast(1 << (2 * kw), T, dm_re, dm_im)
                for t in range(T):
                    dphi[0, t] = 0.0
                angle_grad(r, i_, lr, li, n, qubits[qo:qo + kw], sorted_qubits[qo:qo + kw], dm_re, dm_im, dphi[0])
                _add_grad(g, dphi[0], source, scale, nx, b0, gx, gw[k])
            if g > first_parametric:  # an earlier parametric gate reads λ
                apply(g, lr, li, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                      m_re, m_im, per_sample, acc_re, acc_im, -1.0)
        for q in range(n):
            if c_len[q] > 0:
                chain_adjoint(r, i_, lr, li, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi,
                              source, scale, nx, b0, gx, gw[k])


@jit
def _scratch(width):
    """Entries of the largest gate's matrix, ``d·d`` (4 at least): the size of the per-gate scratch."""
    k = 1
    for g in range(width.shape[0]):
        k = max(k, width[g])
    return 1 << (2 * k)


@jit
def _add_grad(g, dphi, source, scale, nx, b0, gx, gw_row):
    """``dL/dφ`` of gate ``g``'s angle, per sample, into the input or weight it reads."""
    src = source[g]
    if 0 <= src < nx:
        for t in range(dphi.shape[0]):
            gx[b0 + t, src] += scale[g] * dphi[t]
    elif src >= nx:
        total = 0.0
        for t in range(dphi.shape[0]):
            total += dphi[t]
        gw_row[src - nx] += scale[g] * total


# ---------------------------------------------------------------------------- gate primitives


@jit
def groups(n, qubits, sorted_qubits):
    """``(2^(n-k), 2^k)``: for each setting of the other qubits, the basis indices of a ``k``-qubit gate's
    local states (local index little-endian over ``qubits``, as the gate's matrix is)."""
    k = qubits.shape[0]
    d = 1 << k
    offs = np.zeros(d, np.int64)
    for a in range(d):
        for j in range(k):
            if (a >> j) & 1:
                offs[a] |= 1 << qubits[j]
    out = np.empty((1 << (n - k), d), np.int64)
    for i in range(1 << (n - k)):
        base = i
        for q in sorted_qubits:  # insert a 0 bit at each of the gate's qubits
            base = ((base >> q) << (q + 1)) | (base & ((1 << q) - 1))
        for a in range(d):
            out[i, a] = base | offs[a]
    return out


@jit
def gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset, m_re, m_im,
                dm_re, dm_im):
    """Gate ``g``'s matrix into ``m (d·d, T)`` and, if parametric, ``dG/dφ`` into ``dm``.

    Returns whether it differs between samples (its angle reads an input); if not, only
    column 0 is written. A monomial gate writes nothing (`apply` reads its table).
    """
    if kind[g] == MONOMIAL:
        return False
    dd = 1 << (2 * width[g])
    mo = offsets[g, 1]
    if kind[g] != PARAMETRIC:
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
        v = 0.0 if src == CONSTANT_ANGLE else (x[b0 + t, src] if per_sample else w[src - nx])
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


@jit
def compose_1q(a_re, a_im, a_ps, b_re, b_im, b_ps, T, out_re, out_im):
    """``out = a @ b`` for one-qubit matrices ``(4, T)`` (``*_ps``: per sample, else column 0); returns
    whether ``out`` is per sample. ``out`` may be ``b``, not ``a``."""
    ps = a_ps or b_ps
    for t in range((T if ps else 1) - 1, -1, -1):  # column 0 last: a shared ``b`` may be ``out``
        ta, tb = (t if a_ps else 0), (t if b_ps else 0)
        b0r, b0i, b1r, b1i = b_re[0, tb], b_im[0, tb], b_re[1, tb], b_im[1, tb]
        b2r, b2i, b3r, b3i = b_re[2, tb], b_im[2, tb], b_re[3, tb], b_im[3, tb]
        for row in range(2):
            xr, xi = a_re[2 * row, ta], a_im[2 * row, ta]
            yr, yi = a_re[2 * row + 1, ta], a_im[2 * row + 1, ta]
            out_re[2 * row, t] = xr * b0r - xi * b0i + yr * b2r - yi * b2i
            out_im[2 * row, t] = xr * b0i + xi * b0r + yr * b2i + yi * b2r
            out_re[2 * row + 1, t] = xr * b1r - xi * b1i + yr * b3r - yi * b3i
            out_im[2 * row + 1, t] = xr * b1i + xi * b1r + yr * b3i + yi * b3r
    return ps


@jit
def apply_1q(re, im, n, q, m_re, m_im, per_sample):
    """A one-qubit matrix ``m (4, T)`` (per sample, or column 0 shared) on qubit ``q`` of the planes ``(2^n, T)``."""
    T = re.shape[1]
    low = (1 << q) - 1
    if not per_sample:
        m0r, m0i, m1r, m1i = m_re[0, 0], m_im[0, 0], m_re[1, 0], m_im[1, 0]
        m2r, m2i, m3r, m3i = m_re[2, 0], m_im[2, 0], m_re[3, 0], m_im[3, 0]
        for i in range(1 << (n - 1)):
            i0 = ((i >> q) << (q + 1)) | (i & low)
            r0, j0, r1, j1 = re[i0], im[i0], re[i0 | (1 << q)], im[i0 | (1 << q)]
            for t in range(T):
                ar, ai, br, bi = r0[t], j0[t], r1[t], j1[t]
                r0[t] = m0r * ar - m0i * ai + m1r * br - m1i * bi
                j0[t] = m0r * ai + m0i * ar + m1r * bi + m1i * br
                r1[t] = m2r * ar - m2i * ai + m3r * br - m3i * bi
                j1[t] = m2r * ai + m2i * ar + m3r * bi + m3i * br
        return
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


@jit
def chain_adjoint(re, im, l_re, l_im, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi, source,
                  scale, nx, b0, gx, gw_row):
    """Un-apply qubit ``q``'s pending run of one-qubit gates ``U = G_L … G_1`` from ``ψ`` and ``λ`` and add
    each parametric gate's ``dL/dφ = Re <λ_t| dG ψ_t>`` at its output (`_add_grad`), in three passes over
    the state whatever the run's length; the run is then empty.

    Entry ``c < L`` of ``c[q] (CHAIN, 4, T)`` / ``cd[q]`` is the run's ``c``-th gate from the
    end (gate ``c_gate[q, c]``): its matrix and derivative, per sample where ``c_ps[q, c]``,
    else in column 0. One pass reads the run's transition matrix ``X[a, b] = Σ conj(λ_a) ψ_b``
    (summed over the other qubits, at the run's output); with ``V`` the gates after gate ``c``,
    ``dφ = Re Σ_ab K[a, b] X[a, b]``, ``K = V dG G† V†``, 2×2 algebra per sample (complex128);
    then ``U†`` is applied to ``ψ`` and ``λ``.
    """
    T = re.shape[1]
    length = c_len[q]
    low = (1 << q) - 1
    x = np.zeros((8, T), re.dtype)  # re, im of X[0,0], X[0,1], X[1,0], X[1,1]
    for i in range(1 << (n - 1)):
        i0 = ((i >> q) << (q + 1)) | (i & low)
        i1 = i0 | (1 << q)
        _transition(l_re[i0], l_im[i0], re[i0], im[i0], x[0], x[1])
        _transition(l_re[i0], l_im[i0], re[i1], im[i1], x[2], x[3])
        _transition(l_re[i1], l_im[i1], re[i0], im[i0], x[4], x[5])
        _transition(l_re[i1], l_im[i1], re[i1], im[i1], x[6], x[7])
    any_ps = c_ps[q, 0]  # not False then updated: numba would also compile apply_1q for the constant
    for c in range(1, length):
        any_ps = any_ps or c_ps[q, c]
    u_re, u_im = np.empty((4, T), re.dtype), np.empty((4, T), re.dtype)  # U† per sample
    for t in range(T):
        v = (1.0 + 0j, 0j, 0j, 1.0 + 0j)  # the gates after gate c, as (V00, V01, V10, V11)
        for c in range(length):
            e = t if c_ps[q, c] else 0
            g = _entries(c_re[q, c], c_im[q, c], e)
            if c_param[q, c]:
                k = _mul2(_mul2(v, _mul2(_entries(cd_re[q, c], cd_im[q, c], e), _dagger(g))), _dagger(v))
                total = 0.0
                for a in range(4):
                    total += k[a].real * x[2 * a, t] - k[a].imag * x[2 * a + 1, t]
                dphi[c, t] = total
            v = _mul2(v, g)
        if t == 0 or any_ps:
            ud = _dagger(v)
            for a in range(4):
                u_re[a, t], u_im[a, t] = ud[a].real, ud[a].imag
    apply_1q(re, im, n, q, u_re, u_im, any_ps)
    apply_1q(l_re, l_im, n, q, u_re, u_im, any_ps)
    for c in range(length):
        if c_param[q, c]:
            _add_grad(c_gate[q, c], dphi[c], source, scale, nx, b0, gx, gw_row)
    c_len[q] = 0


@jit
def _entries(m_re, m_im, e):
    """Column ``e`` of a 2×2 matrix ``m (4, T)`` as four complex128 entries."""
    return (complex(np.float64(m_re[0, e]), np.float64(m_im[0, e])),
            complex(np.float64(m_re[1, e]), np.float64(m_im[1, e])),
            complex(np.float64(m_re[2, e]), np.float64(m_im[2, e])),
            complex(np.float64(m_re[3, e]), np.float64(m_im[3, e])))


@jit
def _transition(lr, li, pr, pi, xr, xi):
    """``X += conj(λ) ψ`` over one pair of rows: one entry of a transition matrix."""
    for t in range(lr.shape[0]):
        xr[t] += lr[t] * pr[t] + li[t] * pi[t]
        xi[t] += lr[t] * pi[t] - li[t] * pr[t]


@jit
def _mul2(a, b):
    """The product of two 2×2 complex matrices, each ``(m00, m01, m10, m11)``."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


@jit
def _dagger(a):
    return (a[0].conjugate(), a[2].conjugate(), a[1].conjugate(), a[3].conjugate())


@jit
def broadcast(dd, T, m_re, m_im):
    """Copy column 0 of ``m (d·d, T)`` into every column: a shared matrix as a per-sample one."""
    for e in range(dd):
        for t in range(1, T):
            m_re[e, t] = m_re[e, 0]
            m_im[e, t] = m_im[e, 0]


@jit
def apply_dense(re, im, n, qubits, sorted_qubits, m_re, m_im, acc_re, acc_im):
    """A ``k``-qubit matrix per sample ``m (d·d, T)``; ``acc (d, T)`` is scratch."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in groups(n, qubits, sorted_qubits):
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
            tr, ti, sr, si = re[idx[a]], im[idx[a]], acc_re[a], acc_im[a]
            for t in range(T):
                tr[t] = sr[t]
                ti[t] = si[t]


@jit
def apply_monomial(re, im, n, qubits, sorted_qubits, swaps, ph_re, ph_im, inverse):
    """A permutation-and-phase gate, ``new[a] = ph[a] · old[perm[a]]`` on its local indices, as row swaps then
    row phases (``swaps``: their count, then the pairs of local indices; `monomial_swaps`); ``inverse``: its adjoint."""
    T = re.shape[1]
    k = qubits.shape[0]
    d = 1 << k
    offs = np.zeros(d, np.int64)
    for a in range(d):
        for j in range(k):
            if (a >> j) & 1:
                offs[a] |= 1 << qubits[j]
    n_swaps = swaps[0]
    for i in range(1 << (n - k)):
        base = i
        for q in sorted_qubits:  # insert a 0 bit at each of the gate's qubits
            base = ((base >> q) << (q + 1)) | (base & ((1 << q) - 1))
        if inverse:
            _phase_rows(re, im, base, offs, ph_re, ph_im, -1.0, T)
            for s in range(n_swaps - 1, -1, -1):
                _swap_rows(re, im, base | offs[swaps[1 + 2 * s]], base | offs[swaps[2 + 2 * s]], T)
        else:
            for s in range(n_swaps):
                _swap_rows(re, im, base | offs[swaps[1 + 2 * s]], base | offs[swaps[2 + 2 * s]], T)
            _phase_rows(re, im, base, offs, ph_re, ph_im, 1.0, T)


@jit
def _swap_rows(re, im, a, b, T):
    ra, ia, rb, ib = re[a], im[a], re[b], im[b]
    for t in range(T):
        ra[t], rb[t] = rb[t], ra[t]
        ia[t], ib[t] = ib[t], ia[t]


@jit
def _phase_rows(re, im, base, offs, ph_re, ph_im, sign, T):
    """Row ``base | offs[a]`` times ``ph[a]`` (``sign = -1``: its conjugate), skipping phases of 1."""
    for a in range(offs.shape[0]):
        pr, pi = ph_re[a], sign * ph_im[a]
        if pr == 1.0 and pi == 0.0:
            continue
        r, m = re[base | offs[a]], im[base | offs[a]]
        for t in range(T):
            x, y = r[t], m[t]
            r[t] = pr * x - pi * y
            m[t] = pr * y + pi * x


def monomial_swaps(columns: np.ndarray) -> list[int]:
    """Row swaps that take ``old`` to ``old[columns]`` (`apply_monomial`'s table): their count, then the pairs."""
    current, pairs = list(range(len(columns))), []
    for a, want in enumerate(columns):
        if current[a] != want:
            b = current.index(want)
            current[a], current[b] = current[b], current[a]
            pairs += [a, b]
    return [len(pairs) // 2, *pairs]


@jit
def apply(g, re, im, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, m_re, m_im,
          per_sample, acc_re, acc_im, sign):
    """Gate ``g`` with its matrix ``m`` (`gate_matrix`; unused if monomial), or ``G†`` for ``sign = -1.0``
    (a float, not a bool: numba would compile a bool constant's two values as two functions)."""
    inverse = sign < 0
    k = width[g]
    qo, mo, po = offsets[g, 0], offsets[g, 1], offsets[g, 2]
    qs, sq = qubits[qo:qo + k], sorted_qubits[qo:qo + k]
    if kind[g] == MONOMIAL:
        d = 1 << k
        apply_monomial(re, im, n, qs, sq, perm[po:po + 1 + 2 * perm[po]], mats_re[mo:mo + d], mats_im[mo:mo + d],
                       inverse)
        return
    if inverse:
        adjoint_in_place(1 << k, re.shape[1] if per_sample else 1, m_re, m_im)
    if k == 1:
        apply_1q(re, im, n, qs[0], m_re, m_im, per_sample)
    else:
        if not per_sample:
            broadcast(1 << (2 * k), re.shape[1], m_re, m_im)
        apply_dense(re, im, n, qs, sq, m_re, m_im, acc_re, acc_im)
    if inverse:
        adjoint_in_place(1 << k, re.shape[1] if per_sample else 1, m_re, m_im)


@jit
def adjoint_in_place(d, T, m_re, m_im):
    """``m <- m†`` per sample (its own inverse: called twice, it restores ``m``)."""
    for r in range(d):
        for t in range(T):
            m_im[r * d + r, t] = -m_im[r * d + r, t]
        for c in range(r + 1, d):
            for t in range(T):
                a_re, a_im = m_re[r * d + c, t], m_im[r * d + c, t]
                m_re[r * d + c, t], m_im[r * d + c, t] = m_re[c * d + r, t], -m_im[c * d + r, t]
                m_re[c * d + r, t], m_im[c * d + r, t] = a_re, -a_im


@jit
def expectations(re, im, z_table, flips, x_re, x_im, out, b0):
    """``out[b0 + t, o] = <ψ_t|O_o|ψ_t>`` from the Pauli tables (`observables.PauliTables`)."""
    dim, T = re.shape
    n_obs = out.shape[1]
    acc = np.zeros((n_obs, T), re.dtype)
    if z_table.shape[0] > 0:
        p = np.empty(T, re.dtype)
        for i in range(dim):
            ri, ii = re[i], im[i]
            for t in range(T):
                p[t] = ri[t] * ri[t] + ii[t] * ii[t]
            for o in range(n_obs):
                z = z_table[i, o]
                if z != 0.0:
                    for t in range(T):
                        acc[o, t] += z * p[t]
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


@jit
def costate(re, im, z_table, flips, x_re, x_im, grad, b0, l_re, l_im):
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
                z2 = 2.0 * z_table[i, o]
                if z2 != 0.0:
                    for t in range(T):
                        zg[t] += z2 * g[o, t]
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


@jit
def angle_grad(re, im, l_re, l_im, n, qubits, sorted_qubits, dm_re, dm_im, dphi):
    """``dphi[t] += Re <λ_t| dG ψ_t>`` for a gate with per-sample derivative ``dm (d·d, T)``."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in groups(n, qubits, sorted_qubits):
        for a in range(d):
            lr, li = l_re[idx[a]], l_im[idx[a]]
            for c in range(d):
                sr, si = re[idx[c]], im[idx[c]]
                mr, mi = dm_re[a * d + c], dm_im[a * d + c]
                for t in range(T):
                    vr = mr[t] * sr[t] - mi[t] * si[t]
                    vi = mr[t] * si[t] + mi[t] * sr[t]
                    dphi[t] += lr[t] * vr + li[t] * vi
