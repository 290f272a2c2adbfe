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
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .backends.qpu_time import Cost
from .circuits import parameterised_gate_arguments
from .layers import QuantumLayer, quantum_layers
from .placement import recording

__all__ = ["Plan", "by_level", "plan"]


@dataclass
class Plan:
    """The calls of one forward pass, by dependency level, and what sending them costs.

    Attributes:
        levels: per level, each backend estimator's calls as ``(circuit, observables,
            values)`` PUBs (values ``(P, n)``, one row per sample and token).
        calls: quantum-layer calls on backends in the pass.
    """

    levels: list[dict]
    calls: int

    def jobs(self, scale: int = 1) -> list[tuple]:
        """``(estimator, PUBs)`` of every job, for ``scale`` times the samples planned (the forward pass)."""
        return [(estimator, job) for level in self.levels for estimator, pubs in level.items()
                for job in estimator.jobs([_scaled(pub, scale) for pub in pubs])]

    def gradient_jobs(self, scale: int = 1) -> list[tuple]:
        """The jobs of a backward pass: each call's parameter-shift gradient, its observables broadcast, one job each."""
        return [(estimator, job) for level in self.levels for estimator, pubs in level.items() for pub in pubs
                for job in estimator.jobs([_scaled(pub, scale * 2 * parameterised_gate_arguments(pub[0]))])]

    def cost(self, scale: int = 1, *, training: bool = False) -> tuple[Cost, bool]:
        """Jobs, PUBs and parameter sets of the forward pass (with ``training``, and its gradient) at ``scale``
        times the samples planned; executions and QPU seconds where the backend is an IBM device.

        Returns:
            The cost, and whether every job was priced (an IBM device's QPU-time model).
        """
        jobs = self.jobs(scale) + (self.gradient_jobs(scale) if training else [])
        total, priced = Cost(), True
        for estimator, job in jobs:
            cost = estimator.cost(job)
            priced &= cost is not None
            total += cost if cost is not None else Cost(1, len(job), sum(_sets(pub) for pub in job))
        return total, priced


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


def plan(model: nn.Module, *inputs, **kwargs) -> Plan:
    """The levels and calls `by_level` would send for ``model(*inputs)``; nothing is sent.

    The exact native values stand in for every measurement, so the plan is that of the model
    on these inputs (a model whose circuit calls depend on the data, as the text model's
    padding does, is planned on the data it will run on).
    """
    _check_eval(model)
    levels: list[dict] = []

    def dry(ready: dict, measured: dict) -> None:
        levels.append({estimator: [pub for _, pub, _ in calls] for estimator, calls in ready.items()})
        for calls in ready.values():
            for index, _, values in calls:
                measured[index] = _Measured(values, None)

    measured = _run(model, inputs, kwargs, send=dry)
    return Plan(levels, len(measured))


def _scaled(pub: tuple, scale: int) -> tuple:
    """``pub`` with ``scale`` times its parameter sets (values do not change what a job costs)."""
    circuit, observables, bound = pub
    rows = _sets(pub) * scale
    return circuit, observables, np.zeros((rows, bound.num_parameters if hasattr(bound, "num_parameters")
                                           else np.shape(bound)[-1]))


def _sets(pub: tuple) -> int:
    shape = pub[2].shape if hasattr(pub[2], "num_parameters") else np.shape(pub[2])[:-1]
    return int(np.prod(shape)) if shape else 1


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
    """Planning passes until every call is measured; ``send(ready, measured)`` measures one level's ready calls."""
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
            send(rec.ready, measured)
        raise RuntimeError("the planning passes did not converge: the model's forward pass is not deterministic")
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _send(ready: dict, measured: dict) -> None:
    """Each backend's ready calls of one level as one `run` of its estimator: merged PUBs, as few jobs as allowed."""
    for estimator, calls in ready.items():
        result = estimator.run([pub for _, pub, _ in calls]).result()
        for (index, _, values), pub_result in zip(calls, result):
            evs = np.asarray(pub_result.data.evs)  # (k, P): observables broadcast against the rows
            measured[index] = _Measured(values, evs.T.copy())
