"""Hardware cost of any model's quantum layers: circuits, qubits, weights; on a device, gates, shots, jobs.

`resource_report` runs one forward pass on the native engine with a hook on every
`QuantumLayer`, so it counts what the model really does — a layer shared by four RK stages
is called four times — and needs nothing from the model but its modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from qiskit.circuit import Gate, ParameterExpression
from torch import nn

from . import backends
from .backends import BackendProfile
from .engine.dependencies import CircuitDependencies, dependencies
from .layers import QuantumLayer, quantum_layers, running_natively
from .output import markdown_table

__all__ = ["CircuitCost", "ResourceReport", "resource_report"]


@dataclass(frozen=True)
class CircuitCost:
    """One distinct circuit of the model (same ansatz, width, weights and observables).

    Attributes:
        ansatz: the circuit's name (``"qrkt"``, ``"basic"``, or your own).
        n_qubits: its width.
        n_weights: trainable weights of one such circuit.
        modules: `QuantumLayer` modules using it.
        calls: their calls in one forward pass.
        evaluations: circuit evaluations per inference (calls × leading elements per sample).
        depth, two_qubit_gates: of the logical circuit.
        device_depth, device_two_qubit_gates: of its ISA transpilation for the profile's device
            (``None`` without a device profile).
        shifted_parameters: parameterised gate arguments in the circuit the backend runs; a
            parameter-shift gradient evaluates two circuits per argument and observable.
        computes: which inputs its outputs read (`engine.dependencies`).
    """

    ansatz: str
    n_qubits: int
    n_weights: int
    n_observables: int
    modules: int
    calls: int
    evaluations: int
    depth: int
    two_qubit_gates: int
    shifted_parameters: int
    device_depth: int | None = None
    device_two_qubit_gates: int | None = None
    computes: CircuitDependencies | None = None


@dataclass(frozen=True)
class ResourceReport:
    """What one inference of a model costs in circuits, qubits and (with a profile) shots and jobs.

    Attributes:
        model: the model's class name.
        batch: samples in the example input (figures are per sample).
        tokens: positions per sample seen by the quantum layers (``None`` without a token axis).
        quantum_layers: `QuantumLayer` modules called in the forward pass.
        layer_calls: their calls in one forward pass.
        circuits_per_inference: circuit evaluations for one sample.
        widest_circuit: qubits of the widest circuit.
        qubit_total: the thesis' count: the sum over the calls of one forward pass of the
            circuit's width (an RK4 block calling one layer four times counts it four times).
        distinct_qubits: the sum of widths over the layer modules, each counted once.
        quantum_weights: weights of every `QuantumLayer`; classical_parameters: every other parameter.
        circuits: per distinct circuit.
        backend, device, shots, batch_size, dataset_size: what the cost figures assume.
        jobs_per_batch: primitive jobs for one forward pass of ``batch_size`` samples.
        training_circuits_per_inference: circuit evaluations of one sample's forward and
            parameter-shift backward (1 + 2·k·m per evaluation: k observables, m
            parameterised gate arguments in the circuit the backend runs).
    """

    model: str
    batch: int
    tokens: int | None
    quantum_layers: int
    layer_calls: int
    circuits_per_inference: int
    widest_circuit: int
    qubit_total: int
    distinct_qubits: int
    quantum_weights: int
    classical_parameters: int
    circuits: tuple[CircuitCost, ...]
    backend: str | None = None
    device: str | None = None
    shots: int | None = None
    batch_size: int = 64
    dataset_size: int | None = None
    jobs_per_batch: int = 0
    training_circuits_per_inference: int = 0

    @property
    def circuits_per_token(self) -> float | None:
        return None if not self.tokens else self.circuits_per_inference / self.tokens

    @property
    def shots_per_inference(self) -> int | None:
        """Every observable of a circuit is measured from the same shots (commuting Z_j)."""
        return None if self.shots is None else self.circuits_per_inference * self.shots

    @property
    def jobs_per_inference(self) -> int:
        """One primitive job per layer call: all samples of a batch go in one job (or ``batch_size`` splits)."""
        return self.layer_calls

    def epoch(self, training: bool = False) -> dict[str, int | None] | None:
        """Circuits, shots and jobs of one pass over ``dataset_size`` samples in batches of ``batch_size``.

        Training assumes EstimatorQNN's parameter-shift gradient (one forward job and one
        gradient job per layer call and batch); ``None`` without a dataset size.
        """
        if self.dataset_size is None:
            return None
        batches = math.ceil(self.dataset_size / self.batch_size)
        per_sample = self.training_circuits_per_inference if training else self.circuits_per_inference
        circuits = self.dataset_size * per_sample
        return {"circuits": circuits, "shots": None if self.shots is None else circuits * self.shots,
                "jobs": batches * self.jobs_per_batch * (2 if training else 1)}

    def rows(self) -> list[tuple[str, str]]:
        """The report as (quantity, value) pairs, in reading order."""
        def fmt(v):
            return "—" if v is None else f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"

        rows = [("model", self.model), ("quantum layers (modules called)", fmt(self.quantum_layers)),
                ("quantum layer calls per forward", fmt(self.layer_calls)),
                ("circuits per inference", fmt(self.circuits_per_inference)),
                ("tokens", fmt(self.tokens)), ("circuits per token", fmt(self.circuits_per_token)),
                ("widest circuit (qubits)", fmt(self.widest_circuit)),
                ("qubit total (thesis: Σ width over calls)", fmt(self.qubit_total)),
                ("qubits of distinct layers", fmt(self.distinct_qubits)),
                ("quantum weights", fmt(self.quantum_weights)),
                ("classical parameters", fmt(self.classical_parameters))]
        if self.backend is not None:
            rows += [("backend", self.backend + (f" ({self.device})" if self.device else "")),
                     ("shots per circuit", "exact" if self.shots is None else fmt(self.shots)),
                     ("shots per inference", fmt(self.shots_per_inference)),
                     ("primitive jobs per inference", fmt(self.jobs_per_inference))]
        for training in (False, True):
            epoch = self.epoch(training)
            if epoch is not None:
                what = "training epoch (parameter shift)" if training else "inference epoch"
                rows.append((f"{what}: {self.dataset_size:,} samples, batch {self.batch_size}",
                             f"{fmt(epoch['circuits'])} circuits, {fmt(epoch['shots'])} shots, {fmt(epoch['jobs'])} jobs"))
        return rows

    def to_markdown(self) -> str:
        """The report as two markdown tables: the model, then one row per distinct circuit."""
        device = self.device is not None
        head = ["circuit", "mixes inputs", "qubits", "weights", "modules", "calls", "evaluations/inference", "depth",
                "2-qubit gates"]
        head += ["device depth", "device 2-qubit gates"] if device else []
        rows, computes = [], []
        for c in self.circuits:
            mixing = "—" if c.computes is None else c.computes.short()
            cells = [c.ansatz, mixing, c.n_qubits, c.n_weights, c.modules, c.calls, c.evaluations, c.depth,
                     c.two_qubit_gates]
            rows.append(cells + ([c.device_depth, c.device_two_qubit_gates] if device else []))
            if c.computes is not None:
                computes.append(f"- {c.ansatz} ({c.n_qubits} qubits): {c.computes.summary()}")
        text = (markdown_table(["quantity", "value"], self.rows(), numeric=1) + "\n\n"
                + markdown_table(head, rows, numeric=len(head) - 2))
        return text + ("\n\nWhat each circuit computes:\n" + "\n".join(computes) if computes else "")


def resource_report(model: nn.Module, example_input, profile: str | BackendProfile | None = None, *,
                    tokens: int | None = None, dataset_size: int | None = None, batch_size: int = 64,
                    **overrides) -> ResourceReport:
    """Count the circuits one inference of ``model`` evaluates, and what they cost on a device.

    Args:
        model: any module containing `QuantumLayer`s (directly or through `QuantumLinear`).
        example_input: one sample as a batch (leading size 1; a larger batch is divided out),
            or a tuple of such tensors passed as ``model(*example_input)``.
        profile: a backend profile name or `BackendProfile`; with a device (``fake-…``,
            ``ibm``), each distinct circuit is transpiled once for depth and 2-qubit gates.
        tokens: positions per sample; ``None`` infers it from the quantum layers' inputs when
            all have a token axis ``(batch, tokens, features)`` of one length.
        dataset_size: samples per epoch, for the epoch estimate.
        batch_size: samples per forward pass in the epoch estimate.
        **overrides: per-call profile options (``shots=``, ``optimization_level=``, …).

    The forward pass runs on the native engine whatever the layers' backends (no job is
    submitted) and leaves the model's backends and training mode as they were.

    Raises:
        ValueError: if the model has no `QuantumLayer` or a circuit does not fit the device.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    batch = int(inputs[0].shape[0]) if inputs[0].dim() else 1
    calls: list[tuple[QuantumLayer, torch.Size]] = []
    layers = quantum_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no QuantumLayer, so it evaluates no circuit")
    hooks = [m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0].shape))) for m in layers]
    was_training = model.training
    try:
        model.eval()
        # count, don't submit: the circuits are the same on every backend
        with running_natively(model), torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    resolved = None if profile is None else backends.get_profile(profile, **overrides)
    return _report(model, calls, batch, tokens, resolved, dataset_size, batch_size)


