"""Hardware cost of any model's quantum layers: circuits, qubits, weights; on a device, gates, jobs, QPU time.

`resource_report` runs one forward pass on the native engine with a hook on every
`QuantumLayer`, so it counts what the model really does — a layer shared by four RK stages
is called four times — and needs nothing from the model but its modules. With a backend
profile it plans the forward pass as `levels.by_level` sends it (one job per dependency
level, PUBs merged, jobs split at IBM's per-job limits) and, on an IBM device, prices every
job with `backends.qpu_time`: executions as Runtime's Estimator prepares them at the
profile's resilience level, and estimated QPU seconds. Nothing is submitted.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from qiskit.circuit import Gate
from torch import nn

from . import backends, levels
from .backends import BackendProfile, Cost
from .engine.dependencies import CircuitDependencies, dependencies
from .circuits import parameterised_gate_arguments
from .layers import QuantumLayer, backends_kept, quantum_layers, running_natively
from .levels import Plan
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
        backend, device, shots, resilience_level: what the cost figures assume.
        batch_size: samples per forward pass when a dataset is evaluated (``qrkt evaluate``'s 1,024).
        train_batch_size: samples of one training step.
        dataset_size: samples of the dataset estimate.
        plan: the forward pass of one sample as it is sent to the backend (``None`` without one).
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
    resilience_level: int | None = None
    batch_size: int = 1024
    train_batch_size: int = 32
    dataset_size: int | None = None
    plan: Plan | None = None

    @property
    def circuits_per_token(self) -> float | None:
        return None if not self.tokens else self.circuits_per_inference / self.tokens

    @property
    def shots_per_inference(self) -> int | None:
        """Every observable of a circuit is measured from the same shots (commuting Z_j)."""
        return None if self.shots is None else self.circuits_per_inference * self.shots

    @property
    def jobs_per_inference(self) -> int | None:
        """Primitive jobs of one sample's forward pass: one per dependency level (``None`` without a backend)."""
        return None if self.plan is None else self.plan.cost()[0].jobs

    @property
    def priced(self) -> bool:
        """Whether the cost figures include executions and QPU seconds (an IBM device's profile)."""
        return self.plan is not None and self.plan.cost()[1]

    def cost(self, samples: int = 1, *, training: bool = False) -> Cost | None:
        """One forward pass of ``samples`` samples (with ``training``, and its parameter-shift gradient)."""
        return None if self.plan is None else self.plan.cost(samples, training=training)[0]

    def dataset_cost(self) -> Cost | None:
        """Evaluating ``dataset_size`` samples in batches of ``batch_size``; ``None`` without both."""
        if self.plan is None or self.dataset_size is None:
            return None
        full, rest = divmod(self.dataset_size, self.batch_size)
        total = self.cost(self.batch_size) * full if full else Cost()
        return total + self.cost(rest) if rest else total

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
            level = "" if self.resilience_level is None else f", resilience level {self.resilience_level}"
            rows += [("backend", self.backend + (f" ({self.device}{level})" if self.device else "")),
                     ("shots per circuit", "exact" if self.shots is None else fmt(self.shots)),
                     ("shots per inference (circuits × shots)", fmt(self.shots_per_inference)),
                     ("primitive jobs per forward pass (one per dependency level)", fmt(self.jobs_per_inference))]
            describe = (lambda c: c.describe()) if self.priced else (
                lambda c: f"{c.jobs:,} job(s), {c.pubs:,} PUBs, {c.parameter_sets:,} parameter sets")
            rows.append(("one inference", describe(self.cost(1))))
            if self.dataset_size is not None:
                rows.append((f"{self.dataset_size:,} samples in batches of {self.batch_size:,}",
                             describe(self.dataset_cost())))
            rows.append((f"one training step, batch {self.train_batch_size} (forward + parameter-shift gradient)",
                         describe(self.cost(self.train_batch_size, training=True))))
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
                    tokens: int | None = None, dataset_size: int | None = None, batch_size: int = 1024,
                    train_batch_size: int = 32, **overrides) -> ResourceReport:
    """Count the circuits one inference of ``model`` evaluates, and what they cost on a device.

    Args:
        model: any module containing `QuantumLayer`s (directly or through `QuantumLinear`).
        example_input: one sample as a batch (leading size 1; a larger batch is divided out),
            or a tuple of such tensors passed as ``model(*example_input)``.
        profile: a backend profile name or `BackendProfile`; with a device (``fake-…``,
            ``ibm``), each distinct circuit is transpiled once for depth and 2-qubit gates.
        tokens: positions per sample; ``None`` infers it from the quantum layers' inputs when
            all have a token axis ``(batch, tokens, features)`` of one length.
        dataset_size: samples to evaluate, for the dataset estimate.
        batch_size: samples per forward pass in the dataset estimate (``qrkt evaluate``'s default).
        train_batch_size: samples of the training-step estimate.
        **overrides: per-call profile options (``shots=``, ``resilience_level=``, …).

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
    report = _report(model, calls, batch, tokens, resolved)
    plan = None if resolved is None else _plan(model, inputs, resolved)
    return dataclasses.replace(report, plan=plan, batch_size=batch_size, train_batch_size=train_batch_size,
                               dataset_size=dataset_size)


def _plan(model: nn.Module, inputs: tuple, profile: BackendProfile) -> Plan:
    """One sample's forward pass on ``profile`` as `levels.by_level` would send it; the model is left as it was."""
    from .layers import to_backend

    if profile.kind == "native":
        raise ValueError(f"backend {profile.name!r} is the native engine: it sends no job, so there is nothing to "
                         "estimate; name a device profile (fake-<device>, ibm) or a simulator")
    if backends.simulator(profile) in ("native", "auto"):  # what the device itself would be sent
        profile = backends.get_profile(profile, simulator="aer" if profile.kind == "fake" else "runtime")
    was_training = model.training
    one = tuple(t[:1] if isinstance(t, torch.Tensor) and t.dim() else t for t in inputs)
    try:
        with backends_kept(model), torch.no_grad():
            to_backend(model, profile)
            return levels.plan(model.eval(), *one)
    finally:
        model.train(was_training)


