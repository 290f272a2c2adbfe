"""Running circuits on a profile: the Qiskit primitive it opens, and the native noisy engine.

`prepare` gives EstimatorQNN what it needs (ISA circuit, laid-out observables, a batching V2
estimator over the profile's primitive, opened once per process and shared by every layer);
`noisy_program` gives the native engine the same ISA circuit with the device's noise model.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from qiskit.quantum_info import SparsePauliOp

from ..circuits import Ansatz
from ..engine import CompiledCircuit, DeviceNoise, UnsupportedCircuitError, compile_ansatz, readout_observables
from . import journal
from .batching import BatchingEstimator
from .device_noise import device_noise
from .devices import device_setup, fit
from .failures import job_error
from .mitigation import MitigatedCircuit, resolve
from .profiles import (BackendJobError, BackendProfile, BudgetExceededError, check_fits, ensure_available,
                       is_fake_device)
from .qpu_time import Cost, QPUTimeModel, format_seconds

__all__ = ["Execution", "Prepared", "close_sessions", "execution_of", "noisy_program", "prepare", "qpu_model",
           "runtime_options", "shots_precision"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """An ansatz made ready for one backend.

    Attributes:
        circuit: what the primitive runs: the ansatz's circuit, or its ISA transpilation
            (with ``layout``) for a device, one object per circuit structure.
        parameters: ``circuit``'s parameters standing for the ansatz's inputs then weights.
        observables: the ansatz's observables, laid out onto ``circuit``.
        estimator: a V2 estimator over the profile's primitive (shared by every layer on the
            profile, opened by its first job) that merges PUBs and sends them in as few jobs as
            ``batch_size`` and IBM's per-job limits allow (see `BatchingEstimator`).
        zeros: the outputs that are 0 on every state (each measured qubit reads a coin flip,
            readout error 1/2); Qiskit's primitives refuse the zero observable ("Empty
            observable was detected."), so ``observables`` holds the identity there and the
            caller zeroes these outputs.
    """

    circuit: Any
    parameters: tuple
    observables: tuple
    estimator: Any
    zeros: tuple[int, ...] = ()


def prepare(profile: BackendProfile, ansatz: Ansatz) -> Prepared:
    """Fit ``ansatz`` to ``profile`` and give it the profile's estimator (one per process, shared by every layer).

    Raises:
        ValueError: if the circuit is wider than the device.
        BackendUnavailableError: if the backend cannot run here (see `unavailable_reason`) or
            IBM Quantum cannot be reached with the saved account.
        QrktError: if Qiskit's transpiler fails on the circuit.
    """
    check_fits(profile, ansatz.n_qubits)
    ensure_available(profile)
    execution = execution_of(profile)
    circuit, parameters, observables = ansatz.circuit, ansatz.inputs + ansatz.weights, tuple(ansatz.observables)
    if profile.kind in ("fake", "ibm"):
        setup = device_setup(profile)
        fitted = fit(profile, ansatz)
        circuit, parameters, observables = fitted.circuit, fitted.parameters, fitted.observables
        if profile.kind == "fake" and profile.shots is None and profile.option("readout_error", True):
            # Aer's exact estimator measures nothing: read the readout error into the observables
            noise = setup.noise_model()
            if noise is not None:
                readout = device_noise(noise, circuit).readout
                observables = tuple(readout_observables(observables, readout))
    zeros = tuple(i for i, o in enumerate(observables) if not o.coeffs.any())
    identity = SparsePauliOp("I" * circuit.num_qubits)
    observables = tuple(identity if i in zeros else o for i, o in enumerate(observables))
    return Prepared(circuit, tuple(parameters), observables, execution.estimator, zeros)


def noisy_program(profile: BackendProfile, ansatz: Ansatz, *, dtype: torch.dtype = torch.float32,
                  device: str | torch.device = "cpu") -> CompiledCircuit | MitigatedCircuit:
    """``ansatz`` as the profile's device runs it, in the native noisy engine.

    The same ISA circuit, layout and observables as the Aer path (same pass manager, level
    and seed), with the noise model Aer is given, scaled by ``noise_scale``; exact values
    (readout error included unless ``readout_error = false``) or ``shots`` samples; at
    ``resilience_level`` 1 or 2, what Runtime's client-side Estimator returns (`MitigatedCircuit`).

    Raises:
        ValueError: if the circuit is wider than the device, or the device has no calibration.
        UnsupportedCircuitError: if the transpiled circuit uses more active qubits than the
            engine simulates (`MAX_ACTIVE_QUBITS`) or an instruction it cannot express.
        QrktError: if Qiskit's transpiler fails on the circuit.
    """
    check_fits(profile, ansatz.n_qubits)
    setup = device_setup(profile)
    fitted = fit(profile, ansatz)
    circuit, observables = fitted.own(ansatz), fitted.observables
    model = setup.noise_model(require_calibration=True)
    name = f"{setup.device.name} (backend {profile.name!r})"
    noise = DeviceNoise(device=name) if model is None else device_noise(model, circuit, setup.superops, name)
    if not profile.option("readout_error", True):
        noise = dataclasses.replace(noise, readout={})
    isa, level = Ansatz(circuit, ansatz.inputs, ansatz.weights, observables), profile.option("resilience_level", 0)
    try:
        if level:  # Runtime's mitigation, as its client-side Estimator applies it (docs/noise.md)
            return MitigatedCircuit(isa, noise, resolve(level, profile.shots), seed=profile.option("seed"),
                                    dtype=dtype, device=device)
        return compile_ansatz(isa, dtype, device, noise=noise, shots=profile.shots, seed=profile.option("seed"))
    except UnsupportedCircuitError as exc:
        if profile.kind != "ibm":
            raise
        # an ibm profile has no Aer simulator: advise what it does take
        device_name = setup.device.name.replace("_", "-")
        alternative = (f"use simulator='runtime' (the device itself), or Aer through backend "
                       f"'{device_name if device_name.startswith('fake') else 'fake-<device>'}' with simulator='aer'")
        raise UnsupportedCircuitError(str(exc).replace("use simulator='aer'", alternative)) from None


_EXECUTIONS: dict[BackendProfile, Execution] = {}


def execution_of(profile: BackendProfile) -> Execution:
    """The profile's `Execution` in this process: one per profile, shared by every layer on it."""
    if profile not in _EXECUTIONS:
        _EXECUTIONS[profile] = Execution(profile)
    return _EXECUTIONS[profile]