def _leading(shape: torch.Size) -> int:
    return math.prod(shape[:-1])


def _report(model, calls, batch, tokens, profile, dataset_size, batch_size) -> ResourceReport:
    if tokens is None:
        lengths = {shape[-2] for _, shape in calls if len(shape) >= 3}
        tokens = lengths.pop() if len(lengths) == 1 and all(len(s) >= 3 for _, s in calls) else None
    called = list(dict.fromkeys(mod for mod, _ in calls))
    groups: dict[tuple, list] = {}
    for mod, shape in calls:
        a = mod.ansatz
        groups.setdefault((a.circuit.name, a.n_qubits, a.n_weights, a.n_observables), []).append((mod, shape))
    costs, training = [], 0
    device_name, bs = None, None if profile is None else profile.option("batch_size")
    jobs_per_batch = 0
    for (name, n, n_w, n_obs), members in groups.items():
        circuit = members[0][0].ansatz.circuit
        runs = circuit
        device_costs = (None, None)
        if profile is not None and profile.kind in ("fake", "ibm"):
            runs = backends.isa_circuit(profile, circuit)
            device_costs = (runs.depth(), _two_qubit_gates(runs))
            device_name = profile.option("device") or "least busy"
        evaluations = sum(_leading(shape) for _, shape in members) // batch
        shifted = _shifted_parameters(runs)
        training += evaluations * (1 + n_obs * 2 * shifted)
        jobs_per_batch += sum(1 if bs is None else math.ceil(_leading(s) // batch * batch_size / bs) for _, s in members)
        costs.append(CircuitCost(name, n, n_w, n_obs, len({id(m) for m, _ in members}), len(members), evaluations,
                                 circuit.depth(), _two_qubit_gates(circuit), shifted, *device_costs,
                                 computes=dependencies(members[0][0].ansatz)))
    quantum = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, QuantumLayer)}
    return ResourceReport(
        model=type(model).__name__, batch=batch, tokens=tokens, quantum_layers=len(called), layer_calls=len(calls),
        circuits_per_inference=sum(c.evaluations for c in costs),
        widest_circuit=max(m.ansatz.n_qubits for m in called),
        qubit_total=sum(mod.ansatz.n_qubits for mod, _ in calls),
        distinct_qubits=sum(m.ansatz.n_qubits for m in called), quantum_weights=sum(quantum.values()),
        classical_parameters=sum(p.numel() for p in model.parameters() if id(p) not in quantum),
        circuits=tuple(costs), backend=None if profile is None else profile.name, device=device_name,
        shots=None if profile is None else profile.shots, batch_size=batch_size, dataset_size=dataset_size,
        jobs_per_batch=jobs_per_batch if profile is not None else len(calls),
        training_circuits_per_inference=training)


def _two_qubit_gates(circuit) -> int:
    return sum(1 for inst in circuit.data if isinstance(inst.operation, Gate) and inst.operation.num_qubits == 2)


def _shifted_parameters(circuit) -> int:
    return sum(1 for inst in circuit.data for p in inst.operation.params
               if isinstance(p, ParameterExpression) and p.parameters)
