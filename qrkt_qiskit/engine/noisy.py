"""A device's noise in the engine: an ISA circuit with its noise, as an exact batched density matrix.

The density matrix of the circuit's *active* qubits (those a gate or an observable touches;
idle physical qubits stay in |0> and are dropped) is held in the Pauli basis: a real vector
``r_P = Tr(ρ P)`` over the ``4^k`` Pauli strings (`ptm`). Every instruction is one real
Pauli transfer matrix ``R = R_error · R_gate``, so gates and noise cost the same and fuse
freely. `noisy_plan.NoisyBuilder` plans the circuit once; a call runs the plan
(docs/noise.md):

1. *Product prefix*: each qubit's single-qubit gates before its first multi-qubit gate act
   on its own Bloch 4-vector (noise on one qubit keeps a product state a product state).
2. *Schrödinger middle* (only when an input is read after an entangler): the batched
   ``(batch, 4^k)`` state, step by step.
3. *Heisenberg tail*: everything after the last input-dependent gate is applied, transposed,
   to the measured terms instead, once per call whatever the batch (``(terms, 4^k)``).
4. The two meet in one matmul. Single-qubit gates are multiplied into the next multi-qubit
   gate on their qubit, so the big tensors are touched once per entangler.

Readout error enters through the measured terms (`noise.readout_observables`); finite shots
are binomial samples of each measured term around its exact value.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import numpy as np
import torch

from ..circuits import Ansatz
from .gates import PARAMETRIC_GATES
from .lowering import with_zero_slot
from .noise import DeviceNoise
from .noisy_plan import ConstFactor, Group, GroupFactor, NoisyBuilder, NoisyPlan, Step, step_matrix
from .ptm import pauli_basis, unitary_ptm
from .rotation import AXES, PLANES, rotate_in_plane, rotation, rotation_parts
from .state_ops import apply, kron_states

__all__ = ["DensityMatrixCircuit"]

# Samples per chunk are capped so that one chunk's (chunk, 4^k) state stays this small.
_CHUNK_ELEMENTS = 2**24


@dataclass
class Ptms:
    """One call's Pauli transfer matrices of the parametric instructions.

    Attributes:
        groups: ``(batched, gate) ->`` a `Group`'s PTMs, ``(..., gates, d², d²)``.
        angles: ``gate ->`` the angles ``(batch, gates)`` of a batched rotation group without
            error, which turns the prefix's Bloch vectors directly (`rotation.rotate_in_plane`).
        each: ``instruction id ->`` its own PTM, for the ids the plan takes one at a time.
    """

    groups: dict[tuple[bool, str], torch.Tensor] = field(default_factory=dict)
    angles: dict[str, torch.Tensor] = field(default_factory=dict)
    each: dict[int, torch.Tensor] = field(default_factory=dict)

    def merged(self, other: Ptms) -> Ptms:
        return Ptms({**self.groups, **other.groups}, {**self.angles, **other.angles}, {**self.each, **other.each})


class DensityMatrixCircuit:
    """An ansatz as a device runs it, noise and readout included; ``program(x, w)`` on a flat batch.

    Args:
        ansatz: the device's ISA circuit, its inputs, weights and the observables laid out onto it.
        noise: the device's noise (``DeviceNoise()``: ideal gates and readout).
        shots: ``None`` for exact expectation values (the infinite-shot limit), else binomial
            samples of each measured term; gradients are then those of the exact values.
        seed: seeds the shot sampler.
        dtype, device: ``torch.float32``/``float64``; CPU or CUDA.

    Raises:
        UnsupportedCircuitError: for an instruction the engine cannot express, or more than
            `noisy_plan.MAX_ACTIVE_QUBITS` active qubits.
    """

    def __init__(self, ansatz: Ansatz, noise: DeviceNoise, *, shots: int | None = None, seed: int | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device = torch.device("cpu")):
        self.dtype, self.device, self.shots = dtype, device, shots
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.plan: NoisyPlan = NoisyBuilder(ansatz, noise, dtype, device).build()
        self._basis = {m: torch.tensor(pauli_basis(m), dtype=cdtype, device=device) for m in (1, 2)}
        self._rotation_parts = {name: torch.as_tensor(rotation_parts([AXES[name]])[:, 0], dtype=dtype, device=device)
                                for name in PLANES}  # (3, 4, 4): A, B, C of each rotation gate's PTM
        self._constants = {i: self.plan.instrs[i].ptm for i in self.plan.each if self.plan.instrs[i].ptm is not None}
        self._eye = torch.eye(4, dtype=dtype, device=device)
        self._tail_cache: torch.Tensor | None = None  # the Heisenberg-evolved terms, when the tail has no weights
        self._support, self._gather = (None, None) if self.plan.middle or not len(self.plan.terms.rows) \
            else self._tail_support(ansatz.n_weights)
        self._generator = None
        if shots is not None:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(seed if seed is not None else secrets.randbits(63))  # not torch's global RNG

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """What the device measures, ``(batch, n_observables)``, for ``x: (batch, n_inputs)``, ``w: (n_weights,)``."""
        terms = self.plan.terms
        values_w = with_zero_slot(w)
        fixed = self._ptms(values_w, batched=False)
        heisenberg = self._heisenberg(fixed)
        chunk = max(1, _CHUNK_ELEMENTS // 4**self.plan.k)
        expectations = torch.cat([self._meet(part, values_w, fixed, heisenberg) for part in x.split(chunk)])
        if self.shots is not None:
            expectations = expectations + (self._sample(expectations.detach()) - expectations.detach())
        return expectations @ terms.coeffs.T + terms.offset

    def _heisenberg(self, fixed: Ptms) -> torch.Tensor:
        """The measured terms evolved backwards through the tail: ``(terms, 4^k)``."""
        if self._tail_cache is not None:
            return self._tail_cache
        h = self.plan.terms.rows
        if not len(h):  # identity terms only: nothing to evolve
            return h
        for step in reversed(self.plan.tail):
            h = apply(h, self._step_matrix(step, fixed).transpose(-1, -2), _wires(step.qubits), 2 * self.plan.k)
        if all(step.matrix is not None for step in self.plan.tail):
            self._tail_cache = h  # no weight in the tail: the same every call
        return h

    def _meet(self, x: torch.Tensor, values_w: torch.Tensor, fixed: Ptms, heisenberg: torch.Tensor) -> torch.Tensor:
        """``(batch, terms)``: the Schrödinger state of ``x`` against the Heisenberg-evolved terms."""
        batch, plan = x.shape[0], self.plan
        if not len(plan.terms.rows):  # identity terms only (no active qubit at all, maybe): constants
            return x.new_zeros(batch, 0)
        values_x = torch.cat([x, values_w.expand(batch, -1)], dim=1)
        ptms = fixed.merged(self._ptms(values_x, batched=True))
        zero = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=self.dtype, device=self.device)  # |0>
        bloch = torch.cat([_column(column.qubits, column.factors, ptms, zero, batch) for column in plan.columns], dim=1)
        if plan.unsort is not None:  # columns group qubits by chain shape: back to qubit order
            bloch = bloch.index_select(1, plan.unsort)
        if self._support is not None:  # r_P of a product state is the product of its qubits' entries
            factors = bloch.reshape(batch, 4 * plan.k).index_select(1, self._gather).view(batch, -1, plan.k)
            r = factors[..., 0]
            for q in range(1, plan.k):
                r = r * factors[..., q]
            return r @ heisenberg[:, self._support].T
        state = kron_states(bloch)  # (batch, 4^k)
        for step in plan.middle:
            state = apply(state, self._step_matrix(step, ptms), _wires(step.qubits), 2 * plan.k)
        return state @ heisenberg.T

    def _ptms(self, values: torch.Tensor, *, batched: bool) -> Ptms:
        """PTMs of the parametric gates that read (``batched``) or do not read the inputs (and the constants taken one by one)."""
        out = Ptms(each=dict(self._constants) if not batched else {})
        for group in self.plan.groups[batched]:
            angles = [values.index_select(-1, group.index[p]) * group.scale[p] + group.offset[p]
                      for p in range(len(group.index))]
            if batched and group.name in PLANES and group.errors is None:
                out.angles[group.name] = angles[0]  # (batch, gates): turned on the Bloch vectors directly, no matrix
                for g, i in enumerate(group.ids):
                    if i in self.plan.each:
                        out.each[i] = self._rotation_ptm(group.name, angles[0][:, g])
                continue
            ptm = self._group_ptm(group, angles)
            out.groups[batched, group.name] = ptm
            for g, i in enumerate(group.ids):
                if i in self.plan.each:
                    out.each[i] = ptm[..., g, :, :]
        return out

    def _group_ptm(self, group: Group, angles: list[torch.Tensor]) -> torch.Tensor:
        if group.name in PLANES:
            ptm = self._rotation_ptm(group.name, angles[0])
        else:
            d = 2 ** len(self.plan.instrs[group.ids[0]].qubits)
            ptm = unitary_ptm(PARAMETRIC_GATES[group.name][1](*angles), self._basis[d.bit_length() - 1])
        return ptm if group.errors is None else group.errors @ ptm

    def _rotation_ptm(self, name: str, theta: torch.Tensor) -> torch.Tensor:
        """``(..., 4, 4)`` PTMs of RX/RY/RZ/P(θ): ``A + cos θ B + sin θ C`` (`rotation`)."""
        theta = theta[..., None, None]
        return rotation(*self._rotation_parts[name], torch.cos(theta), torch.sin(theta))

    def _step_matrix(self, step: Step, ptms: Ptms) -> torch.Tensor:
        return step_matrix(step, ptms.each.__getitem__, self._eye)

    def _tail_support(self, n_weights: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The Pauli strings the evolved terms can reach, if few, and where to gather them from the Bloch vectors.

        Clifford gates map Pauli strings to Pauli strings and device noise mixes few, so a
        one-layer circuit reaches a handful of the 4^k. The support is read off the terms
        evolved with random weights (a string reached for some weights is reached for almost
        all); ``None`` where it is too large to pay off.
        """
        k = self.plan.k
        g = torch.Generator(device="cpu").manual_seed(0)
        w = torch.rand(n_weights, generator=g, dtype=self.dtype).to(self.device) * 2 * np.pi + 0.1
        fixed = self._ptms(with_zero_slot(w), batched=False)
        reach = self.plan.terms.rows.abs()  # magnitudes through |R|: sums of non-negative terms never cancel to 0
        for step in reversed(self.plan.tail):
            reach = apply(reach, self._step_matrix(step, fixed).abs().transpose(-1, -2), _wires(step.qubits), 2 * k)
        support = torch.nonzero((reach > 0).any(dim=0)).flatten()
        if len(support) * k > 4**k // 4:
            return None, None
        digits = (support.unsqueeze(1) // 4 ** torch.arange(k, device=self.device)) % 4  # (strings, k)
        return support, (torch.arange(k, device=self.device) * 4 + digits).flatten()  # into (batch, 4k) Bloch

    def _sample(self, expectations: torch.Tensor) -> torch.Tensor:
        p = ((1 - expectations) / 2).clamp(0, 1)  # probability of an odd parity
        counts = torch.binomial(torch.full_like(p, float(self.shots)), p, generator=self._generator)
        return 1 - 2 * counts / self.shots

    def describe(self) -> str:
        """One line for ``repr``: the active qubits and how the plan splits the noisy instructions."""
        plan = self.plan
        return (f"{plan.k} active qubit(s) {list(plan.physical)}, {len(plan.instrs)} noisy instructions: "
                f"{plan.prefix_size} in the product prefix, {len(plan.middle)} Schrödinger step(s), "
                f"{len(plan.tail)} Heisenberg step(s); {len(plan.terms.rows)} measured term(s)"
                + ("" if self.shots is None else f", {self.shots} shots"))


def _column(qubits: tuple[int, ...], factors, ptms: Ptms, zero: torch.Tensor, batch: int) -> torch.Tensor:
    """One prefix column's Bloch vectors ``(batch, qubits, 4)``: its factors applied to ``|0>``.

    Weight-only factors ``(qubits, 4, 4)`` are multiplied together first, and meet the
    batch once, at the next batched factor.
    """
    r = zero.expand(len(qubits), 4)  # (qubits, 4), then (batch, qubits, 4) from the first input gate
    pending = None  # weight-only factors not applied yet
    for factor in factors:
        if isinstance(factor, ConstFactor):
            m = factor.matrix
        elif isinstance(factor, GroupFactor) and factor.batched and factor.name in ptms.angles:
            if pending is not None:
                r, pending = (pending @ r.unsqueeze(-1)).squeeze(-1), None
            r = rotate_in_plane(r, factor.name, ptms.angles[factor.name].index_select(-1, factor.index))
            continue
        elif isinstance(factor, GroupFactor):
            m = ptms.groups[factor.batched, factor.name].index_select(-3, factor.index)
        else:
            m = torch.stack([ptms.each[i] for i in factor.ids], dim=-3)
        if m.dim() == 3:
            pending = m if pending is None else m @ pending
            continue
        if pending is not None:
            r, pending = (pending @ r.unsqueeze(-1)).squeeze(-1), None
        r = (m @ r.unsqueeze(-1)).squeeze(-1)
    if pending is not None:
        r = (pending @ r.unsqueeze(-1)).squeeze(-1)
    return r.expand(batch, len(qubits), 4) if r.dim() == 2 else r


def _wires(qubits: tuple[int, ...]) -> tuple[int, ...]:
    """The two bits of each qubit's Pauli digit in the ``4^k`` index."""
    return tuple(b for q in qubits for b in (2 * q, 2 * q + 1))