def close_sessions() -> None:
    """Close every Runtime Session or Batch this process opened (also run at exit)."""
    while _EXECUTIONS:
        _EXECUTIONS.popitem()[1].close()


atexit.register(close_sessions)


def shots_precision(shots: int) -> float:
    """The precision a V2 estimator turns into exactly ``shots`` (it takes ceil(1 / precision²))."""
    p = 1 / math.sqrt(shots)
    while math.ceil(1 / p**2) > shots:  # 1/sqrt rounds down often enough to cost one extra shot
        p = math.nextafter(p, math.inf)
    return p


class Execution:
    """A profile's primitive, and for a device its backend, pass manager and Runtime mode.

    Attributes:
        estimator: the `BatchingEstimator` every layer on the profile sends its PUBs to.
        primitive, precision: the Qiskit primitive and the precision its jobs ask for (``None``:
            its own), opened by the first job, so an estimate opens no Session.
        mode: the open Runtime Session or Batch of an ``ibm`` profile (``None`` in job mode or closed).
        device, pass_manager: the device of a ``fake`` or ``ibm`` profile, once opened.
        spent: the estimated QPU seconds of the jobs this process sent on the profile.
    """

    def __init__(self, profile: BackendProfile):
        self.profile = profile
        self.device = self.pass_manager = self.mode = None
        self.spent = 0.0
        self.pending: list[Cost] = []  # the estimates of the jobs a guarded call is about to send
        self.primitive = self.precision = None
        # one estimator for every layer, so the calls of one dependency level go out together
        self.estimator = BatchingEstimator(self.call, self.cap, profile.name, guard=self.guard, cost=self.job_cost)

    def _open(self) -> tuple[Any, float | None]:
        """The profile's primitive, and the precision its jobs ask for (``None``: the primitive's own)."""
        openers = {"estimator": self._open_estimator, "aer": self._open_aer, "fake": self._open_fake,
                   "ibm": self._open_ibm}
        return openers[self.profile.kind]()

    def _open_estimator(self):
        from qiskit.primitives import StatevectorEstimator

        return StatevectorEstimator(), 0.0

    def _open_aer(self):
        from qiskit_aer import AerSimulator

        p = self.profile
        options = {"method": p.option("method", "statevector"), "device": p.option("device", "CPU")}
        return self._aer(AerSimulator(**options), options)

    def _open_fake(self):
        from qiskit_aer import AerSimulator

        p = self.profile
        setup = device_setup(p)
        self.device, self.pass_manager = setup.device, setup.pass_manager
        noise = setup.noise_model()
        # Exact noisy values need the density matrix; sampling lets Aer choose.
        method = p.option("method", "density_matrix" if p.shots is None else "automatic")
        return self._aer(AerSimulator.from_backend(self.device, noise_model=noise, method=method), None)

    def _aer(self, simulator, backend_options):
        from qiskit.primitives import BackendEstimatorV2
        from qiskit_aer.primitives import EstimatorV2

        seed, shots = self.profile.option("seed"), self.profile.shots
        if shots is None:  # Aer's estimator: exact expectation values (no readout error, no sampling)
            options = {"default_precision": 0.0, "run_options": {} if seed is None else {"seed_simulator": seed}}
            if backend_options is None:
                return EstimatorV2.from_backend(simulator, options=options), 0.0
            return EstimatorV2(options={**options, "backend_options": backend_options}), 0.0
        # Measured and sampled as a device does: shot noise, and readout error where the model has it.
        precision = shots_precision(shots)
        options = {"default_precision": precision, "seed_simulator": seed}
        return BackendEstimatorV2(backend=simulator, options=options), precision

    def _open_ibm(self):
        from qiskit_ibm_runtime import Batch, Session
        from qiskit_ibm_runtime.executor_estimator import Estimator

        p = self.profile
        # A fake device as the mode is Runtime's local testing mode: the same client code as hardware.
        self.device, self.pass_manager = device_setup(p).device, device_setup(p).pass_manager
        execution = p.option("execution", "batch")
        mode = self.device if execution == "job" else {"session": Session, "batch": Batch}[execution](backend=self.device)
        self.mode = None if execution == "job" else mode
        logger.info("backend %r: Runtime Estimator on %s (%s mode%s)", p.name, self.device.name, execution,
                    ", local testing" if is_fake_device(p.option("device")) else "")
        return Estimator(mode=mode, options=runtime_options(p)), None

    @property
    def qpu(self) -> QPUTimeModel | None:
        """The QPU-time model of a profile that runs on an IBM device (``None`` for simulators)."""
        return qpu_model(self.profile) if self.profile.kind == "ibm" else None

    def cap(self, circuits: list) -> int | None:
        """The most parameter sets per job: the profile's ``batch_size``, and within IBM's per-job limits."""
        size = self.profile.option("batch_size")
        if self.qpu is None:
            return size
        limit = self.qpu.max_parameter_sets([(c, _MEASURE_ONE[c.num_qubits], None) for c in circuits])
        return limit if size is None else min(size, limit)

    def job_cost(self, pubs: list) -> Cost | None:
        """The estimated cost of one job of ``pubs`` on the device (``None`` off IBM devices)."""
        return None if self.qpu is None else self.qpu.job(pubs)

    def guard(self, jobs: list[list]) -> None:
        """Refuse, before the first is sent, jobs whose estimated QPU time would exceed ``max_qpu_seconds``."""
        budget = self.profile.option("max_qpu_seconds")
        if self.qpu is None:
            return
        record = journal.active()
        costs = [Cost() if record is not None and record.done(self._label, runtime_options(self.profile), pubs)
                 else self.qpu.job(pubs) for pubs in jobs]  # a job a journal finished before costs nothing now
        total = sum(costs, Cost())
        self.pending = list(costs)
        if budget is not None and self.spent + total.qpu_seconds > budget:
            self.pending = []
            raise BudgetExceededError(
                f"backend {self.profile.name!r}: this call is {total.describe()}, and with "
                f"{format_seconds(self.spent)} already spent in this process that exceeds max_qpu_seconds = "
                f"{budget:g}; nothing was submitted (raise the budget, or use fewer shots, images or a lower "
                "resilience level: `qrkt resources` estimates each)")

    def close(self):
        """Close the Session or Batch; a later `call` (a layer still on this backend) opens a new one."""
        if self.mode is not None:
            self.mode.close()
            self.mode = self.primitive = None

    def call(self, pubs: list) -> Any:
        """Run ``pubs`` as one primitive job and return its result; failures name the job id.

        Inside a `journal.journal` block an ``ibm`` profile's job is recorded as it is sent,
        and a job the journal finished before is not sent again.
        """
        if self.primitive is None:
            self.primitive, self.precision = self._open()
            _EXECUTIONS[self.profile] = self
        job = None
        estimate = None if self.qpu is None else self.pending.pop(0) if self.pending else self.qpu.job(pubs)
        kwargs = {} if self.precision is None else {"precision": self.precision}

        def submit():
            nonlocal job
            job = self.primitive.run(pubs, **kwargs)
            if estimate is not None:
                self.spent += estimate.qpu_seconds
            timeout = self.profile.option("timeout")
            if timeout is not None and hasattr(job, "wait_for_final_state"):
                job.wait_for_final_state(timeout=timeout)
            return job

        record = journal.active() if self.profile.kind == "ibm" else None
        try:
            if record is None:
                return submit().result()
            fetch = None if is_fake_device(self.profile.option("device")) else self._fetch
            return record.run(self._label, runtime_options(self.profile), pubs, submit, fetch,
                              None if estimate is None else estimate.qpu_seconds)
        except Exception as exc:  # any backend failure becomes one sentence with the job id
            raise self._job_error(job, exc) from None

    @property
    def _label(self) -> str:
        return f"{self.profile.name} on {device_setup(self.profile).device.name}"

    def _fetch(self, job_id: str):
        """A job sent by an earlier process, from IBM Quantum by its id."""
        from qiskit_ibm_runtime import QiskitRuntimeService

        p = self.profile
        service = QiskitRuntimeService(channel=p.option("channel"), instance=p.option("instance"),
                                       name=p.option("account"))
        return service.job(job_id)

    def _job_error(self, job, exc: Exception) -> BackendJobError:
        return job_error(job, exc, f"backend {self.profile.name!r}", self.profile.option("timeout"))


