"""A V2 estimator that sends PUBs to a backend in as few PUBs and primitive calls as it allows.

EstimatorQNN's forward pass sends one PUB per observable, each carrying every sample's
parameter values; its parameter-shift gradient sends one single-value PUB per sample,
observable, parameter and shift. On a sampling backend every PUB is measured separately,
so ``k`` observables cost ``k`` times the circuits and shots they need. `BatchingEstimator`
rewrites the PUBs before sending them:

- a run of single-value PUBs on one circuit and observable (a gradient's shifted circuits)
  stacks its values into one PUB with a parameter array;
- PUBs on one circuit and the same parameter values whose observables differ become one
  PUB whose observables broadcast against the values (``(k, 1)`` against ``(P, n)``):
  commuting observables are then measured from the same shots. This merges both a forward
  call's observables and a gradient's per-observable stacks, so a gradient costs 1/k of
  the parameter sets it would one observable at a time;
- PUBs on one circuit object with the same observables (several layers of one circuit
  structure, each binding its own weights as values) concatenate their parameter rows.

The PUBs are sent in one primitive call, or split into calls of at most ``batch_size``
parameter sets with a progress bar; a ``guard`` sees every call's PUBs before the first is
sent (a budget check refuses there). This module knows only Qiskit's primitive containers;
the backend behind ``call`` is the registry's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin, EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray

from ..output import ProgressBar
from . import progress

__all__ = ["BatchingEstimator"]

logger = logging.getLogger(__name__)


@dataclass
class _Unit:
    """PUBs run as one PUB: its circuit, observables and values, and where each caller's result lies in it.

    ``picks`` pairs each caller PUB's index with the index of its result in this PUB's
    ``evs``; ``param_axis`` is the axis of ``evs`` that runs over the rows of ``values``
    (``None``: one parameter set, or a shape this module does not split or concatenate).
    """

    circuit: object
    observables: ObservablesArray
    values: np.ndarray  # (*param_shape, n_params)
    param_axis: int | None
    picks: list[tuple[int, tuple]] = field(default_factory=list)

    @property
    def size(self) -> int:
        shape = self.values.shape[:-1]
        return int(np.prod(shape)) if shape else 1

    @property
    def rows(self) -> int:
        return self.values.shape[0]

    def pub(self, rows: slice | None = None):
        return (self.circuit, self.observables, self.values if rows is None else self.values[rows])


class BatchingEstimator(BaseEstimatorV2):
    """Merge, batch and run PUBs through ``call`` (one primitive job per call).

    Args:
        call: runs a list of PUBs as one primitive job and returns its `PrimitiveResult`.
        batch_size: the most parameter sets per call; ``None`` sends everything in one call.
            A callable gets the circuits of the PUBs and returns that cap (or ``None``).
        label: the progress bar's title.
        guard: called with the PUBs of every call before the first is sent; it refuses by raising.
        cost: prices one call's PUBs (see `cost`).

    The ``precision`` a caller passes to `run` is ignored: the backend's profile decides
    shots, so EstimatorQNN's default cannot change them.
    """

    def __init__(self, call: Callable[[list], PrimitiveResult], batch_size: int | None = None, label: str = "",
                 *, guard: Callable[[list[list]], None] | None = None, cost: Callable[[list], Any] | None = None):
        super().__init__()
        self._call, self._batch_size, self._label, self._guard, self._cost = call, batch_size, label, guard, cost

    def cost(self, job: list) -> Any:
        """What one job of ``job``'s PUBs costs on the device (a `qpu_time.Cost`), or ``None`` off IBM devices."""
        return None if self._cost is None else self._cost(job)

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        """Merge ``pubs`` and run them in as few jobs as ``batch_size`` allows; one result per PUB, in order."""
        return _started(PrimitiveJob(self._run, [EstimatorPub.coerce(pub) for pub in pubs]))

    def jobs(self, pubs) -> list[list[tuple]]:
        """The PUBs of each job `run` would send for ``pubs``; nothing is sent (cost estimates use this)."""
        units, calls = self._plan([EstimatorPub.coerce(pub) for pub in pubs])
        return [[units[u].pub(rows) for u, rows in call] for call in calls]

    def _plan(self, pubs: Sequence[EstimatorPub]) -> tuple[list[_Unit], list]:
        units = _merge(pubs)
        cap = self._batch_size(list({id(u.circuit): u.circuit for u in units}.values())) if callable(
            self._batch_size) else self._batch_size
        return units, _plan(units, cap)

    def _run(self, pubs: Sequence[EstimatorPub]) -> PrimitiveResult:
        units, calls = self._plan(pubs)
        logger.debug("%s: %d PUB(s) merged into %d, sent in %d call(s)", self._label, len(pubs), len(units), len(calls))
        if self._guard is not None:
            self._guard([[units[u].pub(rows) for u, rows in call] for call in calls])
        parts: list[list] = [[] for _ in units]
        for call in ProgressBar(calls, desc=self._label, unit="job", disable=len(calls) <= 1 or progress.active(),
                                leave=False):
            result = self._call([units[u].pub(rows) for u, rows in call])
            progress.count(jobs=1)
            for (u, _), pub_result in zip(call, result):
                parts[u].append(pub_result.data)
        out: list = [None] * len(pubs)
        for unit, datas in zip(units, parts):
            evs = _join([d.evs for d in datas], unit.param_axis)
            stds = _join([getattr(d, "stds", np.zeros_like(d.evs)) for d in datas], unit.param_axis)
            for i, index in unit.picks:
                out[i] = PubResult(DataBin(evs=evs[index], stds=stds[index], shape=np.shape(evs[index])))
        return PrimitiveResult(out)


