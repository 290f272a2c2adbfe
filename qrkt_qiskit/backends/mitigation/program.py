"""A device's circuit as Runtime's client-side Estimator returns it at resilience level 1 or 2.

Each measured Pauli term (a Z-string in its measurement basis) is run in the native noisy
engine with the noise a twirled circuit averages to (`twirl`), once per ZNE noise factor on
the folded circuit (`zne.fold`), and then mitigated as ``qiskit_mitigation`` does:

- TREX multiplies a term on support S by ``1 / pauli_fidelity``, where the calibration's
  noise model is a ``PauliLindbladMap`` with rate ``f_q`` (the calibration's measured flip
  rate of qubit q) on ``X_q``: the factor is ``exp(2 Σ_{q∈S} f_q)``. This is the first-order
  inverse of the twirled readout's ``Π_{q∈S} (1 - 2 f_q)``, so TREX leaves
  ``Π (1 - 2 f_q) exp(2 f_q)`` of the readout error in (0.98 at f = 0.1, 0.17 at f = 0.46).
- ZNE fits each term's values over the noise factors and keeps the first valid extrapolator.

Exact values are these at the exact term values (and the exact flip rates); with ``shots``,
each term at each noise factor is a binomial sample of Runtime's executions, and each call
draws the calibration's flip rates from its own executions, as one Runtime job does.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from ...circuits import Ansatz
from ...engine import DeviceNoise, compile_ansatz
from .options import Resilience
from .twirl import flip_rates, twirled_noise
from .zne import extrapolate, fold

__all__ = ["MitigatedCircuit"]


class MitigatedCircuit:
    """An ansatz on a device, mitigated as Runtime's Estimator at ``resilience``; call it as ``program(x, w)``.

    Args:
        ansatz: the device's ISA circuit, with the observables laid out onto it (what
            ``compile_ansatz`` takes with ``noise``).
        noise: the device's noise (its readout error empty where none is simulated).
        resilience: the resolved level (`resolve`); its ``shots`` are Runtime's executions.
        seed: seeds the shot sampler and the calibration's draws.
        dtype, device: as the engine takes them.
    """

    def __init__(self, ansatz: Ansatz, noise: DeviceNoise, resilience: Resilience, *, seed: int | None = None,
                 dtype: torch.dtype = torch.float32, device="cpu"):
        self.ansatz, self.resilience, self.shots, self.dtype = ansatz, resilience, resilience.shots, dtype
        twirled = twirled_noise(noise, gates=resilience.gate_twirl, measure=resilience.measure_twirl)
        labels, coeffs, offset = _terms(ansatz.observables)
        terms = [SparsePauliOp(label) for label in labels] or [SparsePauliOp("I" * ansatz.n_qubits)]
        factors = resilience.noise_factors or (1.0,)
        self._programs = [
            compile_ansatz(Ansatz(ansatz.circuit if f == 1 else fold(ansatz.circuit, f, resilience.folding),
                                  ansatz.inputs, ansatz.weights, terms), dtype, device, noise=twirled)
            for f in factors]
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        self._coeffs, self._offset, self._n_terms = as_t(coeffs), as_t(offset), len(labels)
        rates = flip_rates(noise.readout) if resilience.trex else {}
        qubits = sorted(rates)
        self._rates = torch.tensor([rates[q] for q in qubits], dtype=torch.float64, device=device)
        self._support = torch.tensor([[float(label[-1 - q] != "I") for q in qubits] for label in labels],
                                     dtype=torch.float64, device=device).reshape(len(labels), len(qubits))
        self._generator = None
        if self.shots is not None:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(seed if seed is not None else secrets.randbits(63))

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """What Runtime's Estimator returns, ``(..., n_observables)``, for ``x: (..., n_inputs)``, ``w: (n_weights,)``.

        Sampled values carry the gradients of the exact ones (straight-through), as the engine's do.
        """
        raw = torch.stack([program(x, w) for program in self._programs], dim=-1)
        raw = raw[..., : self._n_terms, :]  # (..., terms, noise factors), read through the twirled readout
        if self.shots is None:
            return self._combine(self._mitigate(raw, self._rates))
        counts = torch.binomial(torch.full_like(raw, float(self.shots)), ((1 - raw.detach()) / 2).clamp(0, 1),
                                generator=self._generator)
        calibration = self.resilience.calibration_shots or 1
        calibrated = torch.binomial(torch.full_like(self._rates, float(calibration)), self._rates,
                                    generator=self._generator) / calibration
        sampled = self._mitigate(1 - 2 * counts / self.shots, calibrated)
        if not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)):
            return self._combine(sampled)
        exact = self._mitigate(raw, self._rates)  # gradients are those of the exact values (straight-through)
        return self._combine(exact + (sampled - exact).detach())

    def _mitigate(self, raw: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """TREX (and ZNE) of each term's values: ``(..., terms, factors)`` -> ``(..., terms)``."""
        r = self.resilience
        value = raw[..., 0] if not r.noise_factors else extrapolate(raw, r.noise_factors, r.extrapolators)[0]
        return value * torch.exp(2 * self._support @ rates).to(value.dtype)

    def _combine(self, terms: torch.Tensor) -> torch.Tensor:
        return terms @ self._coeffs.T + self._offset

    def describe(self) -> str:
        """One line for ``repr``: what is mitigated, and the engine's plan at noise factor 1."""
        r = self.resilience
        parts = ["TREX" if r.trex else "", "gate twirling" if r.gate_twirl else "",
                 f"ZNE at noise factors {', '.join(f'{f:g}' for f in r.noise_factors)} ({'/'.join(r.extrapolators)})"
                 if r.noise_factors else ""]
        return (f"resilience level {r.level} ({', '.join(p for p in parts if p) or 'no mitigation'}"
                + ("" if self.shots is None else f", {self.shots} shots") + f"): {self._programs[0].describe()}")

    def __repr__(self) -> str:
        return f"MitigatedCircuit({self.describe()})"


def _terms(observables: Sequence[SparsePauliOp]):
    """Distinct non-identity Pauli labels, ``(n_obs, terms)`` coefficients, and each observable's constant."""
    index: dict[str, int] = {}
    entries, offset = [], np.zeros(len(observables))
    for o, obs in enumerate(observables):
        for pauli, coeff in zip(obs.paulis, obs.coeffs):
            c = complex(coeff * (-1j) ** pauli.phase).real
            label = pauli.to_label().lstrip("-i")
            if set(label) == {"I"}:
                offset[o] += c
                continue
            entries.append((o, index.setdefault(label, len(index)), c))
    matrix = np.zeros((len(observables), len(index)))
    for o, t, c in entries:
        matrix[o, t] += c
    return list(index), matrix, offset
