"""An estimator or backend the user built, as a backend for quantum layers.

`to_backend(model, obj)` takes, besides a profile name, any Qiskit V2 estimator
(``StatevectorEstimator``, Aer's ``EstimatorV2``, Runtime's ``EstimatorV2`` in a session you
opened, your own `BaseEstimatorV2`) or any ``BackendV2`` (``AerSimulator``, a fake or real IBM
device), and optionally a pass manager. The object is used as it is: its own shots, options
and sessions; nothing of it is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import BackendV2

from ..circuits import Ansatz
from .batching import BatchingEstimator
from .devices import TRANSPILER_SEED
from .execution import Prepared
from .failures import first_line, job_error
from .profiles import BackendProfile

__all__ = ["UserPrimitive", "user_primitive"]


@dataclass(frozen=True, eq=False)
class UserPrimitive:
    """The user's estimator, the pass manager its circuits go through (``None``: as they are), and a profile naming them."""

    estimator: BaseEstimatorV2
    pass_manager: Any
    profile: BackendProfile

    @property
    def _estimator(self) -> BatchingEstimator:
        """One batching estimator for every layer on this object, so a level's calls go out together."""
        if "_batching" not in self.__dict__:
            object.__setattr__(self, "_batching", BatchingEstimator(self._call, None, self.profile.name))
        return self.__dict__["_batching"]

    def check_fits(self, n_qubits: int) -> None:
        """Refuse, in one sentence, a circuit wider than the backend."""
        width = self.profile.max_qubits
        if width is not None and n_qubits > width:
            raise ValueError(f"a {n_qubits}-qubit circuit does not fit backend {self.profile.name!r} ({width} qubits)")

    def prepare(self, ansatz: Ansatz) -> Prepared:
        """The circuit through the pass manager, its observables laid out onto it, and a batching estimator.

        Raises:
            QrktError: if the pass manager fails on the circuit.
        """
        from ..errors import QrktError

        circuit, observables = ansatz.circuit, tuple(ansatz.observables)
        if self.pass_manager is not None:
            try:
                circuit = self.pass_manager.run(circuit)
            except Exception as exc:
                raise QrktError(f"the pass manager failed on circuit {ansatz.circuit.name!r} "
                                f"({type(exc).__name__}: {first_line(exc)})") from None
            if circuit.layout is not None:
                observables = tuple(o.apply_layout(circuit.layout) for o in observables)
        return Prepared(circuit, ansatz.inputs + ansatz.weights, observables,
                        self._estimator)

    def _call(self, pubs: list):
        job = None
        try:
            job = self.estimator.run(pubs)  # its own precision or shots
            return job.result()
        except Exception as exc:  # one sentence with the job id, as for a profile
            raise job_error(job, exc, self.profile.name) from None


def user_primitive(target: Any, pass_manager: Any = None) -> UserPrimitive:
    """``target`` (an estimator or a backend) as a `UserPrimitive`.

    A backend gets a V2 estimator made for it (Aer's for an ``AerSimulator``, Runtime's for an
    IBM or fake IBM device, Qiskit's ``BackendEstimatorV2`` otherwise) and, unless you give
    one, a preset pass manager at optimisation level 1, since a device runs ISA circuits only.

    Raises:
        TypeError: if ``target`` is neither.
    """
    if isinstance(target, BaseEstimatorV2):
        name, width, estimator = type(target).__name__, None, target
    elif isinstance(target, BackendV2):
        name, width, estimator = f"backend {target.name}", target.num_qubits, _estimator_for(target)
        if pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            pass_manager = generate_preset_pass_manager(optimization_level=1, backend=target,
                                                        seed_transpiler=TRANSPILER_SEED)
    else:
        raise TypeError(f"a backend must be a profile name, a BackendProfile, a Qiskit V2 estimator or a BackendV2, "
                        f"got {type(target).__name__}")
    return UserPrimitive(estimator, pass_manager, BackendProfile(name=name, kind="user", max_qubits=width,
                                                                 description="an object passed to to_backend"))


def _estimator_for(backend: BackendV2) -> BaseEstimatorV2:
    from qiskit_aer import AerSimulator

    if isinstance(backend, AerSimulator):
        from qiskit_aer.primitives import EstimatorV2

        return EstimatorV2.from_backend(backend)
    if type(backend).__module__.startswith("qiskit_ibm_runtime"):  # IBM devices and their fakes (local testing mode)
        from qiskit_ibm_runtime.executor_estimator import Estimator

        return Estimator(mode=backend)
    from qiskit.primitives import BackendEstimatorV2

    return BackendEstimatorV2(backend=backend)