def _leading(shape: torch.Size) -> int:
    return math.prod(shape[:-1])


def _report(model, calls, batch, tokens, profile) -> ResourceReport:
    if tokens is None:
        lengths = {shape[-2] for _, shape in calls if len(shape) >= 3}
        tokens = lengths.pop() if len(lengths) == 1 and all(len(s) >= 3 for _, s in calls) else None
    called = list(dict.fromkeys(mod for mod, _ in calls))
    groups: dict[tuple, list] = {}
    for mod, shape in calls:
        a = mod.ansatz
        groups.setdefault((a.circuit.name, a.n_qubits, a.n_weights, a.n_observables), []).append((mod, shape))
    costs, device_name = [], None
    for (name, n, n_w, n_obs), members in groups.items():
        circuit = members[0][0].ansatz.circuit
        runs = circuit
        device_costs = (None, None)
        if profile is not None and profile.kind in ("fake", "ibm"):
            runs = backends.isa_circuit(profile, circuit)
            device_costs = (runs.depth(), _two_qubit_gates(runs))
            device_name = profile.option("device") or "least busy"
        evaluations = sum(_leading(shape) for _, shape in members) // batch
        costs.append(CircuitCost(name, n, n_w, n_obs, len({id(m) for m, _ in members}), len(members), evaluations,
                                 circuit.depth(), _two_qubit_gates(circuit), parameterised_gate_arguments(runs), *device_costs,
                                 computes=dependencies(members[0][0].ansatz)))
    quantum = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, QuantumLayer)}
    runtime = profile is not None and profile.kind == "ibm" and backends.simulator(profile) == "runtime"
    return ResourceReport(
        model=type(model).__name__, batch=batch, tokens=tokens, quantum_layers=len(called), layer_calls=len(calls),
        circuits_per_inference=sum(c.evaluations for c in costs),
        widest_circuit=max(m.ansatz.n_qubits for m in called),
        qubit_total=sum(mod.ansatz.n_qubits for mod, _ in calls),
        distinct_qubits=sum(m.ansatz.n_qubits for m in called), quantum_weights=sum(quantum.values()),
        classical_parameters=sum(p.numel() for p in model.parameters() if id(p) not in quantum),
        circuits=tuple(costs), backend=None if profile is None else profile.name, device=device_name,
        shots=None if profile is None else profile.shots,
        resilience_level=profile.option("resilience_level", 1) if runtime else None)


def _two_qubit_gates(circuit) -> int:
    return sum(1 for inst in circuit.data if isinstance(inst.operation, Gate) and inst.operation.num_qubits == 2)


