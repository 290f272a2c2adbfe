"""What a job costs on an IBM device before it is sent: executions and estimated QPU seconds.

Counted, not guessed: each PUB is put through Qiskit Runtime's own client-side preparation
(`qiskit_ibm_runtime.executor_estimator.prepare`, the function the Estimator runs before it
submits), with the profile's options, so twirling randomizations, ZNE's noise factors and
TREX's calibration item are what the device will run. A PUB's cost is linear in its
parameter sets, so it is prepared twice, at one and at two parameter sets, once per circuit
and observables; the calibration item is counted once per job.

Time is an estimate (docs/ibm.md says which terms are assumed): per shot the QPU spends
``rep_delay`` (the profile's, else the device's default) plus the circuit's duration from
the device Target's instruction durations (measurement included); each job adds
`JOB_OVERHEAD_SECONDS`. IBM's per-job limits (`MAX_EXECUTIONS`, `MAX_JOB_SECONDS` or the
profile's ``max_execution_time``) give the most parameter sets one job may carry.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["JOB_OVERHEAD_SECONDS", "MAX_EXECUTIONS", "MAX_JOB_SECONDS", "Cost", "QPUTimeModel", "format_seconds"]

# IBM's own example of `job.usage_estimation` (guide "Workload usage"): one 2-qubit circuit at the
# Sampler's 4,096 default shots is estimated at 4.1 QPU-seconds, of which shots × rep_delay
# (250 µs) is 1.0 s: about 3 s per job that no shot accounts for. IBM publishes no figure of its own.
JOB_OVERHEAD_SECONDS = 3.0
MAX_EXECUTIONS = 10_000_000  # IBM's job limits: executions (circuits × shots) per job
MAX_JOB_SECONDS = 3 * 3600  # IBM's service-enforced maximum execution time of a job
_DEFAULT_REP_DELAY = 250e-6  # the default of every fake device checked; used where a device states none


@dataclass(frozen=True)
class Cost:
    """Jobs and what they execute: a sum of jobs' costs (``+`` adds two)."""

    jobs: int = 0
    pubs: int = 0
    parameter_sets: int = 0
    executions: int = 0
    qpu_seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.jobs + other.jobs, self.pubs + other.pubs, self.parameter_sets + other.parameter_sets,
                    self.executions + other.executions, self.qpu_seconds + other.qpu_seconds)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.jobs * times, self.pubs * times, self.parameter_sets * times, self.executions * times,
                    self.qpu_seconds * times)

    def describe(self) -> str:
        """One line: ``3 jobs, 1,200 parameter sets, 4.9 M executions, ~1,234 QPU-seconds (20.6 min)``."""
        return (f"{self.jobs:,} job(s), {self.parameter_sets:,} parameter sets, {self.executions:,} executions, "
                f"~{format_seconds(self.qpu_seconds)}")


def format_seconds(seconds: float) -> str:
    """QPU time as a person reads it: seconds, with minutes or hours beside large figures."""
    text = f"{seconds:,.1f} QPU-seconds"
    if seconds >= 3600:
        return text + f" ({seconds / 3600:,.1f} h)"
    return text + (f" ({seconds / 60:,.1f} min)" if seconds >= 60 else "")


@dataclass(frozen=True)
class _PubRate:
    """One circuit and observables: executions and seconds per parameter set, and of the job's calibration."""

    executions: int
    seconds: float
    calibration_executions: int
    calibration_seconds: float


class QPUTimeModel:
    """The cost of jobs of an ``ibm`` profile on its device, from Runtime's own preparation.

    Args:
        device: the profile's device (a fake device in local testing mode, or an IBM backend).
        options: the options the Estimator is (or would be) built with, as a dict.
        max_execution_time: the profile's per-job limit in QPU seconds, if any.
    """

    def __init__(self, device: Any, options: dict, max_execution_time: float | None = None):
        from qiskit_ibm_runtime.executor_estimator import Estimator

        self.device = device
        self.options = Estimator(mode=device, options=options).options  # validated exactly as the Estimator does
        rep_delay = self.options.execution.rep_delay
        self.rep_delay = rep_delay if rep_delay is not None else getattr(device, "default_rep_delay",
                                                                         _DEFAULT_REP_DELAY) or _DEFAULT_REP_DELAY
        self.max_job_seconds = min(MAX_JOB_SECONDS, max_execution_time or MAX_JOB_SECONDS)
        self._rates: dict[tuple, tuple] = {}  # (circuit id, observables) -> (circuit, its rate)

    def job(self, pubs: list[tuple]) -> Cost:
        """One job of ``pubs``, each ``(circuit, observables, values)`` as an Estimator takes it."""
        executions, seconds, calibration = 0, 0.0, (0, 0.0)
        sets = 0
        for circuit, observables, values in pubs:
            n = _parameter_sets(values)
            rate = self._rate(circuit, observables)
            executions += n * rate.executions
            seconds += n * rate.seconds
            sets += n
            calibration = max(calibration, (rate.calibration_executions, rate.calibration_seconds))
        return Cost(1, len(pubs), sets, executions + calibration[0],
                    seconds + calibration[1] + JOB_OVERHEAD_SECONDS)

    def max_parameter_sets(self, pubs: list[tuple]) -> int:
        """The most parameter sets one job of these circuits may carry within IBM's per-job limits."""
        rates = [self._rate(circuit, observables) for circuit, observables, _ in pubs]
        worst_executions = max(r.executions for r in rates)
        worst_seconds = max(r.seconds for r in rates)
        room_executions = MAX_EXECUTIONS - max(r.calibration_executions for r in rates)
        room_seconds = self.max_job_seconds - JOB_OVERHEAD_SECONDS - max(r.calibration_seconds for r in rates)
        return max(1, min(room_executions // max(worst_executions, 1), math.floor(room_seconds / worst_seconds)))

    def _rate(self, circuit, observables) -> _PubRate:
        key = (id(circuit), repr(_as_list(observables)))
        known = self._rates.get(key)
        if known is None or known[0] is not circuit:  # the circuit is kept, so its id is never another's
            one, two = (self._prepared(circuit, observables, n) for n in (1, 2))
            per_set = (two[0] - one[0], two[1] - one[1])
            known = self._rates[key] = circuit, _PubRate(per_set[0], per_set[1], one[0] - per_set[0],
                                                         one[1] - per_set[1])
        return known[1]

    def _prepared(self, circuit, observables, n: int) -> tuple[int, float]:
        """Executions and seconds of one job of this PUB at ``n`` parameter sets, as Runtime prepares it."""
        from qiskit_ibm_runtime.executor_estimator.prepare import prepare

        values = np.zeros((n, circuit.num_parameters))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program, _ = prepare([(circuit, observables, values)], self.options, backend=self.device)
        executions, seconds = 0, 0.0
        for item in program.items:
            runs = program.shots * int(np.prod(item.shape))
            executions += runs
            seconds += runs * (self.rep_delay + item.circuit.estimate_duration(self.device.target, unit="s"))
        return executions, seconds


def _parameter_sets(values) -> int:
    shape = np.shape(values)[:-1]
    return int(np.prod(shape)) if shape else 1


def _as_list(observables):
    return observables.tolist() if hasattr(observables, "tolist") else observables
