"""Pauli transfer matrices: a channel as the real matrix ``R[P, Q] = Tr(P E(Q)) / d`` on Pauli strings.

A string over m qubits is ``Σ d_q 4^q`` with digit ``d_q`` in I, X, Y, Z = 0..3 (qubit q is
digit q, as it is bit q of a basis state in Qiskit's order).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["DIGIT", "gate_ptm", "pauli_basis", "pauli_label", "superop_ptm", "unitary_ptm"]

_PAULI_1Q = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)
DIGIT = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}  # (x, z) -> I, X, Y, Z


@functools.cache
def pauli_basis(m: int) -> np.ndarray:
    """``(4^m, 2^m, 2^m)``: Pauli string ``Σ d_q 4^q`` on qubits 0..m-1 (qubit q = bit q of the matrix index)."""
    basis = _PAULI_1Q
    for _ in range(m - 1):
        basis = np.einsum("aij,rkl->arikjl", _PAULI_1Q, basis).reshape(4 * len(basis), 2 * basis.shape[1], -1)
    basis.flags.writeable = False  # shared by every caller
    return basis


def pauli_label(digits: tuple[int, ...]) -> str:
    """Qiskit's label of the string with these digits (qubit 0 first): the last character is qubit 0."""
    return "".join("IXYZ"[d] for d in reversed(digits))


def superop_ptm(superop: np.ndarray) -> np.ndarray:
    """The Pauli transfer matrix of a column-stacking superoperator (Qiskit's)."""
    d = int(round(np.sqrt(superop.shape[0])))
    basis = pauli_basis(int(np.log2(d)))
    vec = basis.transpose(0, 2, 1).reshape(len(basis), -1)  # row Q = vec(Q), columns stacked
    images = (vec @ superop.T).reshape(len(basis), d, d).transpose(0, 2, 1)  # E(Q)
    ptm = np.einsum("pij,qji->pq", basis, images).real / d
    ptm[np.abs(ptm) < 1e-14] = 0.0  # round-off of the change of basis, not physics
    return ptm


def gate_ptm(u: np.ndarray) -> np.ndarray:
    """The Pauli transfer matrix of a constant gate's unitary ``u``."""
    return superop_ptm(np.kron(u.conj(), u))  # column stacking: vec(UρU†) = (Ū⊗U) vec(ρ)


def unitary_ptm(u: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``(..., d, d)`` unitaries -> ``(..., d², d²)`` real Pauli transfer matrices, differentiably."""
    conjugated = torch.einsum("...jk,qkl,...il->...qji", u, basis, u.conj())  # U Q U† per Q
    return torch.einsum("pij,...qji->...pq", basis, conjugated).real / u.shape[-1]
