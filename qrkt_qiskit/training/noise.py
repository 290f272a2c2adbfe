"""The noise a run trains through: one (device, scale) pair drawn per step, and outputs sampled as shots.

Building a device's noisy program is slow (the digits model's fifteen 3- and 6-qubit circuits:
4-14 s per scale on fake-nairobi, 25 s on fake-brisbane, 57 s on fake-fez, on a loaded 2-core
machine), so each pair's programs are built once, before the first step, and a step switches
the model's layers between them (`layers.placements`), rebuilding nothing. That is why scales
are a short list, not a range to sample from.

What is random here comes from generators of its own, seeded by the run's seed and saved in
``last.pt`` (`state_dict`): the data order, the weights and the draws do not disturb one
another, and a run resumes bit-identically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from .. import backends
from ..layers import placements, restore_placements, shot_sampling, to_backend

__all__ = ["TrainingNoise", "sample_shots"]

# Offsets from the run's seed: epoch e's data order is drawn from seed + e, so a generator
# seeded with seed itself would repeat epoch 0's stream.
_DRAW_OFFSET, _SHOTS_OFFSET = 0x6E6F697365, 0x73686F7473  # "noise", "shots"


def sample_shots(out: torch.Tensor, shots: int, generator: torch.Generator) -> torch.Tensor:
    """Expectation values ``out`` as a device returns them from ``shots`` shots, with ``out``'s gradient.

    Each output is a Pauli expectation ``e`` (the shipped ansätze measure ``Z_j``): its ``+1``
    outcome comes with probability ``(1 + e) / 2``, so the device returns
    ``2 Binomial(shots, (1 + e) / 2) / shots - 1``. The gradient is the exact value's
    (straight-through: ``out + (sampled - out).detach()``).
    """
    exact = out.detach()
    p = ((1 + exact) / 2).clamp(0, 1)
    counts = torch.binomial(torch.full_like(p, float(shots)), p, generator=generator)
    return out + (2 * counts / shots - 1 - exact)


class TrainingNoise:
    """A model's training noise: the (device, scale) pairs its steps draw from, and finite shots.

    Args:
        model: the model; its quantum layers are placed on the first pair (the one a run
            validates and tests on) once this returns, and between steps.
        devices: device profile names (``fake-<device>``, ``ibm``); none: the exact engine.
        scales: the devices' error-rate factors; every device at every scale is a pair.
        shots: sample every circuit output in `step` as a device with this many shots
            returns it (`sample_shots`); ``None``: exact values.
        resilience_level: Runtime's mitigation on every pair (`backends.mitigation`), 0 for none.
        seed: seeds the draws and the shots.
        status: told about each pair as its programs are built (they take seconds).

    Raises:
        ValueError: for a name that is not a device profile, before anything is built.
    """

    def __init__(self, model: nn.Module, *, devices: tuple[str, ...] = (), scales: tuple[float, ...] = (1.0,),
                 shots: int | None = None, resilience_level: int = 0, seed: int = 0,
                 status: Callable[[str], None] = lambda message: None):
        self.model, self.shots = model, shots
        self.pairs = [(d, s) for d in devices for s in scales]
        profiles = {d: _device_profile(d) for d in devices}  # every name checked before the slow part
        mitigation = {"resilience_level": resilience_level} if resilience_level else {}
        self._placed = []
        for device, scale in self.pairs:
            status(f"preparing {device}'s noise at scale {scale:g} for every circuit")
            to_backend(model, profiles[device], simulator="native", shots=None, noise_scale=scale, **mitigation)
            self._placed.append(placements(model))
        if self._placed:
            restore_placements(model, self._placed[0])
        where = next(model.parameters()).device
        self._draws = torch.Generator().manual_seed(seed + _DRAW_OFFSET)
        self._shots = torch.Generator(device=where).manual_seed(seed + _SHOTS_OFFSET)
        self.counts = [0] * len(self.pairs)  # this epoch's draws of each pair

    @classmethod
    def from_config(cls, model: nn.Module, config, status: Callable[[str], None] = lambda message: None) -> TrainingNoise:
        """The training noise a `TrainConfig` asks for."""
        return cls(model, devices=config.noise or (), scales=config.noise_scale, shots=config.train_shots,
                   resilience_level=config.resilience_level, seed=config.seed, status=status)

    @contextlib.contextmanager
    def step(self):
        """Inside, one training step's noise: a freshly drawn pair's programs and, with shots, sampled outputs.

        After it the model is back on the first pair, where it is validated.
        """
        if self.pairs:
            drawn = int(torch.randint(len(self.pairs), (1,), generator=self._draws))
            self.counts[drawn] += 1
            restore_placements(self.model, self._placed[drawn])
        token = shot_sampling.set(self._sample) if self.shots else None
        try:
            yield
        finally:
            if token is not None:
                shot_sampling.reset(token)
            if self.pairs:
                restore_placements(self.model, self._placed[0])

    def _sample(self, out: torch.Tensor) -> torch.Tensor:
        return sample_shots(out, self.shots, self._shots)

    def epoch_draws(self) -> dict[str, int]:
        """This epoch's draws per pair, as metrics columns (``draws fake-nairobi x1``), and a fresh count."""
        row = {f"draws {device} x{scale:g}": n for (device, scale), n in zip(self.pairs, self.counts)}
        self.counts = [0] * len(self.pairs)
        return row if len(self.pairs) > 1 else {}

    def state_dict(self) -> dict:
        """The generators' states and this epoch's counts, for ``last.pt``."""
        return {"draws": self._draws.get_state(), "shots": self._shots.get_state(), "counts": list(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self._draws.set_state(state["draws"])
        self._shots.set_state(state["shots"])
        self.counts = list(state["counts"])


def _device_profile(name: str):
    profile = backends.get_profile(name)
    if profile.kind not in backends.SIMULATORS:
        raise ValueError(f"--noise needs a device profile (fake-<device>, or ibm for an IBM device's calibration), "
                         f"got {name!r} of kind {profile.kind!r}")
    return profile
