"""Quantum layers: `torch.nn.Module`s whose map is a variational circuit.

A layer owns one `nn.Parameter` named ``weight``; every backend reads that same tensor, so
switching backends needs no conversion and ``state_dict()`` is the same on all of them. On
the exact engine a call is one `engine.CompiledCircuit`; on any other backend profile, the
layer's `placement.Placement` runs it.
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from . import backends
from .backends import BackendProfile
from .catalog import CIRCUIT_INITS
from .circuits import Ansatz, make_ansatz
from .engine import UnsupportedCircuitError, compile_ansatz
from .placement import Placement

__all__ = ["INITS", "QuantumLayer", "QuantumLinear", "backends_kept", "placements", "quantum_layers", "restore_placements",
           "running_natively", "shot_sampling", "to_backend"]


INITS = CIRCUIT_INITS  # how a layer's weights start (see QuantumLayer)

# Set by finite-shot training (qrkt_qiskit.training.noise) for one step: a function from a layer's
# outputs to what a device's shots would return; layers in training mode apply it before any
# normalisation, as a device measures before anything classical runs.
shot_sampling: ContextVar = ContextVar("qrkt_shot_sampling", default=None)


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
        initial_weights: the ``n_weights`` starting angles (a tensor, array or list), in the
            order of ``ansatz.weights``, as TorchConnector's ``initial_weights``; otherwise
            ``init`` draws them.
        init: ``"uniform"`` in [0, 2π), as PennyLane's ``TorchLayer`` does, or ``"normal"``:
            near zero, Xavier-normal for a ``(layers, n_qubits)`` weight (std
            ``sqrt(2 / (layers + n_qubits))``), as the thesis author's code and
            QuantumTransformers start.

    Raises:
        ValueError: for an unknown ansatz, backend or init, ``n_qubits < 1``, an `Ansatz` whose
            width is not ``n_qubits``, a circuit wider than the backend's device, or
            ``initial_weights`` of the wrong size or not finite.
        BackendUnavailableError: if the backend cannot run on this machine.
    """

    def __init__(self, n_qubits: int, *, ansatz: str | Ansatz = "qrkt", layers: int = 1,
                 backend: str | BackendProfile = "native", post_norm: bool = False, initial_weights=None,
                 init: str = "uniform"):
        super().__init__()
        if isinstance(ansatz, Ansatz):
            if ansatz.n_qubits != n_qubits:
                raise ValueError(f"the ansatz acts on {ansatz.n_qubits} qubits but n_qubits={n_qubits}")
        else:
            ansatz = make_ansatz(ansatz, n_qubits, layers)
        self.ansatz = ansatz
        self.weight = nn.Parameter(torch.empty(ansatz.n_weights))
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
        if initial_weights is None and init == "uniform":
            nn.init.uniform_(self.weight, 0.0, 2 * math.pi)
        elif initial_weights is None:
            nn.init.normal_(self.weight, 0.0, math.sqrt(2 / (ansatz.n_weights / n_qubits + n_qubits)))
        else:
            self.load_state_dict({"weight": torch.as_tensor(initial_weights, dtype=self.weight.dtype)})
        self.post_norm = post_norm
        self.output_map: tuple[torch.Tensor, torch.Tensor] | None = None  # see set_output_map; not in state_dict
        self._output_calls = 0  # calls since the forward pass began (set_output_map's row)
        self._exact: dict = {}  # (dtype, device) -> the exact engine program
        self._placement: Placement | None = None  # None: the exact native engine
        if backend != "native":
            self.to_backend(backend)
        self._prepare()

    @property
    def n_inputs(self) -> int:
        return self.ansatz.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.ansatz.n_observables

    @property
    def backend(self) -> str:
        """The backend profile's name, or ``"native"`` for the exact engine."""
        return "native" if self._placement is None else self._placement.profile.name

    @property
    def profile(self) -> BackendProfile | None:
        return None if self._placement is None else self._placement.profile

    @property
    def simulator(self) -> str | None:
        """Who simulates a device profile's noise: ``"native"``, ``"aer"`` or ``"runtime"`` (``None`` without a device)."""
        return None if self._placement is None else self._placement.simulator

    def to_backend(self, name="native", *, backends_dir=None, pass_manager=None, **overrides) -> QuantumLayer:
        """Run this layer on backend ``name`` from now on, with the same weights; returns self.

        See `to_backend` (the module function) for the arguments and errors.
        """
        return to_backend(self, name, backends_dir=backends_dir, pass_manager=pass_manager, **overrides)

    def _place(self, profile: BackendProfile | None) -> None:
        """Switch to ``profile`` (``None``: the exact engine), preparing it now so a failure shows here."""
        if profile is None or profile.kind == "native":
            self._placement = None
            return
        placement = Placement(profile, backends.simulator(profile), self.ansatz)
        if placement.simulator in ("native", "auto"):
            try:  # built now, so that a circuit the engine cannot run is reported here
                placement.noisy_program(self.weight)
                placement.simulator = "native"
            except UnsupportedCircuitError:
                if placement.simulator == "native":
                    raise
                placement.simulator = "aer"  # "auto": too wide (or a delay) for the noisy engine
        if placement.simulator != "native" and profile.kind in ("fake", "ibm"):
            backends.fit(profile, self.ansatz)  # the device lookup and transpilation, before any data
            if profile.kind == "fake":
                backends.noise_model(profile)
        self._placement = placement

    def set_output_map(self, scale: torch.Tensor | None, shift: torch.Tensor | None = None) -> None:
        """From now on, the ``i``-th call of a forward pass returns ``circuit(x) * scale[i] + shift[i]``.

        ``scale`` and ``shift`` are ``(calls, n_outputs)``: one row per call of this layer in
        one forward pass (an ODE block calls its layers once per stage); call ``calls + j``
        reuses row ``j``, and `restart_output_map` marks a new pass. With ``post_norm`` the
        map replaces the batch statistics, so one sample alone can be evaluated.
        `qrkt_qiskit.calibration` fits such maps on a device. ``None`` removes the map. It is
        not part of ``state_dict``: checkpoints are the same with or without one.

        Raises:
            ValueError: if ``scale`` and ``shift`` are not both ``(calls, n_outputs)`` and finite.
        """
        if scale is None:
            self.output_map = None
            return
        scale, shift = torch.as_tensor(scale), torch.as_tensor(shift)
        if scale.dim() != 2 or scale.shape[1] != self.n_outputs or shift.shape != scale.shape:
            raise ValueError(f"an output map of this {self.n_outputs}-output layer needs scale and shift of shape "
                             f"(calls, {self.n_outputs}), got {tuple(scale.shape)} and {tuple(shift.shape)}")
        if not (torch.isfinite(scale).all() and torch.isfinite(shift).all()):
            raise ValueError("an output map's scale and shift must be finite")
        self.output_map = (scale, shift)
        self.restart_output_map()

    def restart_output_map(self) -> None:
        """The next call is the first of a forward pass (row 0 of the output map)."""
        self._output_calls = 0

    def _prepare(self) -> None:
        """Build the programs for the weight's dtype and device now, never inside ``forward``.

        Lowering a circuit runs Qiskit (transpiler, Clifford tableaux); ``torch.compile``
        would try to trace it. So the layer compiles when it is built, moved (``.to()``,
        ``.double()``, ``.cuda()``), placed on a backend or unpickled, and ``forward`` only
        looks the program up.
        """
        self._exact_program()
        if self._placement is not None and self._placement.simulator == "native":
            self._placement.noisy_program(self.weight)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self._prepare()
        return self

    @classmethod
    def from_qnn(cls, qnn, **options) -> QuantumLayer:
        """The layer of a qiskit-machine-learning ``EstimatorQNN``, or of a ``TorchConnector`` holding one.

        The QNN's circuit, input and weight parameters (in its order) and observables become
        the layer's `Ansatz`; a TorchConnector's trained weights become its weights. The QNN's
        estimator is not kept: the layer runs natively, or wherever ``backend=`` (in
        ``options``, with the other `QuantumLayer` options) or `to_backend` puts it.

        Raises:
            TypeError: for anything else (a SamplerQNN's outputs are probabilities, not
                expectation values).
        """
        from qiskit_machine_learning.neural_networks import EstimatorQNN

        weights = None
        if isinstance(qnn, nn.Module) and isinstance(getattr(qnn, "neural_network", None), EstimatorQNN):
            weights, qnn = qnn.weight.detach().double(), qnn.neural_network  # a TorchConnector
        if not isinstance(qnn, EstimatorQNN):
            raise TypeError(f"from_qnn takes an EstimatorQNN or a TorchConnector holding one, got {type(qnn).__name__}")
        ansatz = Ansatz(qnn.circuit, tuple(qnn.input_params), tuple(qnn.weight_params), tuple(qnn.observables))
        return cls(ansatz.n_qubits, ansatz=ansatz, initial_weights=weights, **options)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "_weights" in state_dict and prefix + "weight" in state_dict:
            # a TorchConnector's state_dict holds its one weight under both names
            state_dict = {k: v for k, v in state_dict.items() if k != prefix + "_weights"}
        weight = state_dict.get(prefix + "weight")
        if isinstance(weight, torch.Tensor):  # one sentence here, instead of NaN outputs or a deep shape error later
            if tuple(weight.shape) != (self.ansatz.n_weights,):
                raise ValueError(f"{prefix}weight has shape {tuple(weight.shape)}, but this {self.ansatz.n_qubits}-qubit "
                                 f"circuit has {self.ansatz.n_weights} weights")
            if not torch.isfinite(weight).all():
                raise ValueError(f"{prefix}weight contains NaN or infinite values; a circuit's weights are angles")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __getstate__(self):
        # Compiled programs and open backend connections are rebuilt, never pickled or
        # deep-copied: a Runtime session must not travel into a checkpoint. An estimator or
        # backend object the user passed travels as the user's object.
        state = {**self.__dict__, "_exact": {}}
        if self._placement is not None:
            state["_placement"] = Placement(self._placement.profile, self._placement.simulator, self.ansatz,
                                             self._placement.user)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._prepare()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(..., n_outputs)`` of inputs ``(..., n_inputs)`` on the current backend.

        The program that runs the call checks inputs and weights, once, alike on every
        backend: Aer would cast integer inputs and the weights with them to integers.
        """
        out = (self._exact_program()(x, self.weight) if self._placement is None
               else self._placement.run(self, x, self.weight))
        if self.training and (sample := shot_sampling.get()) is not None:
            out = sample(out)
        if self.output_map is not None:
            scale, shift = self.output_map
            row, self._output_calls = self._output_calls % len(scale), self._output_calls + 1
            return out * scale[row].to(out) + shift[row].to(out)
        return _post_norm(out) if self.post_norm else out

    def _exact_program(self):
        key = (self.weight.dtype, self.weight.device)
        if key not in self._exact:
            self._exact[key] = compile_ansatz(self.ansatz, dtype=self.weight.dtype, device=self.weight.device)
        return self._exact[key]

    def extra_repr(self) -> str:
        """What ``print(model)`` shows beside the class name."""
        a = self.ansatz
        text = f"ansatz={a.circuit.name!r}, n_qubits={a.n_qubits}, n_weights={a.n_weights}, backend={self.backend!r}"
        if self.simulator is not None:
            text += f", simulator={self.simulator!r}"
        text += ", post_norm=True" if self.post_norm else ""
        return text + (f", output_map={len(self.output_map[0])} call(s)" if self.output_map is not None else "")


def _post_norm(out: torch.Tensor) -> torch.Tensor:
    """Each output over every sample of the call: zero mean, unit variance (QuantumNAT's normalisation)."""
    flat = out.reshape(-1, out.shape[-1])
    if flat.shape[0] < 2:
        raise ValueError("post-measurement normalisation uses the statistics of the samples in one call, so it "
                         f"needs at least 2 of them, got {flat.shape[0]}; evaluate in batches")
    return F.batch_norm(flat, None, None, training=True, eps=1e-5).reshape(out.shape)


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
        backend, post_norm, init: as for `QuantumLayer`.
    """

    def __init__(self, d_in: int, d_out: int, n_qubits: int, *, ansatz: str = "qrkt", layers: int = 1,
                 backend: str = "native", post_norm: bool = False, init: str = "uniform"):
        super().__init__()
        for name, value in (("d_in", d_in), ("d_out", d_out), ("n_qubits", n_qubits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.d_in, self.d_out = d_in, d_out
        self.proj = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        chunks = math.ceil(d_out / n_qubits)
        self.widths = [d_out // chunks + (1 if i < d_out % chunks else 0) for i in range(chunks)]
        self.circuits = nn.ModuleList(QuantumLayer(w, ansatz=ansatz, layers=layers, backend=backend, post_norm=post_norm,
                                                   init=init) for w in self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., d_in) -> (..., d_out)``: project if needed, split, run each circuit, concatenate."""
        if x.dim() == 0 or x.shape[-1] != self.d_in:
            raise ValueError(f"QuantumLinear expects inputs of shape (..., {self.d_in}), got {tuple(x.shape)}")
        if len(self.circuits) == 1:  # one circuit takes every feature: nothing to split or join
            return self.circuits[0](self.proj(x))
        parts = self.proj(x).split(self.widths, dim=-1)
        return torch.cat([circuit(part) for circuit, part in zip(self.circuits, parts)], dim=-1)

    def extra_repr(self) -> str:
        """What ``print(model)`` shows beside the class name."""
        return f"d_in={self.d_in}, d_out={self.d_out}, circuit_widths={self.widths}"


def to_backend(model: nn.Module, name="native", *, backends_dir=None, pass_manager=None,
               **overrides) -> nn.Module:
    """Switch every `QuantumLayer` in ``model`` to backend ``name``, same weights; returns ``model``.

    The device, its noise model and each circuit's ISA transpilation are prepared here, so a
    bad device or a transpiler failure is reported before any data is touched.

    Args:
        model: any module holding quantum layers (or one `QuantumLayer`); its quantum layers
            switch, nothing else changes (except that a ``native`` profile with
            ``device="cpu"``/``"cuda"`` moves the whole model there).
        name: a backend profile name (``"native"``, ``"aer"``, ``"fake-manila"``, ``"ibm"``,
            your own) or a `BackendProfile`; or an object you built: any Qiskit V2 estimator
            (used with its own options and shots) or ``BackendV2`` (``AerSimulator``, a fake or
            real IBM device; see `backends.user_primitive`).
        backends_dir: one more directory of user profiles.
        pass_manager: for an estimator or backend object, the pass manager its circuits go
            through (default: none for an estimator, a preset one at level 1 for a backend).
        **overrides: per-call profile options (``shots=``, ``seed=``, ``optimization_level=``,
            ``noise_scale=``, ``simulator=``, ``device=``, …).

    Raises:
        ValueError: for a model without quantum layers, an unknown backend or option, a
            circuit wider than the device, or options that do not apply to what ``name`` is.
        TypeError: if ``name`` is none of the above.
        BackendUnavailableError: if the backend cannot run on this machine.
        QrktError: if the transpiler fails on a circuit.
    """
    layers = quantum_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no QuantumLayer to put on backend {_label(name)!r}; "
                         "a classical model runs only on torch")
    if not isinstance(name, (str, BackendProfile)):  # an object you built (`user_primitive` refuses anything else)
        user = backends.user_primitive(name, pass_manager)
        if overrides or backends_dir is not None:
            raise ValueError(f"profile options ({', '.join(sorted(overrides)) or 'backends_dir'}) apply to a profile "
                             f"name; configure the {type(name).__name__} you pass instead")
        for layer in layers:
            user.check_fits(layer.ansatz.n_qubits)
        # every circuit transpiled now, before any layer switches, so a failure shows here and changes nothing
        placements = [Placement(user.profile, None, layer.ansatz, user) for layer in layers]
        for placement in placements:
            placement.qnn  # noqa: B018 (built now, so a pass manager's failure shows here)
        for layer, placement in zip(layers, placements):
            layer._placement = placement
        return model
    if pass_manager is not None:
        raise ValueError("pass_manager= applies to an estimator or backend object you pass; a profile's circuits are "
                         "transpiled by its own pass manager (set its optimization_level)")
    if isinstance(name, str) and name == "native" and not overrides and backends_dir is None:
        profile = None  # the default needs no registry
    else:
        profile = backends.get_profile(name, backends_dir=backends_dir, **overrides)
        backends.ensure_available(profile)
        for layer in layers:
            backends.check_fits(profile, layer.ansatz.n_qubits)
    if profile is not None and profile.kind == "native" and profile.option("device", "auto") != "auto":
        model.to(profile.option("device"))
    for layer in layers:
        layer._place(profile)
    return model


