"""Operations on state rows ``(batch, 2^n)``: applying a gate, Kronecker products, permutation gates.

Qubit q is bit q of the basis-state index (Qiskit's little-endian order); viewed as a
``(batch, 2, ..., 2)`` tensor it is axis ``n - q``. `statevector` embeds gates into its
blocks with `apply` and turns permutation-and-phase gates into `Permutation`s; the noisy
engine applies its Pauli transfer matrices with `apply` (a Pauli digit is two bits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .lowering import Op

__all__ = ["Permutation", "apply", "is_monomial", "kron_matrices", "kron_states", "monomial_columns", "permutation"]


@dataclass
class Permutation:
    """Constant gates that only permute and phase basis states: ``new[:, i] = phase[i] * old[:, source[i]]``."""

    source: torch.Tensor
    phase: torch.Tensor | None

    def then(self, other: Permutation) -> Permutation:
        """This permutation followed by ``other``, as one gather."""
        phase = None if self.phase is None else self.phase[other.source]
        if other.phase is not None:
            phase = other.phase if phase is None else phase * other.phase
        return Permutation(self.source[other.source], phase)

    def __post_init__(self):
        self.inverse = torch.argsort(self.source)


def kron_states(psi: torch.Tensor) -> torch.Tensor:
    """``(batch, n, d)`` product state -> ``(batch, d^n)``, qubit 0 the fastest index."""
    state = psi[:, -1]
    for q in range(psi.shape[1] - 2, -1, -1):
        state = (state.unsqueeze(-1) * psi[:, q].unsqueeze(-2)).flatten(1)
    return state


def kron_matrices(ms) -> torch.Tensor:
    """``ms[-1] ⊗ … ⊗ ms[0]`` of square matrices ``(..., d, d)`` (batched alike), ``ms[0]`` the fastest index.

    Unbatched pairs take `torch.kron` (one call per qubit beats a gather of all the factors).
    """
    out = ms[-1]
    for m in reversed(ms[:-1]):
        if out.dim() == 2 and m.dim() == 2:
            out = torch.kron(out, m)
            continue
        a, b = out.shape[-1], m.shape[-1]
        batch = torch.broadcast_shapes(out.shape[:-2], m.shape[:-2])
        out = (out[..., :, None, :, None] * m[..., None, :, None, :]).reshape(*batch, a * b, a * b)
    return out


def apply(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    """Apply a ``(d, d)`` or ``(batch, d, d)`` gate on ``qubits`` to ``state: (batch, 2^n)``."""
    batch, k = state.shape[0], len(qubits)
    if k == n and qubits == tuple(range(n)):
        return state @ matrix.transpose(-1, -2) if matrix.dim() == 2 else (matrix @ state.unsqueeze(-1)).squeeze(-1)
    if k == 1:
        q = qubits[0]
        view = state.view(batch, 2 ** (n - 1 - q), 2, 2**q)  # (batch, high bits, qubit, low bits)
        m = matrix.reshape(-1, 1, 2, 2)
        return (m[..., 0:1] * view[:, :, 0:1] + m[..., 1:2] * view[:, :, 1:2]).reshape(batch, -1)
    axes = [n - q for q in reversed(qubits)]  # tensor axis of each local bit, most significant first
    last = list(range(n + 1 - k, n + 1))
    t = state.view((batch,) + (2,) * n).movedim(axes, last)  # (batch, ..., 2^k), one GEMM below
    shape = t.shape
    t = t.reshape(batch, -1, 2**k) @ matrix.transpose(-1, -2)
    return t.reshape(shape).movedim(last, axes).reshape(batch, -1)


def is_monomial(matrix: np.ndarray) -> bool:
    """One non-zero per row and per column: the gate permutes basis states and phases them."""
    nonzero = np.abs(matrix) > 1e-12
    return bool((nonzero.sum(axis=1) == 1).all() and (nonzero.sum(axis=0) == 1).all())


def monomial_columns(matrix: np.ndarray) -> np.ndarray:
    """Of a monomial matrix (`is_monomial`), each row's one non-zero column: row ``l`` reads column ``sigma[l]``."""
    return (np.abs(matrix) > 1e-12).argmax(axis=1)


def permutation(op: Op, n: int, cdtype, device) -> Permutation:
    """A monomial constant gate as a gather with phases over the full ``2^n`` index."""
    m = op.matrix
    sigma = monomial_columns(m)
    index = np.arange(2**n, dtype=np.int64)
    local = sum(((index >> q) & 1) << b for b, q in enumerate(op.qubits))
    source = index.copy()
    for b, q in enumerate(op.qubits):
        source = (source & ~(1 << q)) | (((sigma[local] >> b) & 1) << q)
    phase = m[local, sigma[local]]
    keep = None if np.allclose(phase, 1.0) else torch.as_tensor(phase, dtype=cdtype, device=device)
    return Permutation(torch.as_tensor(source, device=device), keep)
