"""Expectation values of Pauli sums: on a statevector (`PauliTables`) or, in closed form,
on a product state (`BlochProducts`).

On a statevector, for a Pauli ``P = (-i)^q Z^z X^x`` (Qiskit's convention),
``<psi|P|psi> = sum_i conj(psi_i) psi_{i^x} (-i)^q (-1)^{popcount(i & z)}``.
Terms are grouped by their X-mask ``x``: each group is one gather, one product and one
matmul with a ``(2^n, n_observables)`` table. The ``x = 0`` group (Z-strings, the common
case) needs no gather: it is ``|psi|^2`` times a real table of ±1 sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

__all__ = ["BlochProducts", "PauliTables"]


class PauliTables:
    """Precomputed tables that turn a batch of statevectors into expectation values."""

    def __init__(self, observables: Sequence[SparsePauliOp], n_qubits: int, dtype: torch.dtype, device):
        index = np.arange(2**n_qubits, dtype=np.int64)
        weights = 1 << np.arange(n_qubits, dtype=np.int64)
        tables: dict[int, np.ndarray] = {}
        for o, obs in enumerate(observables):
            for pauli, coeff in zip(obs.paulis, obs.coeffs):
                x = int(pauli.x.astype(np.int64) @ weights)
                z = int(pauli.z.astype(np.int64) @ weights)
                phase = (-1j) ** ((int(pauli.phase) + (x & z).bit_count()) % 4)
                signs = 1 - 2 * (np.bitwise_count(index & z).astype(np.int64) & 1)
                table = tables.setdefault(x, np.zeros((index.size, len(observables)), dtype=complex))
                table[:, o] += coeff * phase * signs
        real = torch.float64 if dtype == torch.float64 else torch.float32
        cplx = torch.complex128 if dtype == torch.float64 else torch.complex64
        z_table = tables.pop(0, None)
        self.z_table = None if z_table is None else torch.as_tensor(z_table.real, dtype=real, device=device)
        self.x_groups = [
            (torch.as_tensor(index ^ x, device=device), torch.as_tensor(table, dtype=cplx, device=device))
            for x, table in sorted(tables.items())
        ]
        self.n_observables = len(observables)

    def __call__(self, psi: torch.Tensor) -> torch.Tensor:
        """``psi: (batch, 2^n)`` complex -> ``(batch, n_observables)`` real."""
        out = None
        if self.z_table is not None:
            out = (psi.real.square() + psi.imag.square()) @ self.z_table
        for flipped, table in self.x_groups:
            term = ((psi.conj() * psi[:, flipped]) @ table).real
            out = term if out is None else out + term
        return out

    def describe(self) -> str:
        kinds = []
        if self.z_table is not None:
            kinds.append("a ±1 table for Z-strings")
        if self.x_groups:
            kinds.append(f"{len(self.x_groups)} X-mask group(s)")
        return f"{self.n_observables} observable(s) by {' and '.join(kinds)}"


class BlochProducts:
    """Pauli sums on a product state: a string's expectation is the product of one Bloch
    component per qubit it acts on, ``<P> = sign * prod_q <sigma_q>_q``.

    Exact, and ``O(batch * terms * weight)`` whatever the width: no statevector exists.
    """

    _CODE = {(False, False): 0, (True, False): 1, (False, True): 2, (True, True): 3}  # I X Z Y

    def __init__(self, observables: Sequence[SparsePauliOp], n_qubits: int, dtype: torch.dtype, device):
        rows, coeffs = [], []
        for o, obs in enumerate(observables):
            for pauli, coeff in zip(obs.paulis, obs.coeffs):
                support = np.flatnonzero(pauli.x | pauli.z)
                rows.append([4 * q + self._CODE[bool(pauli.x[q]), bool(pauli.z[q])] for q in support])
                sign = ((-1j) ** int(pauli.phase)).real  # ±1: C† P C of a Hermitian P is Hermitian
                coeffs.append((o, (coeff * sign).real))
        width = max(1, max(map(len, rows)))
        index = np.zeros((len(rows), width), dtype=np.int64)  # padding reads slot 0: qubit 0's identity, 1
        for t, row in enumerate(rows):
            index[t, : len(row)] = row
        table = np.zeros((len(rows), len(observables)))
        for t, (o, c) in enumerate(coeffs):
            table[t, o] += c
        real = torch.float64 if dtype == torch.float64 else torch.float32
        self.index = torch.as_tensor(index, device=device)
        self.table = torch.as_tensor(table, dtype=real, device=device)
        self.n_observables, self.n_terms, self.max_weight = len(observables), len(rows), width

    def __call__(self, psi: torch.Tensor) -> torch.Tensor:
        """``psi: (batch, n, 2)`` qubit states -> ``(batch, n_observables)`` real."""
        a0, a1 = psi[..., 0], psi[..., 1]
        c = a0.conj() * a1
        z = a0.real.square() + a0.imag.square() - a1.real.square() - a1.imag.square()
        bloch = torch.stack([torch.ones_like(z), 2 * c.real, z, 2 * c.imag], dim=-1)  # (batch, n, 4): I X Z Y
        return bloch.flatten(-2)[:, self.index].prod(-1) @ self.table

    def describe(self) -> str:
        return (f"{self.n_observables} observable(s) in closed form: {self.n_terms} Pauli string(s) "
                f"of weight <= {self.max_weight} on the product state")
