"""The compiled CPU kernel's two passes (`fused`): the forward and the adjoint reverse pass, tile by tile.

The batch is cut into tiles of ``T`` samples and the tiles run in parallel (numba
``prange``, as many threads as `numba.set_num_threads` allows); each tile runs the whole
circuit on its own ``(2^n, T)`` planes (`fused_ops`), so the threads share nothing but
the read-only gate tables and write disjoint rows of the results.

Runs of one-qubit gates on a qubit are applied in one pass over the state: the forward
multiplies their matrices (per sample where an angle reads an input) and applies the
product when a multi-qubit gate needs the qubit, or at the end; the reverse pass
un-applies a run from ``ψ`` and ``λ`` in one pass, reading each angle's gradient on the
way (`fused_ops.chain_adjoint`). Gates on other qubits commute with the pending run, and
so do their gradients: ``<λ|dG ψ>`` is unchanged by a unitary on other qubits applied to both.
"""

from __future__ import annotations

import numba
import numpy as np

from .fused_ops import (MONOMIAL, PARAMETRIC, angle_grad, apply, apply_1q, broadcast, chain_adjoint, compose_1q,
                        costate, expectations, gate_matrix)

__all__ = ["CHAIN", "backward", "forward"]

CHAIN = 8  # the reverse pass un-applies at most this many one-qubit gates of a qubit in one pass
_parallel = numba.njit(cache=True, nogil=True, parallel=True)


@_parallel
def forward(x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset, n,
            z_table, flips, x_re, x_im, tile, out, state):
    """Every tile from ``|0…0>`` through the gates; expectations into ``out``, final planes into ``state``
    (``(2, 2^n, batch)``, or ``(2, 0, 0)``: not kept)."""
    batch = x.shape[0]
    dim = 1 << n
    dtype = out.dtype
    dd = 1 << (2 * max(1, width.max())) if width.shape[0] else 4
    keep = state.shape[1] > 0
    for k in numba.prange((batch + tile - 1) // tile):
        b0 = k * tile
        T = min(tile, batch - b0)
        r, i_ = np.zeros((dim, T), dtype), np.zeros((dim, T), dtype)
        m_re, m_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        dm_re, dm_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        acc_re, acc_im = np.empty((dd, T), dtype), np.empty((dd, T), dtype)
        p_re, p_im = np.empty((n, 4, T), dtype), np.empty((n, 4, T), dtype)  # the pending run of each qubit
        p_ps, p_on = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
        r[0, :] = 1.0
        for g in range(kind.shape[0]):
            qo = offsets[g, 0]
            if width[g] == 1:
                q = qubits[qo]
                ps = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale, offset,
                                 m_re, m_im, dm_re, dm_im)
                if p_on[q]:
                    p_ps[q] = compose_1q(m_re, m_im, ps, p_re[q], p_im[q], p_ps[q], T, p_re[q], p_im[q])
                else:
                    p_re[q, :, :] = m_re[:4, :]
                    p_im[q, :, :] = m_im[:4, :]
                    p_ps[q], p_on[q] = ps, True
                continue
            for j in range(qo, qo + width[g]):
                q = qubits[j]
                if p_on[q]:
                    apply_1q(r, i_, n, q, p_re[q], p_im[q], p_ps[q])
                    p_on[q] = False
            per_sample = False
            if kind[g] != MONOMIAL:
                per_sample = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale,
                                         offset, m_re, m_im, dm_re, dm_im)
            apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                  m_re, m_im, per_sample, acc_re, acc_im, False)
        for q in range(n):
            if p_on[q]:
                apply_1q(r, i_, n, q, p_re[q], p_im[q], p_ps[q])
        expectations(r, i_, z_table, flips, x_re, x_im, out, b0)
        if keep:
            for j in range(dim):
                for t in range(T):
                    state[0, j, b0 + t] = r[j, t]
                    state[1, j, b0 + t] = i_[j, t]


@_parallel
def backward(x, w, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm, source, scale, offset, n,
             z_table, flips, x_re, x_im, tile, first_parametric, state, grad, gx, gw):
    """The adjoint sweep of every tile: ``dL/dφ`` at each parametric gate, into ``gx`` and tile ``k``'s row ``gw[k]``."""
    batch, nx = x.shape
    dim = 1 << n
    dtype = state.dtype
    dd = 1 << (2 * max(1, width.max())) if width.shape[0] else 4
    for k in numba.prange((batch + tile - 1) // tile):
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
                    _flush(r, i_, lr, li, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi,
                           source, scale, nx, b0, gx, gw[k])
                continue
            for j in range(qo, qo + kw):
                if c_len[qubits[j]] > 0:
                    _flush(r, i_, lr, li, n, qubits[j], c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate,
                           dphi, source, scale, nx, b0, gx, gw[k])
            parametric = kind[g] == PARAMETRIC
            per_sample = False
            if kind[g] != MONOMIAL:
                per_sample = gate_matrix(g, x, w, b0, T, kind, width, offsets, mats_re, mats_im, source, scale,
                                         offset, m_re, m_im, dm_re, dm_im)
            apply(g, r, i_, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                  m_re, m_im, per_sample, acc_re, acc_im, True)
            if parametric:
                if not per_sample:
                    broadcast(1 << (2 * kw), T, dm_re, dm_im)
                dphi[0, :] = 0.0
                angle_grad(r, i_, lr, li, n, qubits[qo:qo + kw], sorted_qubits[qo:qo + kw], dm_re, dm_im, dphi[0])
                _add_grad(g, dphi[0], source, scale, nx, b0, gx, gw[k])
            if g > first_parametric:  # an earlier parametric gate reads λ
                apply(g, lr, li, n, kind, width, offsets, qubits, sorted_qubits, mats_re, mats_im, perm,
                      m_re, m_im, per_sample, acc_re, acc_im, True)
        for q in range(n):
            if c_len[q] > 0:
                _flush(r, i_, lr, li, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi,
                       source, scale, nx, b0, gx, gw[k])


@numba.njit(cache=True, nogil=True)
def _flush(r, i_, lr, li, n, q, c_len, c_re, c_im, cd_re, cd_im, c_ps, c_param, c_gate, dphi, source, scale,
           nx, b0, gx, gw_row):
    """Un-apply qubit ``q``'s pending run of one-qubit gates and add its angles' gradients."""
    length = c_len[q]
    dphi[:length, :] = 0.0
    chain_adjoint(r, i_, lr, li, n, q, length, c_re[q], c_im[q], cd_re[q], cd_im[q], c_ps[q], c_param[q], dphi)
    for c in range(length):
        if c_param[q, c]:
            _add_grad(c_gate[q, c], dphi[c], source, scale, nx, b0, gx, gw_row)
    c_len[q] = 0


@numba.njit(cache=True, nogil=True)
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