def _started(job: PrimitiveJob) -> PrimitiveJob:
    """``job``, started on its worker thread: the package's one call of a private Qiskit method.

    Qiskit has no public way to start a `PrimitiveJob`. Every primitive that returns one calls
    its private ``_submit()`` (in qiskit 2.6: StatevectorEstimator, StatevectorSampler,
    BackendEstimatorV2, BackendSamplerV2; Aer's EstimatorV2 and SamplerV2; qiskit-ibm-runtime
    0.51's local testing mode). The alternative Qiskit documents for implementers, a
    `BasePrimitiveJob` subclass of one's own, would copy PrimitiveJob's thread and future handling.
    """
    job._submit()
    return job


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
    """The caller's PUBs as few PUBs (see the module docstring), each result still found by its caller's index."""
    units, i = [], 0
    while i < len(pubs):
        first = pubs[i]
        pshape = first.parameter_values.shape
        if (n := _run_length(pubs, i, _stackable)) > 1:
            values = np.stack([_values(pub) for pub in pubs[i:i + n]])
            units.append(_Unit(first.circuit, first.observables, values, 0, [(i + r, (r,)) for r in range(n)]))
        elif (n := _run_length(pubs, i, _mergeable)) > 1:
            obs = ObservablesArray([pub.observables.tolist() for pub in pubs[i:i + n]])
            obs = obs.reshape((n,) + (1,) * len(pshape))
            rows = (slice(0, pshape[0]),) if len(pshape) == 1 else ()
            units.append(_Unit(first.circuit, obs, _values(first), 1 if len(pshape) == 1 else None,
                               [(i + j, (j,) + rows) for j in range(n)]))
        else:  # rows split and concatenate where the observables are one, or broadcast as (k, 1)
            oshape = first.observables.shape
            rows_last = oshape == () or (len(oshape) == 2 and oshape[1] == 1)
            axis = (1 if oshape else 0) if len(pshape) == 1 and rows_last else None
            index = () if axis is None else (slice(None),) * axis + (slice(0, pshape[0]),)
            units.append(_Unit(first.circuit, first.observables, _values(first), axis, [(i, index)]))
        i += n
    return _concatenate(_broadcast(units))


def _broadcast(units: list[_Unit]) -> list[_Unit]:
    """Units of one observable each on one circuit and the same values become one with the observables as ``(k, 1)``."""
    def key(unit):
        if unit.param_axis == 0 and unit.observables.shape == ():
            return id(unit.circuit), unit.values.shape, unit.values.tobytes()
        return None

    def join(group):
        obs = ObservablesArray([u.observables.tolist() for u in group]).reshape((len(group), 1))
        picks = [(i, (j,) + index) for j, u in enumerate(group) for i, index in u.picks]
        return _Unit(group[0].circuit, obs, group[0].values, 1, picks)

    return _grouped(units, key, join)


def _concatenate(units: list[_Unit]) -> list[_Unit]:
    """Units on one circuit object with the same observables concatenate their parameter rows."""
    def key(unit):
        if unit.param_axis is not None and unit.values.ndim == 2:
            return id(unit.circuit), unit.param_axis, unit.observables.shape, repr(unit.observables.tolist())
        return None

    def join(group):
        picks, offset, axis = [], 0, group[0].param_axis
        for u in group:
            picks += [(i, _shifted(index, axis, offset)) for i, index in u.picks]
            offset += u.rows
        return _Unit(group[0].circuit, group[0].observables, np.concatenate([u.values for u in group]), axis, picks)

    return _grouped(units, key, join)


def _grouped(units: list[_Unit], key, join) -> list[_Unit]:
    """Units of equal ``key`` (``None``: never grouped) replaced by ``join(group)``, in first-appearance order."""
    groups: dict = {}
    for unit in units:
        k = key(unit)
        groups.setdefault((id(unit),) if k is None else k, []).append(unit)
    return [group[0] if len(group) == 1 else join(group) for group in groups.values()]


def _shifted(index: tuple, axis: int, offset: int) -> tuple:
    row = index[axis]
    row = row + offset if isinstance(row, int) else slice(row.start + offset, row.stop + offset)
    return index[:axis] + (row,) + index[axis + 1:]


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
