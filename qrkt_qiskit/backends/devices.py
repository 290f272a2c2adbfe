"""A device profile's device: the fake or IBM backend, its pass manager, noise model and ISA circuits.

Every profile that differs only in how it simulates or samples (shots, simulator, readout)
shares one `DeviceSetup`: the device is looked up, the pass manager built, the noise model
made and each circuit transpiled once per process, so fifteen layers of one model cost one
transpilation.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ..circuits import Ansatz
from ..errors import QrktError
from .failures import first_line, redact
from .profiles import BackendProfile, BackendUnavailableError, check_fits, fake_backend, is_fake_device

__all__ = ["TRANSPILER_SEED", "DeviceSetup", "Fitted", "device_setup", "fit", "isa_circuit", "noise_model"]

TRANSPILER_SEED = 1234  # a profile without a seed still transpiles reproducibly


class DeviceSetup:
    """A device profile's device, pass manager, ISA circuits and (built on first use) scaled noise model.

    Attributes:
        device: the fake or IBM backend.
        pass_manager: the preset pass manager at the profile's level and layout seed.
        superops: the noise model's errors as superoperators (the native noisy engine's cache).
        isa: circuit structure -> its ISA transpilation and the parameters it was built with (see `fit`).
    """

    def __init__(self, profile: BackendProfile):
        self.profile = profile
        self.device = _device(profile)
        self.pass_manager = _pass_manager(profile, self.device)
        self._noise = None
        self.superops: dict = {}  # converted once
        self.isa: dict = {}

    def noise_model(self, *, require_calibration: bool = False):
        """Aer's noise model of the device at the profile's ``noise_scale`` (``None`` at scale 0)."""
        scale = self.profile.option("noise_scale", 1.0)
        if require_calibration and not _calibrated(self.device):
            raise ValueError(f"backend {self.profile.name!r}: device {self.device.name} carries no calibration "
                             "(no gate errors, readout errors or T1/T2 in its Target), so it has no noise to "
                             "simulate; use the 'aer' backend for ideal simulation")
        if scale == 0:
            return None
        if self._noise is None:
            self._noise = _scaled_noise_model(self.device, scale)
        return self._noise


_SETUPS: dict[tuple, DeviceSetup] = {}


def device_setup(profile: BackendProfile) -> DeviceSetup:
    """The profile's `DeviceSetup`, shared by every profile that differs only in how it simulates or samples."""
    key = (profile.kind,) + tuple(profile.option(k) for k in ("device", "channel", "instance", "account",
                                                                "optimization_level", "layout_seed", "noise_scale"))
    if key not in _SETUPS:
        _SETUPS[key] = DeviceSetup(profile)
    return _SETUPS[key]


def noise_model(profile: BackendProfile, *, require_calibration: bool = False):
    """The profile's device's Aer noise model at its ``noise_scale`` (``None`` at scale 0), built once.

    Raises:
        ValueError: with ``require_calibration``, if the device's Target carries no error rate.
    """
    return device_setup(profile).noise_model(require_calibration=require_calibration)


@dataclasses.dataclass(frozen=True)
class Fitted:
    """An ansatz's ISA circuit on a device, shared by every ansatz of its structure.

    Attributes:
        circuit: the ISA circuit, one object per circuit structure and device setup, so
            PUBs of several layers of one structure merge into one.
        parameters: the circuit's parameters standing for the ansatz's inputs then weights,
            in that order (bind values by these, never by the circuit's sorted order).
        observables: the ansatz's observables laid out onto ``circuit``.
    """

    circuit: Any
    parameters: tuple
    observables: tuple

    def own(self, ansatz: Ansatz):
        """The circuit with the ansatz's own parameters (the native noisy engine binds by them)."""
        return self.circuit.assign_parameters(dict(zip(self.parameters, ansatz.inputs + ansatz.weights)))


def fit(profile: BackendProfile, ansatz: Ansatz) -> Fitted:
    """The ansatz's ISA circuit for the profile's device, its parameters, and its observables laid out onto it.

    Transpiled once per circuit structure and device setup; every ansatz of that structure
    (whatever its parameters are named) gets the same circuit object, its parameters mapped
    by position.

    Raises:
        ValueError: if the circuit is wider than the device, or transpiling removed a parameter.
        QrktError: if Qiskit's transpiler fails on the circuit.
    """
    setup = device_setup(profile)
    check_fits(dataclasses.replace(profile, max_qubits=setup.device.num_qubits), ansatz.n_qubits)
    canonical = _canonical(ansatz)
    generic = ansatz.circuit.assign_parameters(dict(zip(ansatz.inputs + ansatz.weights, canonical)))
    generic.name = ansatz.circuit.name  # a copy is renamed; messages name the user's circuit
    key = _structure(generic)
    if key not in setup.isa:
        circuit = _transpile(profile, setup.pass_manager, generic, setup.device)
        lost = set(canonical) - set(circuit.parameters)
        if lost:
            mine = dict(zip(canonical, ansatz.inputs + ansatz.weights))
            raise ValueError(f"transpiling for backend {profile.name!r} removed parameters "
                             f"{', '.join(sorted(mine[p].name for p in lost))}; use optimization_level=1")
        setup.isa[key] = circuit, canonical
    circuit, parameters = setup.isa[key]
    return Fitted(circuit, parameters, tuple(obs.apply_layout(circuit.layout) for obs in ansatz.observables))