def quantum_layers(model: nn.Module) -> list[QuantumLayer]:
    """Every `QuantumLayer` in ``model`` (``model`` itself included), in module order."""
    return [m for m in model.modules() if isinstance(m, QuantumLayer)]


@contextlib.contextmanager
def backends_kept(model: nn.Module):
    """After the block, every quantum layer of ``model`` is back on the backend it had, nothing rebuilt.

    Open connections and compiled programs of the original backends are kept, so a study
    can switch the model around inside and leave it as it found it.
    """
    saved = placements(model)
    try:
        yield model
    finally:
        restore_placements(model, saved)


def placements(model: nn.Module) -> tuple:
    """Where every quantum layer of ``model`` runs now, with what was built for it, for `restore_placements`.

    Training across several devices builds each device's programs once and switches between
    them per step with these two functions, rebuilding nothing.
    """
    return tuple(layer._placement for layer in quantum_layers(model))


def restore_placements(model: nn.Module, saved: tuple) -> None:
    """Put every quantum layer of ``model`` back where `placements` found it."""
    for layer, placement in zip(quantum_layers(model), saved, strict=True):
        layer._placement = placement


@contextlib.contextmanager
def running_natively(model: nn.Module):
    """Inside, every quantum layer of ``model`` runs on the exact native engine; after, each is back where it was.

    For counting and reference passes that must submit no job (see `backends_kept`).
    """
    with backends_kept(model):
        for layer in quantum_layers(model):
            layer._placement = None
        yield model


def _label(name) -> str:
    if isinstance(name, BackendProfile):
        return name.name
    return name if isinstance(name, str) else type(name).__name__
