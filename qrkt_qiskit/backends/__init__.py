"""Backend registry: named TOML profiles and the Qiskit primitives they run circuits on.

The one package that touches Aer and Qiskit Runtime: `profiles` (the registry of profiles
read from TOML files, how ``fake-<device>`` resolves, the schema, availability), `devices`
(fake and IBM devices, pass managers, noise models, ISA circuits cached per circuit),
`execution` (primitives, sessions, the native noisy engine's programs), `qpu_time` (what a
job costs on an IBM device), `batching` (an estimator that merges PUBs into few jobs),
`failures` (a failed job as one sentence, no credential in it) and `user` (an estimator or
backend object the user passes instead of a profile).

Kinds: ``native`` (the PyTorch engine), ``estimator`` (Qiskit's exact StatevectorEstimator),
``aer`` (Aer, exact or sampled, CPU or GPU), ``fake`` (Aer with a fake IBM device's noise
model, coupling map and basis gates, on ISA circuits), ``ibm`` (Qiskit Runtime's Estimator in
a Session, a Batch or job mode; a ``fake-<device>`` device runs in Runtime's local testing
mode, every other device on IBM Quantum with the saved account or environment).
"""

from .batching import BatchingEstimator
from .progress import circuit_progress
from .devices import TRANSPILER_SEED, Fitted, fit, isa_circuit, noise_model
from .qpu_time import Cost, QPUTimeModel, format_seconds
from .execution import Prepared, close_sessions, noisy_program, prepare, qpu_model, runtime_options
from .profiles import (ENV_PATH, KINDS, SHIPPED_DIR, SIMULATORS, BackendJobError, BackendProfile,
                       BackendUnavailableError, BudgetExceededError, check_fits, ensure_available, fake_devices, get_profile, load_profile,
                       profiles, search_path, simulator, unavailable_reason)
from .user import UserPrimitive, user_primitive

__all__ = [
    "ENV_PATH", "KINDS", "SHIPPED_DIR", "SIMULATORS", "TRANSPILER_SEED", "BackendJobError", "BackendProfile",
    "BackendUnavailableError", "BatchingEstimator", "BudgetExceededError", "Cost", "Fitted", "QPUTimeModel",
    "circuit_progress", "Prepared", "check_fits", "close_sessions", "ensure_available", "fake_devices", "fit",
    "format_seconds", "get_profile", "isa_circuit", "load_profile", "noise_model", "noisy_program", "prepare",
    "profiles", "qpu_model", "runtime_options", "search_path", "simulator", "unavailable_reason", "UserPrimitive",
    "user_primitive",
]
