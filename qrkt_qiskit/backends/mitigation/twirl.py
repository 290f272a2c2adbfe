"""Pauli twirling of a device's noise, in expectation: what a twirled circuit's errors average to.

Runtime twirls each layer of 2-qubit gates with random Paulis (gate twirling, level 2) and
each measurement with a random X flipped back classically (measurement twirling, levels 1
and 2). Averaged over the randomizations, a gate's error channel becomes its Pauli twirl
(the diagonal of its Pauli transfer matrix), and a qubit's readout becomes symmetric: it
flips either bit with the mean of its two flip probabilities.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import numpy as np

from ...engine.ptm import pauli_basis

__all__ = ["flip_rates", "pauli_twirl", "twirled_noise", "twirled_readout"]


@functools.cache
def _pauli_superops(n: int) -> np.ndarray:
    """``(4^n, 4^n, 4^n)``: the column-stacking superoperator ``conj(P) ⊗ P`` of every n-qubit Pauli P."""
    paulis = pauli_basis(n)
    return np.einsum("pij,pkl->pikjl", paulis.conj(), paulis).reshape(len(paulis), 4**n, 4**n)


def pauli_twirl(superop: np.ndarray) -> np.ndarray:
    """The Pauli twirl ``(1/4^n) Σ_P P E(P ρ P) P`` of a channel, as a column-stacking superoperator.

    Its Pauli transfer matrix is the original's diagonal: twirling keeps each Pauli's fidelity
    and drops every coherent part.
    """
    n = int(round(np.log2(superop.shape[0]) / 2))
    s = _pauli_superops(n)
    return np.einsum("pij,jk,pkl->il", s, superop, s) / len(s)


def twirled_readout(matrix: np.ndarray) -> np.ndarray:
    """A qubit's assignment matrix under measurement twirling: symmetric, flip probability the mean of both."""
    f = (matrix[0, 1] + matrix[1, 0]) / 2
    return np.array([[1 - f, f], [f, 1 - f]])


def flip_rates(readout: Mapping[int, np.ndarray]) -> dict[int, float]:
    """Each qubit's twirled flip probability: what TREX's calibration circuit measures, in expectation."""
    return {q: float(twirled_readout(m)[0, 1]) for q, m in readout.items()}


def twirled_noise(noise, *, gates: bool, measure: bool):
    """``noise`` (a `DeviceNoise`) as a twirled circuit sees it on average: 2-qubit gate errors and/or readout."""
    errors = {key: pauli_twirl(s) if gates and len(key[1]) > 1 else s for key, s in noise.errors.items()}
    readout = {q: twirled_readout(m) if measure else m for q, m in noise.readout.items()}
    return dataclasses.replace(noise, errors=errors, readout=readout)