def _canonical(ansatz: Ansatz) -> tuple:
    """Position-named parameters, ``qrkt_x[i]`` for input i and ``qrkt_w[j]`` for weight j.

    Named apart from any user's (Qiskit refuses two parameters of one name in a circuit).
    """
    from qiskit.circuit import ParameterVector

    return tuple(ParameterVector("qrkt_x", ansatz.n_inputs)) + tuple(ParameterVector("qrkt_w", ansatz.n_weights))


def _structure(circuit) -> tuple:
    """What transpilation depends on: the width and every instruction with its qubits and arguments."""
    return (circuit.num_qubits, tuple((inst.operation.name, tuple(circuit.find_bit(q).index for q in inst.qubits),
                                       tuple(repr(p) for p in inst.operation.params)) for inst in circuit.data))


def _calibrated(device) -> bool:
    """Whether the device's Target carries any error rate or coherence time."""
    target = device.target
    if any(props is not None and props.error for name in target.operation_names
           for props in (target[name] or {}).values()):
        return True
    return any(q is not None and (q.t1 or q.t2) for q in (target.qubit_properties or []))


def _scaled_noise_model(device, scale: float):
    """The device's Aer noise model with every error rate times ``scale`` (T1, T2 divided by it).

    Aer has no noise-scale factor, so a copy of the device's target is edited: each
    instruction error is scaled and capped at its fully depolarising value (1 - 2^-n for an
    n-qubit gate, 1/2 for a readout), T1 and T2 are divided by ``scale`` (the whole
    ``qubit_properties`` list is reassigned: editing one element does nothing), and
    ``NoiseModel.from_backend`` builds the model from the copy, which at scale 1 is the
    device's own model.
    """
    from qiskit.transpiler import QubitProperties
    from qiskit_aer.noise import NoiseModel

    if scale == 1:
        return NoiseModel.from_backend(device)
    twin = copy.deepcopy(device)
    target = twin.target
    for name in target.operation_names:
        for qargs, props in (target[name] or {}).items():
            if qargs and props is not None and props.error is not None:
                cap = 0.5 if name == "measure" else 1 - 0.5 ** len(qargs)
                props.error = min(props.error * scale, cap)
    if target.qubit_properties:
        target.qubit_properties = [
            QubitProperties(t1=None if q.t1 is None else q.t1 / scale, t2=None if q.t2 is None else q.t2 / scale,
                            frequency=q.frequency)
            for q in target.qubit_properties]
    return NoiseModel.from_backend(twin)


def _device(profile: BackendProfile):
    """The profile's device: a fresh fake backend, or the IBM Quantum backend (network)."""
    device = profile.option("device")
    if profile.kind == "fake" or is_fake_device(device):
        return fake_backend(device)
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService(channel=profile.option("channel"), instance=profile.option("instance"),
                                       name=profile.option("account"))
        return service.backend(device) if device else service.least_busy(operational=True, simulator=False)
    except Exception as exc:  # every failure here is one sentence, with no credential in it
        raise BackendUnavailableError(redact(
            f"backend {profile.name!r} could not open IBM Quantum device {device or '(least busy)'} "
            f"with the saved account or QISKIT_IBM_* environment ({type(exc).__name__}: {first_line(exc)})"
        )) from None


def _pass_manager(profile: BackendProfile, device):
    from qiskit.transpiler import generate_preset_pass_manager

    # Without a seed the layout would be drawn anew each time: a noise study and its Aer check
    # must run one ISA circuit, so the transpiler always has a seed. It is the layout's own
    # (``layout_seed``), not the sampling ``seed``: a new sampling seed must not move the circuit.
    return generate_preset_pass_manager(backend=device, optimization_level=profile.option("optimization_level", 1),
                                        seed_transpiler=profile.option("layout_seed", TRANSPILER_SEED))


def isa_circuit(profile: BackendProfile, circuit):
    """``circuit`` as the profile's device runs it: ISA-transpiled for ``fake`` and ``ibm``, else as is.

    Opens no session and runs no job (an IBM device is looked up with the saved account).

    Raises:
        ValueError: if the circuit is wider than the device.
        QrktError: if Qiskit's transpiler fails on it.
    """
    if profile.kind not in ("fake", "ibm"):
        return circuit
    setup = device_setup(profile)
    check_fits(dataclasses.replace(profile, max_qubits=setup.device.num_qubits), circuit.num_qubits)
    return _transpile(profile, setup.pass_manager, circuit, setup.device)


def _transpile(profile: BackendProfile, pass_manager, circuit, device):
    try:
        return pass_manager.run(circuit)
    except Exception as exc:  # e.g. a gate no basis of the device can express
        raise QrktError(f"Qiskit could not transpile the {circuit.num_qubits}-qubit circuit {circuit.name!r} for "
                        f"{device.name} (backend {profile.name!r}): {first_line(exc)}") from exc
