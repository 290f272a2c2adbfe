"""A V2 estimator that sends PUBs to a backend in as few primitive calls as it allows.

EstimatorQNN's forward pass sends one PUB per observable, each carrying every sample's
parameter values. On a sampling backend each PUB is measured separately, so ``k``
observables cost ``k`` times the circuits and shots they need. `BatchingEstimator` merges
PUBs that share a circuit and parameter values into one PUB whose observables broadcast
against the values (``(k, 1)`` against ``(P, n_params)``): commuting observables are then
measured from the same shots. Its parameter-shift gradient sends one single-value PUB per
sample, observable, parameter and shift; runs of those on one observable are stacked into
one PUB with a parameter array. PUBs are sent in one primitive call, or split into calls of
at most ``batch_size`` parameter sets with a progress bar. This module knows only Qiskit's
primitive containers; the backend behind ``call`` is the registry's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin, EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from tqdm import tqdm

from . import progress

__all__ = ["BatchingEstimator"]

logger = logging.getLogger(__name__)


@dataclass
class _Unit:
    """PUBs run as one: ``indices`` of the caller's PUBs, their circuit, observables and values."""

    indices: list[int]
    circuit: object
    observables: ObservablesArray
    values: np.ndarray  # (*param_shape, n_params)
    param_axis: int | None  # result axis of the first parameter axis, if the unit may be split

    @property
    def size(self) -> int:
        shape = self.values.shape[:-1]
        return int(np.prod(shape)) if shape else 1

    def pub(self, rows: slice | None = None):
        return (self.circuit, self.observables, self.values if rows is None else self.values[rows])


class BatchingEstimator(BaseEstimatorV2):
    """Merge, batch and run PUBs through ``call`` (one primitive job per call).

    Args:
        call: runs a list of PUBs as one primitive job and returns its `PrimitiveResult`.
        batch_size: the most parameter sets per call; ``None`` sends everything in one call.
        label: the progress bar's title.

    The ``precision`` a caller passes to `run` is ignored: the backend's profile decides
    shots, so EstimatorQNN's default cannot change them.
    """

    def __init__(self, call: Callable[[list], PrimitiveResult], batch_size: int | None = None, label: str = ""):
        super().__init__()
        self._call, self._batch_size, self._label = call, batch_size, label

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        """Merge ``pubs`` and run them in as few jobs as ``batch_size`` allows; one result per PUB, in order."""
        coerced = [EstimatorPub.coerce(pub) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()  # as Qiskit's own estimators do
        return job

    def _run(self, pubs: Sequence[EstimatorPub]) -> PrimitiveResult:
        units = _merge(pubs)
        calls = _plan(units, self._batch_size)
        logger.debug("%s: %d PUB(s) merged into %d, sent in %d call(s)", self._label, len(pubs), len(units), len(calls))
        parts: list[list] = [[] for _ in units]
        for call in tqdm(calls, desc=self._label, unit="job", disable=len(calls) <= 1 or progress.active(), leave=False):
            result = self._call([units[u].pub(rows) for u, rows in call])
            progress.count(jobs=1)
            for (u, _), pub_result in zip(call, result):
                parts[u].append(pub_result.data)
        out: list = [None] * len(pubs)
        for unit, datas in zip(units, parts):
            evs = _join([d.evs for d in datas], unit.param_axis)
            stds = _join([getattr(d, "stds", np.zeros_like(d.evs)) for d in datas], unit.param_axis)
            if len(unit.indices) == 1:
                out[unit.indices[0]] = PubResult(DataBin(evs=evs, stds=stds, shape=evs.shape))
            else:  # a merged or stacked unit: its result j is the caller's PUB indices[j]
                for j, i in enumerate(unit.indices):
                    out[i] = PubResult(DataBin(evs=evs[j], stds=stds[j], shape=evs[j].shape))
        return PrimitiveResult(out)


def _join(arrays: list, axis: int | None) -> np.ndarray:
    return np.asarray(arrays[0]) if len(arrays) == 1 else np.concatenate([np.asarray(a) for a in arrays], axis=axis)


def _values(pub: EstimatorPub) -> np.ndarray:
    return pub.parameter_values.as_array(pub.circuit.parameters)


def _scalar(pub: EstimatorPub) -> bool:
    return pub.observables.shape == () and pub.parameter_values.shape == ()


def _stackable(a: EstimatorPub, b: EstimatorPub) -> bool:
    """One observable and one parameter set each, on the same circuit and observable."""
    return a.circuit is b.circuit and _scalar(a) and _scalar(b) and a.observables.tolist() == b.observables.tolist()


def _mergeable(a: EstimatorPub, b: EstimatorPub) -> bool:
    """One observable each, on the same circuit and the same parameter values."""
    return (a.circuit is b.circuit and a.observables.shape == () and b.observables.shape == ()
            and a.parameter_values.shape == b.parameter_values.shape and np.array_equal(_values(a), _values(b)))


def _run_length(pubs: Sequence[EstimatorPub], i: int, same) -> int:
    j = i + 1
    while j < len(pubs) and same(pubs[i], pubs[j]):
        j += 1
    return j - i


def _merge(pubs: Sequence[EstimatorPub]) -> list[_Unit]:
    """Consecutive PUBs become one where they can.

    A run of single-value PUBs on the same circuit and observable (a gradient's shifted
    circuits) stacks its values into one PUB; a run of PUBs on the same circuit and values
    with one observable each (EstimatorQNN's forward) becomes one PUB whose observables
    broadcast against the values. Either way, result ``j`` of the unit is PUB ``indices[j]``.
    """
    units, i = [], 0
    while i < len(pubs):
        first = pubs[i]
        pshape = first.parameter_values.shape
        if (n := _run_length(pubs, i, _stackable)) > 1:
            values = np.stack([_values(pub) for pub in pubs[i:i + n]])
            units.append(_Unit(list(range(i, i + n)), first.circuit, first.observables, values, 0))
        elif (n := _run_length(pubs, i, _mergeable)) > 1:
            obs = ObservablesArray([pub.observables.tolist() for pub in pubs[i:i + n]])
            obs = obs.reshape((n,) + (1,) * len(pshape))
            units.append(_Unit(list(range(i, i + n)), first.circuit, obs, _values(first), 1 if pshape else None))
        else:
            splittable = pshape != () and first.observables.shape == ()
            units.append(_Unit([i], first.circuit, first.observables, _values(first), 0 if splittable else None))
        i += n
    return units


def _plan(units: list[_Unit], batch_size: int | None) -> list[list[tuple[int, slice | None]]]:
    """Calls of at most ``batch_size`` parameter sets; a unit larger than that is split by rows."""
    if batch_size is None:
        return [[(u, None) for u in range(len(units))]]
    calls, current, filled = [], [], 0
    for u, unit in enumerate(units):
        if unit.param_axis is not None and unit.size > batch_size:
            rows = unit.values.shape[0]
            step = max(1, batch_size // (unit.size // rows))
            calls.extend([[(u, slice(r, r + step))] for r in range(0, rows, step)])
            continue
        if current and filled + unit.size > batch_size:
            calls.append(current)
            current, filled = [], 0
        current.append((u, None))
        filled += unit.size
    if current:
        calls.append(current)
    return calls
