"""Quantum layers: `torch.nn.Module`s whose map is a variational circuit.

This is the one module that knows both the native engine and Qiskit's EstimatorQNN /
TorchConnector. A layer owns one `nn.Parameter` named ``weight``; every backend reads
that same tensor, so switching backends needs no conversion and ``state_dict()`` is the
same on all of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import backends
from .backends import BackendProfile
from .circuits import Ansatz, make_ansatz
from .engine import compile as compile_circuit
from .engine.compiler import check_inputs
from .engine.lowering import UnsupportedCircuitError

__all__ = ["QuantumLayer", "QuantumLinear", "to_backend"]


class QuantumLayer(nn.Module):
    """A variational circuit as a layer: ``(..., n_inputs) -> (..., n_observables)``.

    Args:
        n_qubits: circuit width (for a shipped ansatz, also its inputs and outputs).
        ansatz: a shipped ansatz name (``"qrkt"``, ``"basic"``) or your own `Ansatz`.
        layers: variational layers of a shipped ansatz (ignored for your own `Ansatz`).
        backend: ``"native"`` (the exact PyTorch engine, CPU or CUDA, follows the layer's
            dtype and device), or any other backend profile name (``"estimator"``, ``"aer"``,
            ``"aer-shots"``, ``"fake-manila"``, ``"ibm"``, your own) or `BackendProfile`:
            Qiskit's EstimatorQNN wrapped in TorchConnector, on that profile's primitive; a
            device profile whose ``simulator`` is ``"native"`` (``fake-*`` by default, where
            the circuit fits) runs the device's noise in the native noisy engine instead,
            differentiably, so a model can be trained for the device.
        post_norm: normalise each output over the call's samples (all leading dimensions)
            to zero mean and unit variance, as QuantumNAT's post-measurement normalisation:
            a device's noise mostly shrinks and shifts expectation values, which this undoes.

    The weights start uniform in [0, 2π), as PennyLane's ``TorchLayer`` does.

    Raises:
        ValueError: for an unknown ansatz or backend, ``n_qubits < 1``, an `Ansatz` whose
            width is not ``n_qubits``, or a circuit wider than the backend's device.
        BackendUnavailableError: if the backend cannot run on this machine.
    """

    def __init__(self, n_qubits: int, ansatz: str | Ansatz = "qrkt", layers: int = 1,
                 backend: str | BackendProfile = "native", *, post_norm: bool = False):
        super().__init__()
        if isinstance(ansatz, Ansatz):
            if ansatz.n_qubits != n_qubits:
                raise ValueError(f"the ansatz acts on {ansatz.n_qubits} qubits but n_qubits={n_qubits}")
        else:
            ansatz = make_ansatz(ansatz, n_qubits, layers)
        self.ansatz = ansatz
        self.weight = nn.Parameter(torch.empty(ansatz.n_weights))
        nn.init.uniform_(self.weight, 0.0, 2 * math.pi)
        self.post_norm = post_norm
        self._programs: dict = {}  # compiled engine programs (and the QNN), built on first use
        self.backend, self.profile, self.simulator = "native", None, None
        if backend != "native":
            self.to_backend(backend)

    @property
    def n_inputs(self) -> int:
        return self.ansatz.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.ansatz.n_observables

    def to_backend(self, name: str | BackendProfile = "native", *, backends_dir=None, **overrides) -> QuantumLayer:
        """Run this layer on backend ``name`` from now on, with the same weights; returns self.

        Args:
            name: a backend profile name or `BackendProfile` (see `qrkt_qiskit.backends`).
            backends_dir: one more directory of user profiles.
            **overrides: per-call profile options (``shots=``, ``seed=``,
                ``optimization_level=``, ``noise_scale=``, ``simulator=``, ``device=``, …).

        Raises:
            ValueError: for an unknown backend or option, or a circuit wider than the device.
            BackendUnavailableError: if the backend cannot run on this machine.
        """
        profile = _resolve([self], name, backends_dir, overrides)
        if profile is not None and profile.kind == "native" and profile.option("device", "auto") != "auto":
            self.to(profile.option("device"))
        self._use(profile)
        return self

    def _use(self, profile: BackendProfile | None) -> None:
        for key in [k for k in self._programs if k == "backend" or k[0] == "noisy"]:  # keys: "backend", (kind, dtype, device)
            del self._programs[key]  # the previous backend's QNN or noisy programs; the exact ones stay
        native = profile is None or profile.kind == "native"
        self.backend, self.profile = ("native", None) if native else (profile.name, profile)
        self.simulator = None if native else backends.simulator(profile)
        if self.simulator in ("native", "auto"):
            try:  # built now, so that a circuit the engine cannot run is reported here
                self._noisy()
                self.simulator = "native"
            except UnsupportedCircuitError:
                if self.simulator == "native":
                    raise
                self.simulator = "aer"  # "auto": too wide (or a delay) for the noisy engine

    def __getstate__(self):
        # Compiled programs and open backend connections are rebuilt on use, never pickled or
        # deep-copied: a Runtime session must not travel into a checkpoint.
        return {**self.__dict__, "_programs": {}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_inputs(x, self.ansatz)
        if self.backend == "native":
            out = self._native()(x, self.weight, validate=False)
        elif self.simulator == "native":
            out = self._noisy()(x, self.weight, validate=False)
        else:
            out = self._estimator(x)
        return _post_norm(out) if self.post_norm else out

    def _native(self):
        key = ("exact", self.weight.dtype, self.weight.device)
        if key not in self._programs:
            self._programs[key] = compile_circuit(self.ansatz, dtype=self.weight.dtype, device=self.weight.device)
        return self._programs[key]

    def _noisy(self):
        key = ("noisy", self.weight.dtype, self.weight.device)
        if key not in self._programs:
            self._programs[key] = backends.noisy_program(self.profile, self.ansatz, dtype=self.weight.dtype,
                                                         device=self.weight.device)
        return self._programs[key]

    def _estimator(self, x: torch.Tensor) -> torch.Tensor:
        # The QNN takes the weights as extra inputs, so TorchConnector's input gradients
        # flow into this layer's own `weight` and no second parameter exists. All samples
        # go to the backend in one forward call (see qrkt_qiskit.batching).
        if "backend" not in self._programs:
            self._programs["backend"] = _estimator_connector(self.ansatz, self.profile)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.n_inputs)
        values = torch.cat([flat, self.weight.to(flat.dtype).expand(flat.shape[0], -1)], dim=1)
        out = self._programs["backend"](values.cpu().float())
        return out.to(device=x.device, dtype=x.dtype).reshape(*lead, self.n_outputs)

    def extra_repr(self) -> str:
        a = self.ansatz
        text = f"ansatz={a.circuit.name!r}, n_qubits={a.n_qubits}, n_weights={a.n_weights}, backend={self.backend!r}"
        if self.simulator is not None:
            text += f", simulator={self.simulator!r}"
        return text + (", post_norm=True" if self.post_norm else "")


def _post_norm(out: torch.Tensor) -> torch.Tensor:
    """Each output over every sample of the call: zero mean, unit variance (QuantumNAT's normalisation)."""
    flat = out.reshape(-1, out.shape[-1])
    if flat.shape[0] < 2:
        raise ValueError("post-measurement normalisation uses the statistics of the samples in one call, so it "
                         f"needs at least 2 of them, got {flat.shape[0]}; evaluate in batches")
    return F.batch_norm(flat, None, None, training=True, eps=1e-5).reshape(out.shape)


def _estimator_connector(ansatz: Ansatz, profile: BackendProfile) -> nn.Module:
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    # The registry gives the (ISA) circuit, observables laid out onto it, and an estimator
    # that decides shots and batching itself.
    prepared = backends.prepare(profile, ansatz)
    qnn = EstimatorQNN(
        circuit=prepared.circuit,
        observables=list(prepared.observables),
        input_params=list(ansatz.inputs + ansatz.weights),
        weight_params=[],
        estimator=prepared.estimator,
        input_gradients=True,  # without it the layers before this one get no gradient
        default_precision=0.0,  # the default would add Gaussian noise to an exact estimator
    )
    return TorchConnector(qnn, initial_weights=np.zeros(0))


class QuantumLinear(nn.Module):
    """A map ``(..., d_in) -> (..., d_out)`` by circuits of at most ``n_qubits`` qubits.

    Where ``d_in != d_out`` a classical ``nn.Linear(d_in, d_out)`` projects first. The
    ``d_out`` features are then split into ``ceil(d_out / n_qubits)`` chunks of nearly
    equal width, each fed to its own `QuantumLayer` (weights not shared), and the
    outputs are concatenated.

    Args:
        d_in: input features.
        d_out: output features.
        n_qubits: the widest circuit allowed.
        ansatz: shipped ansatz name for every circuit.
        layers: variational layers per circuit.
        backend, post_norm: as for `QuantumLayer`.
    """

    def __init__(self, d_in: int, d_out: int, n_qubits: int, *, ansatz: str = "qrkt", layers: int = 1,
                 backend: str = "native", post_norm: bool = False):
        super().__init__()
        for name, value in (("d_in", d_in), ("d_out", d_out), ("n_qubits", n_qubits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.d_in, self.d_out = d_in, d_out
        self.proj = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        chunks = math.ceil(d_out / n_qubits)
        self.widths = [d_out // chunks + (1 if i < d_out % chunks else 0) for i in range(chunks)]
        self.circuits = nn.ModuleList(QuantumLayer(w, ansatz, layers, backend, post_norm=post_norm)
                                     for w in self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0 or x.shape[-1] != self.d_in:
            raise ValueError(f"QuantumLinear expects inputs of shape (..., {self.d_in}), got {tuple(x.shape)}")
        if len(self.circuits) == 1:  # one circuit takes every feature: nothing to split or join
            return self.circuits[0](self.proj(x))
        parts = self.proj(x).split(self.widths, dim=-1)
        return torch.cat([circuit(part) for circuit, part in zip(self.circuits, parts)], dim=-1)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, circuit_widths={self.widths}"


def to_backend(model: nn.Module, name: str | BackendProfile = "native", *, backends_dir=None,
               **overrides) -> nn.Module:
    """Switch every `QuantumLayer` in ``model`` to backend ``name``, same weights; returns ``model``.

    Args:
        model: any module; its quantum layers switch, nothing else changes (except that a
            ``native`` profile with ``device="cpu"``/``"cuda"`` moves the whole model there).
        name: a backend profile name (``"native"``, ``"aer"``, ``"fake-manila"``, ``"ibm"``,
            your own) or a `BackendProfile`.
        backends_dir: one more directory of user profiles.
        **overrides: per-call profile options (``shots=``, ``seed=``, ``optimization_level=``,
            ``noise_scale=``, ``device=``, …).

    Raises:
        ValueError: for an unknown backend or option, or a circuit wider than the device.
        BackendUnavailableError: if the backend cannot run on this machine.
    """
    layers = [m for m in model.modules() if isinstance(m, QuantumLayer)]
    profile = _resolve(layers, name, backends_dir, overrides)
    if profile is not None and profile.kind == "native" and profile.option("device", "auto") != "auto":
        model.to(profile.option("device"))
    for layer in layers:
        layer._use(profile)
    return model


def _resolve(layers, name, backends_dir, overrides) -> BackendProfile | None:
    """The profile for ``name`` (``None`` for the plain native engine), checked against ``layers``."""
    if isinstance(name, str) and name == "native" and not overrides and backends_dir is None:
        return None  # the default needs no registry
    profile = backends.get_profile(name, backends_dir=backends_dir, **overrides)
    backends.ensure_available(profile)
    for layer in layers:
        backends.check_fits(profile, layer.ansatz.n_qubits)
    return profile
