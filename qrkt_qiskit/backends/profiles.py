"""Backend profiles: named TOML files, their schema, and whether they can run on this machine.

A profile is data: a frozen `BackendProfile` read from a small TOML file by `load_profile`; the registry is a plain dict
built by scanning the shipped ``backends/`` directory, then every directory of
``QRKT_BACKENDS_PATH`` (``os.pathsep``-separated), then a ``backends_dir`` argument (later
files shadow earlier ones of the same name). ``fake-<device>`` resolves, for any device of
``qiskit_ibm_runtime.fake_provider``, through the ``fake`` template profile.

"""

from __future__ import annotations

import dataclasses
import difflib
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

from ..errors import QrktError

__all__ = [
    "BackendJobError", "BackendProfile", "BackendUnavailableError", "BudgetExceededError", "KINDS", "NATIVE_ONLY",
    "RUNTIME_ONLY", "SIMULATORS", "check_fits", "ensure_available", "fake_backend", "fake_devices", "get_profile",
    "is_fake_device", "load_profile", "profiles", "search_path", "simulator", "unavailable_reason",
]

# The source tree's backends/, else the copy an installed package puts under sys.prefix.
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "backends"
SHIPPED_DIR = next((d for d in (_SOURCE_DIR, Path(sys.prefix) / "share" / "qrkt-qiskit" / "backends") if d.is_dir()),
                   _SOURCE_DIR)
ENV_PATH = "QRKT_BACKENDS_PATH"
KINDS = ("native", "estimator", "aer", "fake", "ibm")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_CREDENTIAL_KEYS = {"token", "api_key", "apikey", "password", "secret", "key"}
_AER_METHODS = ("statevector", "density_matrix", "matrix_product_state", "automatic")
# Who simulates a device's noise: the native noisy engine, Aer, or (ibm) the device itself
# through Qiskit Runtime. "auto" is the native engine wherever the circuit fits it, else Aer.
SIMULATORS = {"fake": ("auto", "native", "aer"), "ibm": ("runtime", "native")}


class BackendUnavailableError(QrktError):
    """A backend that cannot run here: no GPU, a package missing, no IBM Quantum credentials."""


class BackendJobError(QrktError):
    """A primitive job that failed or timed out; the message names the job id."""


class BudgetExceededError(QrktError):
    """Work refused before submission: its estimated QPU time exceeds the user's budget, or it trains on hardware."""


def _choice(*values):
    return (lambda v: v in values), "one of " + ", ".join(map(repr, values))


def _int_at_least(low):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low), f"an integer >= {low}"


def _int_between(low, high, why):
    return ((lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high),
            f"an integer from {low:,} to {high:,} ({why})")


def _number(positive):
    ok = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and (v > 0 if positive else v >= 0))
    return ok, "a positive number" if positive else "a number >= 0"


_STRING = (lambda v: isinstance(v, str) and v != ""), "a non-empty string"
# Keys every profile may set, then the options each kind accepts, as (check, what is accepted).
_COMMON = {"kind": _choice(*KINDS), "description": (lambda v: isinstance(v, str) and v.isprintable(),
                                                     "a one-line string of printable characters"),
           "max_qubits": _int_at_least(1)}
# More shots than one IBM job may execute would exhaust a simulator's memory before any result.
MAX_SHOTS = 10_000_000
_SHOTS = {"shots": _int_between(1, MAX_SHOTS, "IBM's limit of executions per job")}
_OPTIONS = {
    "native": {"device": _choice("auto", "cpu", "cuda")},
    "estimator": {"batch_size": _int_at_least(1)},
    "aer": {**_SHOTS, "device": _choice("CPU", "GPU"), "method": _choice(*_AER_METHODS),
            "seed": _int_at_least(0), "batch_size": _int_at_least(1)},
    "fake": {**_SHOTS, "device": _STRING, "seed": _int_at_least(0), "layout_seed": _int_at_least(0),
             "optimization_level": _choice(0, 1, 2, 3),
             "noise_scale": _number(positive=False), "method": _choice(*_AER_METHODS),
             "batch_size": _int_at_least(1), "simulator": _choice(*SIMULATORS["fake"]),
             "readout_error": _choice(True, False), "resilience_level": _choice(0, 1, 2)},
    "ibm": {**_SHOTS, "device": _STRING, "channel": _STRING, "instance": _STRING, "account": _STRING,
            "execution": _choice("session", "batch", "job"),
            # Runtime's local testing mode silently ignores seed 0, so it is refused.
            "seed": _int_at_least(1), "layout_seed": _int_at_least(0), "optimization_level": _choice(0, 1, 2, 3),
            "resilience_level": _choice(0, 1, 2), "dynamical_decoupling": _choice("off", "XX", "XpXm", "XY4"),
            "twirling": _choice(True, False), "timeout": _number(positive=True), "batch_size": _int_at_least(1),
            "rep_delay": _number(positive=False), "max_execution_time": _int_at_least(1),
            "max_qpu_seconds": _number(positive=True), "allow_hardware_training": _choice(True, False),
            # simulator = "native" trains and evaluates against the device's calibration, on this machine
            "simulator": _choice(*SIMULATORS["ibm"]), "noise_scale": _number(positive=False),
            "readout_error": _choice(True, False)},
}
# Keys that mean something to one simulator of an ``ibm`` profile only: set for the other, they are refused.
RUNTIME_ONLY = ("execution", "dynamical_decoupling", "twirling", "timeout", "rep_delay",
                "max_execution_time", "max_qpu_seconds", "allow_hardware_training", "batch_size")
