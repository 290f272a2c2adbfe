"""One rotation of the Bloch sphere, in the one form the engine writes it: ``A + cos θ B + sin θ C``.

A qubit is the real 4-vector ``r = [1, b]`` of its Pauli expectations ``(<I>, <X>, <Y>, <Z>)``,
``b`` its Bloch vector. A rotation by θ about the unit axis ``a`` acts on it as (Rodrigues)

    R(θ) = A + cos θ · B + sin θ · C,    A = 1 ⊕ a aᵀ,    B = 0 ⊕ (I − a aᵀ),    C = 0 ⊕ [a]×,

with ``[a]× v = a × v``: ``A`` keeps ``<I>`` and the part of ``b`` along the axis, ``B`` is the
part perpendicular to it, ``C`` that part turned a quarter turn about the axis. A constant
gate is ``A = R``, ``B = C = 0``. The *terms* of a state ``r`` are ``(A r, B r, C r)``:
rotated by θ it is ``A r + cos θ · B r + sin θ · C r``. Every hand-written backward of the
closed form rests on ``dR/dθ = −sin θ · B + cos θ · C``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["AXES", "PLANES", "rotate_in_plane", "rotation", "rotation_parts"]

# P(λ) is RZ(λ) up to a global phase, which no expectation value sees.
AXES = {"rx": (1.0, 0.0, 0.0), "ry": (0.0, 1.0, 0.0), "rz": (0.0, 0.0, 1.0), "p": (0.0, 0.0, 1.0)}
# The plane each of these gates turns, as indices (b, c) of r = [1, b] with C e_b = e_c: its
# axis is a coordinate axis a = e_i, so B projects onto the plane of the next two axes and
# C = [a]× turns e_(i+1) into e_(i+2).
PLANES = {name: ((int(np.argmax(axis)) + 1) % 3 + 1, (int(np.argmax(axis)) + 2) % 3 + 1) for name, axis in AXES.items()}


def rotation_parts(axes) -> np.ndarray:
    """``A, B, C`` as one ``(3, k, 4, 4)`` array, for ``k`` unit axes ``(k, 3)``.

    A zero axis gives ``A = 1 ⊕ 0``, ``B = 0 ⊕ I``, ``C = 0``: the identity at θ = 0, which is
    how a layer leaves a qubit alone.
    """
    axes = np.asarray(axes, dtype=float)
    along = axes[:, :, None] * axes[:, None, :]  # a aᵀ
    parts = np.zeros((3, len(axes), 4, 4))
    parts[0, :, 0, 0] = 1.0
    parts[0, :, 1:, 1:] = along
    parts[1, :, 1:, 1:] = np.eye(3) - along
    parts[2, :, 1:, 1:] = np.cross(axes[:, None, :], np.eye(3)).transpose(0, 2, 1)  # column j: a × e_j
    return parts


def rotation(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``A + cos θ · B + sin θ · C``: the rotations themselves, or given the terms, the rotated states.

    All five broadcast; ``cos`` and ``sin`` come shaped by the caller, who often keeps them
    for a backward.
    """
    return torch.addcmul(torch.addcmul(A, cos, B), sin, C)


def rotate_in_plane(r: torch.Tensor, name: str, theta: torch.Tensor) -> torch.Tensor:
    """``A r + cos θ B r + sin θ C r`` for gate ``name`` of `PLANES`, ``r: (..., k, 4)``, ``θ: (batch, k)``, without R.

    ``B r`` and ``C r`` live in the gate's plane (b, c), so only ``r_b`` and ``r_c`` change.
    """
    b, c = PLANES[name]
    cos, sin = torch.cos(theta), torch.sin(theta)
    r = r.expand(theta.shape[0], *r.shape[-2:])
    rb, rc = r[..., b], r[..., c]
    parts = list(r.unbind(-1))
    parts[b], parts[c] = cos * rb - sin * rc, sin * rb + cos * rc
    return torch.stack(parts, dim=-1)
