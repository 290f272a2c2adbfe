"""The numba gate primitives of the compiled CPU kernel (`fused`), on one tile's ``(2^n, T)`` planes.

A tile's state is kept as real and imaginary planes ``(2^n, T)``, samples innermost, so
that every loop below vectorises over the tile's samples. A gate's matrix is either shared
by the tile (only column 0 of its ``(d·d, T)`` buffer is written) or one per sample.
The passes that call these primitives are in `fused_passes`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["CONSTANT_ANGLE", "DENSE", "MONOMIAL", "NO_ANGLE", "PARAMETRIC", "adjoint_in_place", "angle_grad",
           "apply", "apply_1q", "broadcast", "chain_adjoint", "compose_1q", "costate", "expectations", "gate_matrix", "jit"]

DENSE, MONOMIAL, PARAMETRIC = 0, 1, 2  # how a gate is applied
NO_ANGLE, CONSTANT_ANGLE = -1, -2  # angle sources that are not a slot of [x, w]

jit = numba.njit(cache=True, nogil=True)


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
    column 0 is written.
    """
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
def _adjoint_pair(pr, pi, qr, qi, t, m_re, m_im, ps):
    """``M† (p, q)`` for the pair of amplitudes ``p, q`` of sample ``t`` (``ps``: ``M`` per sample)."""
    c = t if ps else 0
    m0r, m0i, m1r, m1i = m_re[0, c], -m_im[0, c], m_re[2, c], -m_im[2, c]  # row 0 of M†: conj(M00), conj(M10)
    m2r, m2i, m3r, m3i = m_re[1, c], -m_im[1, c], m_re[3, c], -m_im[3, c]
    return (m0r * pr - m0i * pi + m1r * qr - m1i * qi, m0r * pi + m0i * pr + m1r * qi + m1i * qr,
            m2r * pr - m2i * pi + m3r * qr - m3i * qi, m2r * pi + m2i * pr + m3r * qi + m3i * qr)


@jit
def chain_adjoint(re, im, l_re, l_im, n, q, length, c_re, c_im, cd_re, cd_im, c_ps, c_param, dphi):
    """Un-apply a chain of one-qubit gates on qubit ``q`` from ``ψ`` and ``λ`` in one pass, reading each
    parametric gate's ``dphi[c, t] += Re <λ_t| dG ψ_t>`` at its output.

    Entry ``c < length`` of ``c (L, 4, T)`` / ``cd`` is the chain's ``c``-th gate from the end
    (the first one un-applied), its matrix and derivative; ``c_ps[c]``: per sample.
    """
    T = re.shape[1]
    low = (1 << q) - 1
    for i in range(1 << (n - 1)):
        i0 = ((i >> q) << (q + 1)) | (i & low)
        i1 = i0 | (1 << q)
        r0, j0, r1, j1 = re[i0], im[i0], re[i1], im[i1]
        s0, k0, s1, k1 = l_re[i0], l_im[i0], l_re[i1], l_im[i1]
        for t in range(T):
            pr, pi, qr, qi = r0[t], j0[t], r1[t], j1[t]
            ar, ai, br, bi = s0[t], k0[t], s1[t], k1[t]
            for c in range(length):
                ps = c_ps[c]
                pr, pi, qr, qi = _adjoint_pair(pr, pi, qr, qi, t, c_re[c], c_im[c], ps)
                if c_param[c]:
                    e = t if ps else 0
                    d = cd_re[c]
                    di = cd_im[c]
                    vr = d[0, e] * pr - di[0, e] * pi + d[1, e] * qr - di[1, e] * qi
                    vi = d[0, e] * pi + di[0, e] * pr + d[1, e] * qi + di[1, e] * qr
                    ur = d[2, e] * pr - di[2, e] * pi + d[3, e] * qr - di[3, e] * qi
                    ui = d[2, e] * pi + di[2, e] * pr + d[3, e] * qi + di[3, e] * qr
                    dphi[c, t] += ar * vr + ai * vi + br * ur + bi * ui
                ar, ai, br, bi = _adjoint_pair(ar, ai, br, bi, t, c_re[c], c_im[c], ps)
            r0[t], j0[t], r1[t], j1[t] = pr, pi, qr, qi
            s0[t], k0[t], s1[t], k1[t] = ar, ai, br, bi


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
            re[idx[a]] = acc_re[a]
            im[idx[a]] = acc_im[a]


@jit
def apply_monomial(re, im, n, qubits, sorted_qubits, perm, ph_re, ph_im, inverse, acc_re, acc_im):
    """``new[a] = ph[a] · old[perm[a]]`` on the gate's local indices (``inverse``: its adjoint)."""
    T = re.shape[1]
    d = 1 << qubits.shape[0]
    for idx in groups(n, qubits, sorted_qubits):
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


@jit
def apply(g, re, im, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, m_re, m_im,
          per_sample, acc_re, acc_im, inverse):
    """Gate ``g`` with its matrix ``m`` (`gate_matrix`; unused if monomial) or, with ``inverse``, ``G†``."""
    k = width[g]
    qo, mo, po = offsets[g, 0], offsets[g, 1], offsets[g, 2]
    qs, sq = qubits[qo:qo + k], sorted_qubits[qo:qo + k]
    if kind[g] == MONOMIAL:
        d = 1 << k
        apply_monomial(re, im, n, qs, sq, perm[po:po + d], mats_re[mo:mo + d], mats_im[mo:mo + d], inverse,
                       acc_re, acc_im)
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
                z, a = z_table[i, o], acc[o]
                if z != 0.0:
                    for t in range(T):
                        a[t] += z * p[t]
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
                z2, go = 2.0 * z_table[i, o], g[o]
                if z2 != 0.0:
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
