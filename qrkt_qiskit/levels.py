"""A model's forward pass in one job per dependency level, not one per quantum-layer call.

On a backend profile each `QuantumLayer` call is a primitive job, yet the calls of one
level are independent: Q, K, V and the MLP's circuit of an ODE stage all read the same
normalised state. `by_level` finds the levels by running the model, not by reading it, so it
works for any model: in each planning pass every call not yet measured returns its exact
native values as a fresh leaf that requires grad, so a later call whose input requires grad
depends on an unmeasured call and waits; every call whose input does not is ready, and the
ready calls of all layers go out together, one job per backend (or as few as its per-job
limits allow), their PUBs merged by circuit structure. A final pass returns the measured
values, differentiable as the one-call path is. A measured call whose input changed since
it was sent (a dependency the planning could not see, e.g. through ``argmax``) is sent again.

The passes run the model's classical part once per level plus once, in eval mode only (a
train-mode forward would update batch statistics once per pass).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .backends.qpu_time import Cost
from .layers import QuantumLayer, quantum_layers, recording

__all__ = ["Level", "Plan", "by_level", "plan"]


@dataclass
class Level:
    """One dependency level: the PUBs each backend's estimator gets, and the jobs they become."""

    pubs: dict = field(default_factory=dict)  # estimator -> [(layer call index, pub, its values (P, n))]
    jobs: list = field(default_factory=list)  # (estimator, [pub, ...]) per job, as the estimator plans them


@dataclass
class Plan:
    """The levels of one forward pass and what their jobs cost (``cost`` only for IBM devices)."""

    levels: list[Level]
    calls: int
    cost: Cost | None = None

    @property
    def jobs(self) -> int:
        return sum(len(level.jobs) for level in self.levels)


def by_level(model: nn.Module, *inputs, **kwargs) -> torch.Tensor:
    """``model(*inputs, **kwargs)`` with its quantum-layer calls on backend profiles sent one job per level.

    Layers on the native engines run as usual; a model with no layer on a backend profile is
    simply called. The output equals the one-job-per-call path's (exactly, on an exact
    backend) and keeps its autograd graph.

    Raises:
        ValueError: if the model is in training mode.
    """
    if not _on_backends(model):
        return model(*inputs, **kwargs)
    _check_eval(model)
    measured = _run(model, inputs, kwargs, send=_send)
    with _recorder(_Recorder(measured, final=True)) as rec:
        out = model(*inputs, **kwargs)
    rec.check_final()
    return out


def plan(model: nn.Module, *inputs, cost: Callable | None = None, **kwargs) -> Plan:
    """The levels and jobs `by_level` would send for ``model(*inputs)``; nothing is sent.

    Args:
        cost: maps an estimator to its backend's QPU-time model (``None`` where it has none);
            with it, the plan's ``cost`` sums every job's estimate.
    """
    _check_eval(model)
    levels: list[Level] = []

    def dry(level: Level, measured: dict) -> None:
        levels.append(level)
        for estimator, calls in level.pubs.items():
            level.jobs += [(estimator, job) for job in estimator.jobs([pub for _, pub, _ in calls])]
            for index, _, values in calls:
                measured[index] = _Measured(values, None)

    measured = _run(model, inputs, kwargs, send=dry)
    total = None
    if cost is not None:
        for level in levels:
            for estimator, job in level.jobs:
                model_ = cost(estimator)
                if model_ is not None:
                    total = (total or Cost()) + model_.job(job)
    return Plan(levels, len(measured), total)


def _on_backends(model: nn.Module) -> bool:
    return any(layer._placement is not None and layer.simulator != "native" for layer in quantum_layers(model))


def _check_eval(model: nn.Module) -> None:
    if model.training:
        raise ValueError("sending a model's circuits one job per dependency level runs its forward pass several "
                         "times, so it needs eval mode (model.eval()): in training mode batch statistics and "
                         "dropout would change between passes")


@dataclass
class _Measured:
    values: np.ndarray  # the call's parameter values as sent (P, n), in the layer's parameter order
    outputs: np.ndarray | None  # (P, k); None in a dry run


class _Recorder:
    """What one pass does at each quantum-layer call on a backend (see the module docstring)."""

    def __init__(self, measured: dict, final: bool = False):
        self.measured, self.final = measured, final
        self.index = 0
        self.ready: dict = {}  # estimator -> [(call index, pub)]
        self.stale: list[int] = []

    def call(self, layer: QuantumLayer, x: torch.Tensor) -> torch.Tensor:
        """The output of this call of ``layer`` on ``x`` in this pass."""
        i, self.index = self.index, self.index + 1
        placement = layer._placement
        values = placement.values(layer.ansatz, x, layer.weight)
        known = self.measured.get(i)
        array = values.detach().cpu().double().numpy()
        if known is not None and np.array_equal(known.values, array):
            if known.outputs is None:  # a dry run: the exact values stand in for the measurement
                return self._native(layer, x)
            outputs = torch.as_tensor(known.outputs, dtype=x.dtype, device=x.device)
            shape = (*x.shape[:-1], layer.n_outputs)
            return (placement.function(values, outputs) if self.final else outputs).reshape(shape)
        if known is not None:
            self.stale.append(i)
        if self.final:
            raise RuntimeError(f"quantum-layer call {i} was not measured in the planning passes")
        if not x.requires_grad:  # depends on no unmeasured call: send it now
            self.ready.setdefault(placement.estimator, []).append((i, placement.pub(values), array))
        return self._native(layer, x).requires_grad_()  # a stand-in: whatever reads it must wait

    @staticmethod
    def _native(layer: QuantumLayer, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return layer._exact_program()(x, layer.weight.to(x.dtype))

    def check_final(self) -> None:
        if self.index != len(self.measured):
            raise RuntimeError(f"the final pass made {self.index} quantum-layer calls, the planning passes "
                               f"{len(self.measured)}: the model's forward pass is not deterministic")


@contextlib.contextmanager
def _recorder(rec: _Recorder):
    token = recording.set(rec)
    try:
        yield rec
    finally:
        recording.reset(token)


def _run(model: nn.Module, inputs: tuple, kwargs: dict, send: Callable) -> dict:
    """Planning passes until every call is measured; ``send(level, measured)`` measures a level's ready calls."""
    measured: dict = {}
    frozen = [p for p in model.parameters() if p.requires_grad]
    detached = tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in inputs)
    try:
        for p in frozen:
            p.requires_grad_(False)
        for _ in range(10_000):
            with torch.enable_grad(), _recorder(_Recorder(measured)) as rec:
                model(*detached, **kwargs)
            for i in rec.stale:
                del measured[i]
            if not rec.ready:
                if len(measured) < rec.index:
                    raise RuntimeError("a quantum-layer call waits on no other call yet was never ready")
                return measured
            send(Level(rec.ready), measured)
        raise RuntimeError("the planning passes did not converge: the model's forward pass is not deterministic")
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _send(level: Level, measured: dict) -> None:
    """Each backend's ready calls of one level as one `run` of its estimator: merged PUBs, as few jobs as allowed."""
    for estimator, calls in level.pubs.items():
        result = estimator.run([pub for _, pub, _ in calls]).result()
        for (index, _, values), pub_result in zip(calls, result):
            evs = np.asarray(pub_result.data.evs)  # (k, P): observables broadcast against the rows
            measured[index] = _Measured(values, evs.T.copy())
