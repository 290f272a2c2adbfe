"""Differentiable matrices of the parameterized gates, in Qiskit's conventions.

Every builder takes real angle tensors of one shape ``S`` and returns ``(*S, d, d)``
complex matrices. Multi-qubit matrices use Qiskit's little-endian order: for a gate on
``(q0, q1)`` the row index is ``b(q0) + 2 * b(q1)``, so controls come first.
Constant gates never come here: their matrices are Qiskit's own (``Gate.to_matrix``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PARAMETRIC_GATES", "gate_parts"]


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


_I2 = np.eye(2, dtype=complex)
_PAULI = {"x": np.array([[0, 1], [1, 0]], dtype=complex), "y": np.array([[0, -1j], [1j, 0]]),
          "z": np.diag([1.0 + 0j, -1.0])}
_ONE = np.diag([0.0 + 0j, 1.0])  # |1><1|


def gate_parts(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A one-angle gate as ``A + cos φ · B + sin φ · C`` with ``φ = α θ``: ``(A, B, C, α)``.

    The statevector path's single form for a parametric gate (`rotation` writes the Bloch
    rotations the same way): ``exp(-iθP/2)`` is ``B = I``, ``C = -iP``, ``α = 1/2``; a phase
    gate adds ``e^{iθ}`` on ``|1>`` (``A = |0><0|``, ``B = |1><1|``, ``C = i|1><1|``, ``α = 1``);
    a controlled gate is the identity where its control (the low bit) is 0. Global phases
    are kept (a controlled gate would see them). ``u`` has three angles and is split into
    ``rz ry rz`` before it comes here.
    """
    if name in ("rx", "ry", "rz"):
        return np.zeros((2, 2), complex), _I2, -1j * _PAULI[name[1]], 0.5
    if name in ("rxx", "ryy", "rzz"):
        p = _PAULI[name[1]]
        return np.zeros((4, 4), complex), np.eye(4, dtype=complex), -1j * np.kron(p, p), 0.5
    if name == "p":
        return _I2 - _ONE, _ONE, 1j * _ONE, 1.0
    if name in ("crx", "cry", "crz", "cp"):
        a, b, c, alpha = gate_parts(name[1:])
        # row index b(control) + 2 b(target): the target's matrix where the control is 1
        return np.kron(_I2, _I2 - _ONE) + np.kron(a, _ONE), np.kron(b, _ONE), np.kron(c, _ONE), alpha
    raise KeyError(name)