def runtime_options(profile: BackendProfile) -> dict:
    """The options Runtime's Estimator is built with for an ``ibm`` profile: only what the profile sets.

    Keys the profile leaves unset keep Runtime's defaults, so twirling follows the resilience
    level (level 2 twirls gates) unless ``twirling`` is set.
    """
    p = profile
    options: dict = {"default_shots": p.shots}
    if p.option("resilience_level") is not None:
        options["resilience_level"] = p.option("resilience_level")
    if p.option("dynamical_decoupling", "off") != "off":
        options["dynamical_decoupling"] = {"enable": True, "sequence_type": p.option("dynamical_decoupling")}
    if p.option("twirling") is not None:
        twirl = p.option("twirling")  # False leaves measurement twirling to the resilience level
        options["twirling"] = {"enable_gates": twirl, **({"enable_measure": True} if twirl else {})}
    if p.option("rep_delay") is not None:
        options["execution"] = {"rep_delay": p.option("rep_delay")}
    if p.option("max_execution_time") is not None:
        options["max_execution_time"] = p.option("max_execution_time")
    if is_fake_device(p.option("device")) and p.option("seed") is not None:
        options["simulator"] = {"seed_simulator": p.option("seed")}
    return options


def qpu_model(profile: BackendProfile) -> QPUTimeModel:
    """The QPU-time model of an ``ibm`` profile (its device looked up, no session opened, nothing sent).

    One per profile and process, so each circuit is prepared for pricing once, whoever asks.
    """
    if profile not in _QPU_MODELS:
        _QPU_MODELS[profile] = QPUTimeModel(device_setup(profile).device, runtime_options(profile),
                                            profile.option("max_execution_time"))
    return _QPU_MODELS[profile]


_QPU_MODELS: dict[BackendProfile, QPUTimeModel] = {}


class _MeasureOne(dict):
    """``Z`` on qubit 0 of an n-qubit circuit: Z-strings share one basis, so any prices a job's parameter sets."""

    def __missing__(self, n: int):
        from qiskit.quantum_info import SparsePauliOp

        self[n] = SparsePauliOp.from_sparse_list([("Z", [0], 1.0)], n)
        return self[n]


_MEASURE_ONE = _MeasureOne()