NATIVE_ONLY = ("noise_scale", "readout_error")


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
        """The kind option ``key`` of this profile, or ``default`` where it is not set."""
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


def _build(name: str, data: Mapping[str, Any], where: str, source: str | None,
           checked: set | None = None) -> BackendProfile:
    """The profile of ``data``; ``checked`` names the keys whose simulator must apply (default: a file's own)."""
    if "kind" not in data:
        raise ValueError(f"{where}: key 'kind' is missing; set it to one of: {', '.join(KINDS)}")
    kind = data["kind"]
    if kind not in KINDS:
        raise ValueError(f"{where}: key 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, value in data.items():
        _check_key(kind, key, value, where)
    if kind == "fake" and data.get("resilience_level", 0) and data.get("simulator", "auto") != "native":
        raise ValueError(f"{where}: key 'resilience_level' needs simulator = 'native' on a 'fake' profile (Aer runs "
                         "no Runtime mitigation); set simulator = 'native', or use an 'ibm' profile on the fake "
                         "device for Runtime's local testing mode")
    if kind == "ibm":
        runtime = data.get("simulator", "runtime") == "runtime"
        if data.get("shots") is None and runtime:
            raise ValueError(f"{where}: key 'shots' is required for an 'ibm' profile, since hardware always samples")
        # A file may hold settings for both simulators (a profile trains natively and runs on the
        # device); keys given with a simulator they do not apply to are refused, never ignored.
        for key in set(NATIVE_ONLY if runtime else RUNTIME_ONLY) & set(checked if checked is not None else
                                                                          data if "simulator" in data else ()):
            applies, other = ("native", "runtime") if runtime else ("runtime", "native")
            raise ValueError(f"{where}: key {key!r} applies only to simulator = {applies!r}, and this profile "
                             f"runs on simulator = {other!r}; remove it or set simulator = {applies!r}")
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
    if not path.is_file():
        raise ValueError(f"{path} is not a file; a profile is a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text (byte {exc.start}); a profile is a TOML file") from None
    except RecursionError:
        raise ValueError(f"{path} nests its tables or arrays too deeply to read; a profile is a flat TOML file") from None
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


def fake_backend(device: str):
    """A fresh instance of the fake device (its target is mutable, so never shared)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fake_classes()[_fake_name(device).replace("-", "_")]()


@lru_cache(maxsize=1)
def _fake_classes() -> dict:
    """Each fake device's class by its name: a fresh instance reads its own files, not every device's (1.4 s)."""
    import warnings

    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {b.name: type(b) for b in FakeProviderForBackendV2().backends()}


@lru_cache(maxsize=None)
def _fake_width(device: str) -> int:
    return fake_backend(device).num_qubits


def is_fake_device(device: str | None) -> bool:
    """Whether ``device`` names a device of ``qiskit_ibm_runtime.fake_provider`` (``fake-manila``, ``fake_manila``)."""
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
            raise ValueError(f"unknown backend {name!r}{_did_you_mean(name, names)}; choose one of: "
                             f"{', '.join(names)}")
    else:
        raise TypeError(f"a backend must be a profile name or a BackendProfile, got {type(name).__name__}")
    if overrides:
        profile = _override(profile, overrides)
    device = profile.option("device")
    if profile.kind == "fake" or (profile.kind == "ibm" and is_fake_device(device)):
        if device is None:
            raise ValueError(f"backend {profile.name!r} names no device; use fake-<device>, e.g. fake-manila")
        if _fake_name(device) not in fake_devices():
            raise ValueError(f"unknown fake device {device!r} for backend {profile.name!r}"
                             f"{_did_you_mean(_fake_name(device), fake_devices())}; choose one of: "
                             f"{', '.join(fake_devices())}")
        width = _fake_width(device)
        profile = dataclasses.replace(profile, max_qubits=min(width, profile.max_qubits or width))
    return profile


def _did_you_mean(name: str, names) -> str:
    close = [c for c in difflib.get_close_matches(name.lower(), list(names), n=2) if c != name][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


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
    return _build(profile.name, data, where, profile.source, checked=set(overrides) - {"simulator"})


def check_fits(profile: BackendProfile, n_qubits: int) -> None:
    """Raise ``ValueError`` if an ``n_qubits``-wide circuit does not fit the profile's device."""
    if profile.max_qubits is not None and n_qubits > profile.max_qubits:
        raise ValueError(f"a {n_qubits}-qubit circuit does not fit backend {profile.name!r}, which has "
                         f"{profile.max_qubits} qubits; use a device of at least {n_qubits} qubits (`qrkt backends "
                         f"--devices` lists them) or a model whose circuits have at most {profile.max_qubits} qubits")


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
    if kind == "ibm" and not is_fake_device(device) and not _has_ibm_credentials(profile):
        return (f"backend {profile.name!r} found no IBM Quantum account: save one with "
                "QiskitRuntimeService.save_account(...) or set QISKIT_IBM_TOKEN (docs/ibm.md)")
    return None


def ensure_available(profile: BackendProfile) -> None:
    """Raise `BackendUnavailableError` with `unavailable_reason` if the profile cannot run here."""
    reason = unavailable_reason(profile)
    if reason is not None:
        raise BackendUnavailableError(reason)
