"""Expectation values of Pauli sums as matmuls over the statevector.

For a Pauli ``P = (-i)^q Z^z X^x`` (Qiskit's convention),
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

__all__ = ["PauliTables"]


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
        """``psi: (2^n, batch)`` complex -> ``(batch, n_observables)`` real."""
        out = None
        if self.z_table is not None:  # |ψ|² on the real view, summed after the matmul, on (n_obs, batch, 2)
            squares = torch.view_as_real(psi).square().flatten(-2)  # (2^n, batch · 2)
            out = (self.z_table.T @ squares).unflatten(-1, (-1, 2)).sum(-1).T
        for flipped, table in self.x_groups:
            term = ((psi.conj() * psi.index_select(0, flipped)).T @ table).real
            out = term if out is None else out + term
        return out

    def costate(self, psi: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """``dL/dψ (2^n, batch)`` (torch's convention for complex tensors) from ``grad = dL/dout (batch, n_obs)``.

        An X-mask group is ``Re Σ_i conj(ψ_i) ψ_{i^x} t_i`` with ``t = table @ gradᵀ``; ``i -> i^x``
        is an involution, so ``dL/dψ = ψ_{i^x} (t_i + conj(t_{i^x}))``, and the Z group
        (``x = 0``, ``t`` real) gives ``2 ψ t``.
        """
        lam = None
        if self.z_table is not None:
            lam = torch.view_as_complex(torch.view_as_real(psi) * (self.z_table @ (2 * grad.T)).unsqueeze(-1))
        for flipped, table in self.x_groups:
            t = table @ grad.T.to(table.dtype)
            term = psi.index_select(0, flipped) * (t + t.index_select(0, flipped).conj())
            lam = term if lam is None else lam + term
        return lam

    def describe(self) -> str:
        """One line for ``repr``: which tables the observables were compiled into."""
        kinds = []
        if self.z_table is not None:
            kinds.append("a ±1 table for Z-strings")
        if self.x_groups:
            kinds.append(f"{len(self.x_groups)} X-mask group(s)")
        return f"{self.n_observables} observable(s) by {' and '.join(kinds)}"

