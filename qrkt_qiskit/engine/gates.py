"""Differentiable matrices of the parameterized gates, in Qiskit's conventions.

Every builder takes real angle tensors of one shape ``S`` and returns ``(*S, d, d)``
complex matrices. Multi-qubit matrices use Qiskit's little-endian order: for a gate on
``(q0, q1)`` the row index is ``b(q0) + 2 * b(q1)``, so controls come first.
Constant gates never come here: their matrices are Qiskit's own (``Gate.to_matrix``).
"""

from __future__ import annotations

import torch

__all__ = ["PARAMETRIC_GATES"]


def _matrix(entries: list[list], like: torch.Tensor) -> torch.Tensor:
    """Stack a square table of tensors and the constants 0 and 1 (shaped like ``like``) into ``(*S, d, d)``."""
    d = len(entries)
    constants = {c: torch.full_like(like, c) for c in {e for row in entries for e in row if not isinstance(e, torch.Tensor)}}
    flat = [e if isinstance(e, torch.Tensor) else constants[e] for row in entries for e in row]
    return torch.stack(flat, dim=-1).unflatten(-1, (d, d))


def _half(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos(θ/2) and sin(θ/2) as complex tensors."""
    half = theta / 2
    return torch.cos(half).to(_complex(theta)), torch.sin(half).to(_complex(theta))


def _complex(t: torch.Tensor) -> torch.dtype:
    return torch.complex128 if t.dtype == torch.float64 else torch.complex64


def _phase(theta: torch.Tensor) -> torch.Tensor:
    """exp(iθ) as a complex tensor; ``torch.polar`` keeps it differentiable."""
    return torch.polar(torch.ones_like(theta), theta)


def _rx(t):
    c, s = _half(t)
    return _matrix([[c, -1j * s], [-1j * s, c]], c)


def _ry(t):
    c, s = _half(t)
    return _matrix([[c, -s], [s, c]], c)


def _rz(t):
    neg, pos = _phase(-t / 2), _phase(t / 2)
    return _matrix([[neg, 0], [0, pos]], neg)


def _p(t):
    e = _phase(t)
    return _matrix([[1, 0], [0, e]], e)


def _u(theta, phi, lam):
    c, s = _half(theta)
    return _matrix([[c, -_phase(lam) * s], [_phase(phi) * s, _phase(phi + lam) * c]], c)


def _controlled(gate):
    """Control on the gate's first qubit (the low bit): identity where it is 0."""

    def build(t):
        g = gate(t)
        one = torch.ones_like(g[..., 0, 0])
        return _matrix(
            [
                [one, 0, 0, 0],
                [0, g[..., 0, 0], 0, g[..., 0, 1]],
                [0, 0, one, 0],
                [0, g[..., 1, 0], 0, g[..., 1, 1]],
            ],
            one,
        )

    return build


def _rxx(t):
    c, s = _half(t)
    m = -1j * s
    return _matrix([[c, 0, 0, m], [0, c, m, 0], [0, m, c, 0], [m, 0, 0, c]], c)


def _ryy(t):
    c, s = _half(t)
    m, p = -1j * s, 1j * s
    return _matrix([[c, 0, 0, p], [0, c, m, 0], [0, m, c, 0], [p, 0, 0, c]], c)


def _rzz(t):
    neg, pos = _phase(-t / 2), _phase(t / 2)
    return _matrix([[neg, 0, 0, 0], [0, pos, 0, 0], [0, 0, pos, 0], [0, 0, 0, neg]], neg)


# name -> (number of qubits, builder taking one angle tensor per gate parameter)
PARAMETRIC_GATES = {
    "rx": (1, _rx),
    "ry": (1, _ry),
    "rz": (1, _rz),
    "p": (1, _p),
    "u": (1, _u),
    "crx": (2, _controlled(_rx)),
    "cry": (2, _controlled(_ry)),
    "crz": (2, _controlled(_rz)),
    "cp": (2, _controlled(_p)),
    "rxx": (2, _rxx),
    "ryy": (2, _ryy),
    "rzz": (2, _rzz),
}
