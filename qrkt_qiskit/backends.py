"""Backend registry: named TOML profiles and the Qiskit primitives they run circuits on.

The one module that touches Aer and Qiskit Runtime. A profile is data: a frozen
`BackendProfile` read from a small TOML file by `load_profile`; the registry is a plain dict
built by scanning the shipped ``backends/`` directory, then every directory of
``QRKT_BACKENDS_PATH`` (``os.pathsep``-separated), then a ``backends_dir`` argument (later
files shadow earlier ones of the same name). ``fake-<device>`` resolves, for any device of
``qiskit_ibm_runtime.fake_provider``, through the ``fake`` template profile.

Kinds: ``native`` (the PyTorch engine), ``estimator`` (Qiskit's exact StatevectorEstimator),
``aer`` (Aer, exact or sampled, CPU or GPU), ``fake`` (Aer with a fake IBM device's noise
model, coupling map and basis gates, on ISA circuits), ``ibm`` (Qiskit Runtime's Estimator in
a Session, a Batch or job mode; a ``fake-<device>`` device runs in Runtime's local testing
mode, every other device on IBM Quantum with the saved account or environment).
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import logging
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import torch

from .batching import BatchingEstimator
from .circuits import Ansatz
from .engine.noisy import DeviceNoise, NoisyCircuit, readout_observables
from .errors import QrktError

__all__ = [
    "BackendJobError", "BackendProfile", "BackendUnavailableError", "KINDS", "Prepared", "SIMULATORS",
    "close_sessions", "check_fits", "ensure_available", "fake_devices", "get_profile", "isa_circuit",
    "load_profile", "noisy_program", "prepare", "profiles", "search_path", "simulator",
    "unavailable_reason",
]

logger = logging.getLogger(__name__)

# The source tree's backends/, else the copy an installed package puts under sys.prefix.
SHIPPED_DIR = next((d for d in (Path(__file__).resolve().parent.parent / "backends",
                                Path(sys.prefix) / "share" / "qrkt-qiskit" / "backends") if d.is_dir()),
                   Path(__file__).resolve().parent.parent / "backends")
ENV_PATH = "QRKT_BACKENDS_PATH"
KINDS = ("native", "estimator", "aer", "fake", "ibm")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_CREDENTIAL_KEYS = {"token", "api_key", "apikey", "password", "secret", "key"}
TRANSPILER_SEED = 1234  # a profile without a seed still transpiles reproducibly
_AER_METHODS = ("statevector", "density_matrix", "matrix_product_state", "automatic")
# Who simulates a device's noise: the native noisy engine, Aer, or (ibm) the device itself
# through Qiskit Runtime. "auto" is the native engine wherever the circuit fits it, else Aer.
SIMULATORS = {"fake": ("auto", "native", "aer"), "ibm": ("runtime", "native")}


class BackendUnavailableError(QrktError):
    """A backend that cannot run here: no GPU, a package missing, no IBM Quantum credentials."""


class BackendJobError(QrktError):
    """A primitive job that failed or timed out; the message names the job id."""


def _choice(*values):
    return (lambda v: v in values), "one of " + ", ".join(map(repr, values))


def _int_at_least(low):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low), f"an integer >= {low}"


def _number(positive):
    ok = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and (v > 0 if positive else v >= 0))
    return ok, "a positive number" if positive else "a number >= 0"


_STRING = (lambda v: isinstance(v, str) and v != ""), "a non-empty string"
# Keys every profile may set, then the options each kind accepts, as (check, what is accepted).
_COMMON = {"kind": _choice(*KINDS), "description": (lambda v: isinstance(v, str), "a string"),
           "max_qubits": _int_at_least(1)}
_SHOTS = {"shots": _int_at_least(1)}
_OPTIONS = {
    "native": {"device": _choice("auto", "cpu", "cuda")},
    "estimator": {"batch_size": _int_at_least(1)},
    "aer": {**_SHOTS, "device": _choice("CPU", "GPU"), "method": _choice(*_AER_METHODS),
            "seed": _int_at_least(0), "batch_size": _int_at_least(1)},
    "fake": {**_SHOTS, "device": _STRING, "seed": _int_at_least(0), "optimization_level": _choice(0, 1, 2, 3),
             "noise_scale": _number(positive=False), "method": _choice(*_AER_METHODS),
             "batch_size": _int_at_least(1), "simulator": _choice(*SIMULATORS["fake"]),
             "readout_error": _choice(True, False)},
    "ibm": {**_SHOTS, "device": _STRING, "channel": _STRING, "instance": _STRING, "account": _STRING,
            "execution": _choice("session", "batch", "job"),
            # Runtime's local testing mode silently ignores seed 0, so it is refused.
            "seed": _int_at_least(1), "optimization_level": _choice(0, 1, 2, 3),
            "resilience_level": _choice(0, 1, 2), "dynamical_decoupling": _choice("off", "XX", "XpXm", "XY4"),
            "twirling": _choice(True, False), "timeout": _number(positive=True), "batch_size": _int_at_least(1),
            # simulator = "native" trains and evaluates against the device's calibration, on this machine
            "simulator": _choice(*SIMULATORS["ibm"]), "noise_scale": _number(positive=False),
            "readout_error": _choice(True, False)},
}


@dataclass(frozen=True)
class BackendProfile:
    """One named backend: what runs the circuits and with which settings.

    Args:
        name: the registry name (the TOML file's stem, or ``fake-<device>``).
        kind: one of `KINDS`.
        description: one line for ``qrkt backends``.
        max_qubits: the widest circuit it accepts; ``None`` means no limit known yet (a fake
            device's width is filled in when the profile is resolved).
        shots: samples per expectation value; ``None`` means exact expectation values.
        options: the kind's options (see ``docs/backends.md``), validated.
        source: the TOML file it was read from.
    """

    name: str
    kind: str
    description: str = ""
    max_qubits: int | None = None
    shots: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def __hash__(self):
        return hash((self.name, self.kind, self.max_qubits, self.shots, tuple(sorted(self.options.items()))))

    def __reduce__(self):  # a mappingproxy does not pickle; the profile travels with a pickled layer
        return (type(self), (self.name, self.kind, self.description, self.max_qubits, self.shots,
                             dict(self.options), self.source))

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    @property
    def is_template(self) -> bool:
        """A ``fake`` profile naming no device: the pattern behind ``fake-<device>``."""
        return self.kind == "fake" and "device" not in self.options


def _check_key(kind: str, key: str, value: Any, where: str) -> None:
    if key.lower() in _CREDENTIAL_KEYS:
        raise ValueError(f"{where}: key {key!r} looks like a credential and profiles never hold credentials; "
                         "save an IBM Quantum account instead (docs/ibm.md)")
    accepted = {**_COMMON, **_OPTIONS[kind]}
    if key not in accepted:
        raise ValueError(f"{where}: unknown key {key!r} for a {kind!r} profile; accepted keys: {', '.join(accepted)}")
    check, what = accepted[key]
    if not check(value):
        raise ValueError(f"{where}: key {key!r} must be {what}, got {value!r}")


def _build(name: str, data: Mapping[str, Any], where: str, source: str | None) -> BackendProfile:
    if "kind" not in data:
        raise ValueError(f"{where}: key 'kind' is missing; set it to one of: {', '.join(KINDS)}")
    kind = data["kind"]
    if kind not in KINDS:
        raise ValueError(f"{where}: key 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, value in data.items():
        _check_key(kind, key, value, where)
    if kind == "ibm" and data.get("shots") is None and data.get("simulator", "runtime") == "runtime":
        raise ValueError(f"{where}: key 'shots' is required for an 'ibm' profile, since hardware always samples")
    options = {k: v for k, v in data.items() if k not in ("kind", "description", "max_qubits", "shots")}
    return BackendProfile(name, kind, data.get("description", ""), data.get("max_qubits"), data.get("shots"),
                          options, source)


def load_profile(path: str | os.PathLike) -> BackendProfile:
    """Read one profile from a TOML file; its name is the file's stem.

    Raises:
        ValueError: for invalid TOML, an invalid name, a missing or unknown key, a key of the
            wrong type, or anything that looks like a credential; the message names the file
            and the key.
    """
    path = Path(path)
    if not _NAME.fullmatch(path.stem):
        raise ValueError(f"{path}: profile name {path.stem!r} must be lowercase letters, digits, '-', '_' or '.'")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML ({exc})") from exc
    return _build(path.stem, data, str(path), str(path))


def search_path(backends_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories scanned for profiles, in order: shipped, ``QRKT_BACKENDS_PATH``, ``backends_dir``.

    Raises:
        FileNotFoundError: if a directory named by the environment or the argument does not exist.
    """
    dirs = [SHIPPED_DIR] if SHIPPED_DIR.is_dir() else []
    named = [(d, ENV_PATH) for d in os.environ.get(ENV_PATH, "").split(os.pathsep) if d]
    if backends_dir is not None:
        named.append((backends_dir, "backends_dir"))
    for d, origin in named:
        if not Path(d).is_dir():
            raise FileNotFoundError(f"backends directory {str(d)!r} (from {origin}) does not exist")
        dirs.append(Path(d))
    return dirs


def profiles(backends_dir: str | os.PathLike | None = None) -> dict[str, BackendProfile]:
    """Every profile on the search path, by name (a later directory shadows an earlier one).

    Raises:
        ValueError: for a malformed profile file, or a file named ``native`` of another kind.
    """
    registry = {}
    for d in search_path(backends_dir):
        for path in sorted(d.glob("*.toml"), key=lambda p: p.stem):
            profile = load_profile(path)
            if profile.name == "native" and profile.kind != "native":
                raise ValueError(f"{path}: the name 'native' is reserved for the native engine (kind 'native')")
            registry[profile.name] = profile
    return registry


@lru_cache(maxsize=1)
def fake_devices() -> tuple[str, ...]:
    """Every device of ``qiskit_ibm_runtime.fake_provider``, named as backends: ``fake-manila``, …"""
    import warnings

    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fake_nighthawk warns that its error values are not typical
        return tuple(sorted(b.name.replace("_", "-") for b in FakeProviderForBackendV2().backends()))


def _fake_name(device: str) -> str:
    name = device.lower().replace("_", "-")
    return name if name.startswith("fake-") else f"fake-{name}"


def _fake_backend(device: str):
    """A fresh instance of the fake device (its target is mutable, so never shared)."""
    import warnings

    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FakeProviderForBackendV2().backend(_fake_name(device).replace("-", "_"))


@lru_cache(maxsize=None)
def _fake_width(device: str) -> int:
    return _fake_backend(device).num_qubits


def _is_fake(device: str | None) -> bool:
    return device is not None and device.lower().startswith("fake")


def get_profile(name: str | BackendProfile, *, backends_dir: str | os.PathLike | None = None,
                **overrides: Any) -> BackendProfile:
    """Resolve a backend by name (or take a profile) and apply per-call overrides.

    Args:
        name: a registry name, ``fake-<device>`` for any fake IBM device, or a `BackendProfile`.
        backends_dir: one more directory of user profiles, scanned last.
        **overrides: any key the profile's kind accepts (``shots=``, ``seed=``,
            ``optimization_level=``, ``noise_scale=``, ``device=``, …); ``shots=None`` asks
            an ``aer`` or ``fake`` profile for exact expectation values.

    Returns:
        The profile; for a fake device (``fake`` kind, or ``ibm`` in local testing mode)
        ``max_qubits`` is the device's width.

    Raises:
        ValueError: for an unknown name or device, or an override the kind does not accept.
        TypeError: if ``name`` is neither a string nor a `BackendProfile`.
    """
    if isinstance(name, BackendProfile):
        profile = name
    elif isinstance(name, str):
        registry = profiles(backends_dir)
        template = next((p for p in registry.values() if p.is_template), None)
        if name in registry and not registry[name].is_template:
            profile = registry[name]
        elif name.startswith("fake-") and template is not None:
            profile = dataclasses.replace(template, name=name, options={**template.options, "device": name[5:]})
        else:
            names = [f"{p.name}-<device>" if p.is_template else p.name for p in registry.values()]
            raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(names)}")
    else:
        raise TypeError(f"a backend must be a profile name or a BackendProfile, got {type(name).__name__}")
    if overrides:
        profile = _override(profile, overrides)
    device = profile.option("device")
    if profile.kind == "fake" or (profile.kind == "ibm" and _is_fake(device)):
        if device is None:
            raise ValueError(f"backend {profile.name!r} names no device; use fake-<device>, e.g. fake-manila")
        if _fake_name(device) not in fake_devices():
            raise ValueError(f"unknown fake device {device!r} for backend {profile.name!r}; choose one of: "
                             f"{', '.join(fake_devices())}")
        width = _fake_width(device)
        profile = dataclasses.replace(profile, max_qubits=min(width, profile.max_qubits or width))
    return profile


def _override(profile: BackendProfile, overrides: Mapping[str, Any]) -> BackendProfile:
    where = f"backend {profile.name!r}"
    data = {"kind": profile.kind, "description": profile.description, **profile.options}
    for key, value in [("max_qubits", profile.max_qubits), ("shots", profile.shots)]:
        if value is not None:
            data[key] = value
    for key, value in overrides.items():
        if key in ("kind", "description"):
            raise ValueError(f"{where}: {key!r} cannot be overridden per call; write a profile of your own")
        if value is None and key in ("shots", "seed", "max_qubits", "batch_size", "timeout"):
            data.pop(key, None)  # None means "unset": exact values, no seed, no limit
            continue
        _check_key(profile.kind, key, value, where)
        data[key] = value
    return _build(profile.name, data, where, profile.source)


def check_fits(profile: BackendProfile, n_qubits: int) -> None:
    """Raise ``ValueError`` if an ``n_qubits``-wide circuit does not fit the profile's device."""
    if profile.max_qubits is not None and n_qubits > profile.max_qubits:
        raise ValueError(f"a {n_qubits}-qubit circuit does not fit backend {profile.name!r}, which has "
                         f"{profile.max_qubits} qubits; use circuits of at most {profile.max_qubits} qubits "
                         f"(QuantumLinear(..., n_qubits={profile.max_qubits})) or a larger device")


def simulator(profile: BackendProfile) -> str | None:
    """Who simulates a device profile's noise (`SIMULATORS`); ``None`` for kinds without a device."""
    if profile.kind == "fake":
        return profile.option("simulator", "auto")
    if profile.kind == "ibm":
        return profile.option("simulator", "runtime")
    return None


def _has_ibm_credentials(profile: BackendProfile) -> bool:
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        return bool(QiskitRuntimeService.saved_accounts(name=profile.option("account")))
    except Exception:  # an unreadable or absent account file means no saved account
        return False


def unavailable_reason(profile: BackendProfile) -> str | None:
    """Why ``profile`` cannot run on this machine (one sentence), or ``None`` if it can.

    Checks only what is known locally: no network call, no job.
    """
    kind, device = profile.kind, profile.option("device")
    if kind == "native" and device == "cuda" and not torch.cuda.is_available():
        return f"backend {profile.name!r} needs a CUDA GPU, and torch sees none"
    if kind == "aer" and device == "GPU":
        from qiskit_aer import AerSimulator

        if "GPU" not in AerSimulator().available_devices():
            why = ("torch sees no CUDA GPU" if not torch.cuda.is_available()
                   else "the installed qiskit-aer is the CPU build (pip uninstall qiskit-aer; pip install qiskit-aer-gpu)")
            return f"backend {profile.name!r} needs Aer's GPU device, but {why}"
    if kind == "ibm" and not _is_fake(device) and not _has_ibm_credentials(profile):
        return (f"backend {profile.name!r} found no IBM Quantum account: save one with "
                "QiskitRuntimeService.save_account(...) or set QISKIT_IBM_TOKEN (docs/ibm.md)")
    return None


def ensure_available(profile: BackendProfile) -> None:
    """Raise `BackendUnavailableError` with `unavailable_reason` if the profile cannot run here."""
    reason = unavailable_reason(profile)
    if reason is not None:
        raise BackendUnavailableError(reason)


def _redact(text: str) -> str:
    """Blank any IBM token this process knows of, before the text reaches a message or log."""
    token = os.environ.get("QISKIT_IBM_TOKEN")
    return text.replace(token, "***") if token else text



# --- execution: a profile opened onto a Qiskit primitive --------------------------------------

@dataclass(frozen=True)
class Prepared:
    """An ansatz made ready for one backend.

    Attributes:
        circuit: what the primitive runs: the ansatz's circuit, or its ISA transpilation
            (with ``layout``) for a device.
        observables: the ansatz's observables, laid out onto ``circuit``.
        estimator: a V2 estimator over the profile's primitive that merges PUBs and sends
            them in as few jobs as ``batch_size`` allows (see `BatchingEstimator`).
        primitive: the profile's own primitive, shared by every layer on this profile.
        precision: what the primitive is run with (``None``: its own ``default_shots``).
    """

    circuit: Any
    observables: tuple
    estimator: Any
    primitive: Any
    precision: float | None


def prepare(profile: BackendProfile, ansatz: Ansatz) -> Prepared:
    """Open ``profile`` (once per process, shared by every layer) and fit ``ansatz`` to it.

    Raises:
        ValueError: if the circuit is wider than the device.
        BackendUnavailableError: if the backend cannot run here (see `unavailable_reason`) or
            IBM Quantum cannot be reached with the saved account.
        QrktError: if Qiskit's transpiler fails on the circuit.
    """
    check_fits(profile, ansatz.n_qubits)
    ensure_available(profile)
    execution = _EXECUTIONS.get(profile)
    if execution is None:
        execution = _EXECUTIONS[profile] = _Execution(profile)
    circuit, observables = ansatz.circuit, tuple(ansatz.observables)
    if profile.kind in ("fake", "ibm"):
        setup = _setup(profile)
        circuit, observables = _fit(profile, setup, ansatz)
        if profile.kind == "fake" and profile.shots is None and profile.option("readout_error", True):
            # Aer's exact estimator measures nothing: read the readout error into the observables
            noise = setup.noise_model()
            if noise is not None:
                readout = DeviceNoise.from_noise_model(noise, circuit).readout
                observables = tuple(readout_observables(observables, readout))
    estimator = BatchingEstimator(execution.call, profile.option("batch_size"), profile.name)
    return Prepared(circuit, observables, estimator, execution.primitive, execution.precision)


def noisy_program(profile: BackendProfile, ansatz: Ansatz, *, dtype: torch.dtype = torch.float32,
                  device: str | torch.device = "cpu") -> NoisyCircuit:
    """``ansatz`` as the profile's device runs it, in the native noisy engine.

    The same ISA circuit, layout and observables as the Aer path (same pass manager, level
    and seed), with the noise model Aer is given, scaled by ``noise_scale``; exact values
    (readout error included unless ``readout_error = false``) or ``shots`` samples.

    Raises:
        ValueError: if the circuit is wider than the device, or the device has no calibration.
        UnsupportedCircuitError: if the transpiled circuit uses more active qubits than the
            engine simulates (`MAX_ACTIVE_QUBITS`) or an instruction it cannot express.
        QrktError: if Qiskit's transpiler fails on the circuit.
    """
    check_fits(profile, ansatz.n_qubits)
    setup = _setup(profile)
    circuit, observables = _fit(profile, setup, ansatz)
    model = setup.noise_model(require_calibration=True)
    noise = None if model is None else DeviceNoise.from_noise_model(model, circuit, setup.superops)
    return NoisyCircuit(ansatz, circuit, observables, noise, readout_error=profile.option("readout_error", True),
                        shots=profile.shots, seed=profile.option("seed"), dtype=dtype, device=device,
                        name=f"{setup.device.name} (backend {profile.name!r})")


class _Setup:
    """A device profile's device, pass manager and (built on first use) scaled noise model."""

    def __init__(self, profile: BackendProfile):
        self.profile = profile
        self.device = _device(profile)
        self.pass_manager = _pass_manager(profile, self.device)
        self._noise = None
        self.superops: dict = {}  # the noise model's errors as superoperators, converted once

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


_SETUPS: dict[tuple, _Setup] = {}


def _setup(profile: BackendProfile) -> _Setup:
    """Shared by every profile that differs only in how it simulates or samples (same device and ISA circuits)."""
    key = (profile.kind,) + tuple(profile.option(k) for k in ("device", "channel", "instance", "account",
                                                                "optimization_level", "seed", "noise_scale"))
    if key not in _SETUPS:
        _SETUPS[key] = _Setup(profile)
    return _SETUPS[key]


def _fit(profile: BackendProfile, setup: _Setup, ansatz: Ansatz):
    """The ansatz's ISA circuit for the profile's device, and its observables laid out onto it."""
    check_fits(dataclasses.replace(profile, max_qubits=setup.device.num_qubits), ansatz.n_qubits)
    circuit = _transpile(profile, setup.pass_manager, ansatz.circuit, setup.device)
    lost = set(ansatz.inputs + ansatz.weights) - set(circuit.parameters)
    if lost:
        raise ValueError(f"transpiling for backend {profile.name!r} removed parameters "
                         f"{', '.join(sorted(p.name for p in lost))}; use optimization_level=1")
    return circuit, tuple(obs.apply_layout(circuit.layout) for obs in ansatz.observables)


def _calibrated(device) -> bool:
    """Whether the device's Target carries any error rate or coherence time."""
    target = device.target
    if any(props is not None and props.error for name in target.operation_names
           for props in (target[name] or {}).values()):
        return True
    return any(q is not None and (q.t1 or q.t2) for q in (target.qubit_properties or []))


_EXECUTIONS: dict[BackendProfile, _Execution] = {}


def close_sessions() -> None:
    """Close every Runtime Session or Batch this process opened (also run at exit)."""
    while _EXECUTIONS:
        _EXECUTIONS.popitem()[1].close()


atexit.register(close_sessions)


def _precision(shots: int) -> float:
    """The precision a V2 estimator turns into exactly ``shots`` (it takes ceil(1 / precision²))."""
    p = 1 / math.sqrt(shots)
    while math.ceil(1 / p**2) > shots:  # 1/sqrt rounds down often enough to cost one extra shot
        p = math.nextafter(p, math.inf)
    return p


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
    if profile.kind == "fake" or _is_fake(device):
        return _fake_backend(device)
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService(channel=profile.option("channel"), instance=profile.option("instance"),
                                       name=profile.option("account"))
        return service.backend(device) if device else service.least_busy(operational=True, simulator=False)
    except Exception as exc:  # every failure here is one sentence, with no credential in it
        raise BackendUnavailableError(_redact(
            f"backend {profile.name!r} could not open IBM Quantum device {device or '(least busy)'} "
            f"with the saved account or QISKIT_IBM_* environment ({type(exc).__name__}: {_first_line(exc)})"
        )) from None


def _pass_manager(profile: BackendProfile, device):
    from qiskit.transpiler import generate_preset_pass_manager

    # Without a seed the layout would be drawn anew each time: a noise study and its Aer check
    # must run one ISA circuit, so the transpiler always has a seed.
    seed = profile.option("seed")
    return generate_preset_pass_manager(backend=device, optimization_level=profile.option("optimization_level", 1),
                                        seed_transpiler=TRANSPILER_SEED if seed is None else seed)


def isa_circuit(profile: BackendProfile, circuit):
    """``circuit`` as the profile's device runs it: ISA-transpiled for ``fake`` and ``ibm``, else as is.

    Opens no session and runs no job (an IBM device is looked up with the saved account).

    Raises:
        ValueError: if the circuit is wider than the device.
        QrktError: if Qiskit's transpiler fails on it.
    """
    if profile.kind not in ("fake", "ibm"):
        return circuit
    setup = _setup(profile)
    check_fits(dataclasses.replace(profile, max_qubits=setup.device.num_qubits), circuit.num_qubits)
    return _transpile(profile, setup.pass_manager, circuit, setup.device)


def _transpile(profile: BackendProfile, pass_manager, circuit, device):
    try:
        return pass_manager.run(circuit)
    except Exception as exc:  # e.g. a gate no basis of the device can express
        raise QrktError(f"Qiskit could not transpile the {circuit.num_qubits}-qubit circuit {circuit.name!r} for "
                        f"{device.name} (backend {profile.name!r}): {_first_line(exc)}") from exc


class _Execution:
    """A profile's primitive, and for a device its backend, pass manager and Runtime mode."""

    def __init__(self, profile: BackendProfile):
        self.profile = profile
        self.device = self.pass_manager = self.mode = None
        self.primitive, self.precision = getattr(self, f"_open_{profile.kind}")()

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
        setup = _setup(p)
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
        precision = _precision(shots)
        options = {"default_precision": precision, "seed_simulator": seed}
        return BackendEstimatorV2(backend=simulator, options=options), precision

    def _open_ibm(self):
        from qiskit_ibm_runtime import Batch, Session
        from qiskit_ibm_runtime.executor_estimator import Estimator

        p = self.profile
        device = p.option("device")
        local = _is_fake(device)
        # A fake device as the mode is Runtime's local testing mode: the same client code as hardware.
        setup = _setup(p)
        self.device, self.pass_manager = setup.device, setup.pass_manager
        execution = p.option("execution", "batch")
        mode = self.device if execution == "job" else {"session": Session, "batch": Batch}[execution](backend=self.device)
        self.mode = None if execution == "job" else mode
        options = {"default_shots": p.shots, "resilience_level": p.option("resilience_level", 1)}
        if p.option("dynamical_decoupling", "off") != "off":
            options["dynamical_decoupling"] = {"enable": True, "sequence_type": p.option("dynamical_decoupling")}
        if p.option("twirling") is not None:
            twirl = p.option("twirling")  # False leaves measurement twirling to the resilience level
            options["twirling"] = {"enable_gates": twirl, **({"enable_measure": True} if twirl else {})}
        if local and p.option("seed") is not None:
            options["simulator"] = {"seed_simulator": p.option("seed")}
        logger.info("backend %r: Runtime Estimator on %s (%s mode%s)", p.name, self.device.name, execution,
                    ", local testing" if local else "")
        return Estimator(mode=mode, options=options), None

    def close(self):
        """Close the Session or Batch; a later `call` (a layer still on this backend) opens a new one."""
        if self.mode is not None:
            self.mode.close()
            self.mode = self.primitive = None

    def call(self, pubs: list) -> Any:
        """Run ``pubs`` as one primitive job and return its result; failures name the job id."""
        if self.primitive is None:
            self.primitive, self.precision = getattr(self, f"_open_{self.profile.kind}")()
            _EXECUTIONS[self.profile] = self
        job = None
        kwargs = {} if self.precision is None else {"precision": self.precision}
        try:
            job = self.primitive.run(pubs, **kwargs)
            timeout = self.profile.option("timeout")
            if timeout is not None and hasattr(job, "wait_for_final_state"):
                job.wait_for_final_state(timeout=timeout)
            return job.result()
        except Exception as exc:  # any backend failure becomes one sentence with the job id
            raise self._job_error(job, exc) from None

    def _job_error(self, job, exc: Exception) -> BackendJobError:
        job_id = job.job_id() if job is not None else None
        what = f"job {job_id}" if job_id else "a job"
        if type(exc).__name__ == "RuntimeJobTimeoutError":
            why = (f"did not finish within {self.profile.option('timeout'):g} s and may still run "
                   f"(QiskitRuntimeService().job({job_id!r}) fetches it)")
        else:
            why = f"failed ({type(exc).__name__}: {_first_line(exc)})"
        return BackendJobError(_redact(f"{what} on backend {self.profile.name!r} {why}"))


def _first_line(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split()).strip("'\" ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
