"""Throughput of a quantum layer: the native engine against other simulators.

What is measured, in one run on one machine, for each width ``n`` (``--qubits``) and
batch size (``--batches``) of a circuit (``--circuit``, from ``benchmarks/circuits.py``):
``qrkt`` (the default: the ``qrkt`` ansatz with one layer, which takes the closed form),
``qrkt-2`` (two layers) or ``ring-ry`` (issue 16's: per qubit RX(x)·H·RZ(w), a CNOT ring,
RY(w) per qubit), which take the statevector path:

* **fwd**: one forward pass under ``torch.no_grad()``;
* **fwd+bwd**: a forward pass on inputs that require grad, ``loss = out.sum()`` and
  ``loss.backward()`` down to both the inputs and the weights;

each reported as samples per second. Every framework gets the same inputs ``x``
(uniform in [0, π)) and weights ``w`` (uniform in [0, 2π)), converted to its dtype.
Timing: warm-up calls on 2 samples and on the full batch, then the median of timed calls
until they add up to the time budget (``--budget``), at least 3 and at most ``--repeats``:
a call of a millisecond is timed a thousand times (ten calls, the old default, gave ratios
that moved 2.7x between runs of one cell), a slow one three times, whose median shrugs off
one call slowed by another process.
The slow frameworks get one warm-up call on 2 samples and a single timed call. Wall
time by ``time.perf_counter``.

Frameworks (``--skip`` takes names or prefixes, e.g. ``--skip qml pl-lightning``):

* ``engine-c64`` / ``engine-c128``: ``qrkt_qiskit.compile_ansatz`` in float32 / float64 with its
  automatic strategy (the closed form for ``qrkt``, the statevector path for the others);
* ``engine-sweep-c64``: the float32 engine forced onto the torch sweep (``method="sweep"``),
  which CUDA and a double backward run;
* ``engine-sv-c64`` / ``engine-sv-c128``: the same, forced onto the statevector path (only
  where the automatic strategy is the closed form);
* ``qml-aer-gpu-paramshift``: ``EstimatorQNN`` on Aer's ``device="GPU"`` (``qiskit-aer-gpu``),
  with ``--device cuda`` only, beside the engine on the same GPU;
* ``qml-{sv,aer}-{paramshift,lincomb}``: qiskit-machine-learning ``EstimatorQNN`` in a
  ``TorchConnector`` on qiskit's ``StatevectorEstimator`` or qiskit-aer's exact
  ``EstimatorV2``, with parameter-shift or linear-combination gradients. These are
  slow, so they run on a small batch (``--slow-batch``; 16 for n <= 8, else 4) and
  their times are extrapolated linearly to the requested batch (the table says so);
* ``pl-default-backprop``: PennyLane ``default.qubit`` with backprop in a
  ``qml.qnn.TorchLayer``, fed the whole batch (broadcasting);
* ``pl-lightning-adjoint``: PennyLane ``lightning.qubit`` with the adjoint method (both
  PennyLane frameworks for the ``qrkt`` circuits and ``ring-ry``, written by hand);
* ``tc-ng-jit``: TensorCircuit-ng on JAX (``Circuit.from_qiskit`` of the same circuit),
  complex64: ``jax.jit`` of ``jax.value_and_grad`` of ``vmap``-over-the-batch, the way
  its users write it (the forward column: ``jax.jit`` of the vmapped forward). Inputs go
  in and results come out as torch tensors, inside the timed call;
* ``tc-ng-state``: the same, reading Z-string observables from the final state
  (``|ψ|²`` times a ±1 table, one matmul) instead of one ``expectation_ps`` per term:
  TC-ng's fastest readout at every width measured (docs/benchmarks.md).

Statevector simulators (everything but the closed-form engine) run up to
``STATEVECTOR_MAX`` qubits; above it only the closed form can.

Correctness: every framework's outputs and its input and weight gradients are compared
with the float64 engine (its automatic strategy) on the same samples. Outputs by max |Δ|; gradients by max |Δ|
divided by max(1, max |reference gradient|) because the weight gradient is a sum over
the batch. Tolerance 1e-5 where the framework computes or returns float32 (the complex64
engine; TorchConnector; lightning.qubit, whose Python-float results PennyLane's torch
interface turns into float32 tensors), else 1e-10. The script exits with status 1 if
any framework disagrees or fails. Progress goes to stderr, the report to stdout.

Run from the repository root:

    .venv/bin/python benchmarks/engine.py                 # n = 6, 12, 64, 384; batch 64, 1024
    .venv/bin/python benchmarks/engine.py --quick         # smoke run, under a minute
    .venv/bin/python benchmarks/engine.py --qubits 8 --batches 256 --skip qml --json out.json
    .venv/bin/python benchmarks/engine.py --circuit ring-ry --qubits 6 12 --skip qml   # the statevector path
    python benchmarks/engine.py --device cuda --batches 64 1024 65536   # the engine on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from circuits import CIRCUITS
from qiskit.circuit import ParameterVector

import qrkt_qiskit
from qrkt_qiskit import Ansatz, compile_ansatz

WARMUP_SAMPLES = 2
MIN_RUNS = 3
TOL_FLOAT32 = 1e-5
TOL_FLOAT64 = 1e-10


# ---------------------------------------------------------------------------- frameworks
@dataclass
class Model:
    """A quantum layer ready to time: ``run(x)`` maps ``(batch, n)`` to ``(batch, n_obs)``."""

    run: Callable[[torch.Tensor], torch.Tensor]
    weight: torch.Tensor  # the leaf tensor holding the trainable weights
    x_dtype: torch.dtype  # the dtype the inputs are fed in
    device: str = "cpu"  # where the inputs are fed
    # frameworks outside torch's autograd: x -> (out, d out.sum()/dx, d out.sum()/dw), timed instead of run + backward
    grad_step: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None


def build_engine(ansatz: Ansatz, w: torch.Tensor, dtype: torch.dtype, device: str = "cpu",
                 method: str = "auto") -> Model:
    prog = compile_ansatz(ansatz, dtype=dtype, device=device, method=method)
    weight = w.to(device, dtype).clone().requires_grad_(True)
    return Model(lambda x: prog(x, weight), weight, dtype, device)


def build_qiskit_ml(ansatz: Ansatz, w: torch.Tensor, simulator: str, gradient: str) -> Model:
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.gradients import LinCombEstimatorGradient, ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    if simulator in ("aer", "aer-gpu"):
        from qiskit_aer.primitives import EstimatorV2 as AerEstimator

        device = "GPU" if simulator == "aer-gpu" else "CPU"  # qiskit-aer-gpu's build has the GPU device
        estimator = AerEstimator(options={"backend_options": {"device": device}})  # exact when the precision is 0
    else:
        from qiskit.primitives import StatevectorEstimator

        estimator = StatevectorEstimator()
    grad_cls = {"paramshift": ParamShiftEstimatorGradient, "lincomb": LinCombEstimatorGradient}[gradient]
    qnn = EstimatorQNN(circuit=ansatz.circuit, observables=list(ansatz.observables),
                       input_params=list(ansatz.inputs), weight_params=list(ansatz.weights),
                       estimator=estimator, gradient=grad_cls(estimator), input_gradients=True,
                       default_precision=0.0)  # the default 0.015625 adds shot noise to the forward
    module = TorchConnector(qnn, initial_weights=w.numpy())  # stores the weights as float32
    return Model(module, module.weight, torch.float64)


def pennylane_qrkt(qml, n: int, layers: int) -> Callable:
    """The ``qrkt`` circuit in PennyLane; wire j is Qiskit's qubit j."""

    def circuit(inputs, weights):
        for j in range(n):
            qml.RY(inputs[..., j], wires=j)
        for layer in range(layers):
            for j in range(n):
                qml.RX(weights[layer * n + j], wires=j)
                qml.RZ(weights[layer * n + j], wires=j)
            for j in range(n):
                qml.Hadamard(wires=j)
                if n > 2 or (n == 2 and j == 0):
                    qml.CNOT(wires=[j, (j + 1) % n])
        return [qml.expval(qml.PauliZ(j)) for j in range(n)]

    return circuit


def pennylane_ring_ry(qml, n: int) -> Callable:
    """``ring-ry`` (`circuits.ring_ry`) in PennyLane; wire j is Qiskit's qubit j."""

    def circuit(inputs, weights):
        for j in range(n):
            qml.RX(inputs[..., j], wires=j)
            qml.Hadamard(wires=j)
            qml.RZ(weights[j], wires=j)
        for j in range(n):
            if n > 2 or (n == 2 and j == 0):
                qml.CNOT(wires=[j, (j + 1) % n])
        for j in range(n):
            qml.RY(weights[n + j], wires=j)
        return [qml.expval(qml.PauliZ(j)) for j in range(n)]

    return circuit


def build_pennylane(ansatz: Ansatz, w: torch.Tensor, device: str, diff_method: str) -> Model:
    import pennylane as qml

    n = ansatz.n_qubits
    circuit = (pennylane_ring_ry(qml, n) if ansatz.circuit.name == "ring-ry"
               else pennylane_qrkt(qml, n, ansatz.n_weights // n))
    qnode = qml.QNode(circuit, qml.device(device, wires=n), interface="torch", diff_method=diff_method)
    layer = qml.qnn.TorchLayer(qnode, {"weights": ansatz.n_weights}, init_method={"weights": w.clone()})
    return Model(layer, layer.qnode_weights["weights"], torch.float64)


def build_tensorcircuit(ansatz: Ansatz, w: torch.Tensor, readout: Callable | None = None) -> Model:
    """TensorCircuit-ng on JAX in complex64: ``jax.jit`` of ``value_and_grad`` of the vmapped circuit.

    ``readout(circuit)`` gives the observables (default: ``expectation_ps`` per Pauli term).
    """
    import jax
    import jax.numpy as jnp
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype("complex64")
    n = ansatz.n_qubits
    theta = ParameterVector("θ", ansatz.n_inputs + ansatz.n_weights)  # from_qiskit binds one vector, by index
    circuit = ansatz.circuit.assign_parameters(dict(zip(ansatz.inputs + ansatz.weights, theta)))
    terms = [[(coeff.real, {k: [q for q in range(n) if label[n - 1 - q] == k.upper()] for k in "xyz"})
              for label, coeff in obs.to_list()] for obs in ansatz.observables]

    def sample(x, weights):
        c = tc.Circuit.from_qiskit(circuit, n, binding_params=jnp.concatenate([x, weights]))
        if readout is not None:
            return readout(c)
        return jnp.stack([sum(coeff * jnp.real(c.expectation_ps(**paulis)) for coeff, paulis in obs)
                          for obs in terms])

    batched = jax.vmap(sample, in_axes=(0, None))

    def loss(x, weights):
        out = batched(x, weights)
        return out.sum(), out

    forward = jax.jit(batched)
    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
    weights = jnp.asarray(w.numpy(), jnp.float32)

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(forward(jnp.asarray(x.detach().numpy()), weights)))

    def grad_step(x: torch.Tensor):
        (_, out), (gx, gw) = value_and_grad(jnp.asarray(x.detach().numpy()), weights)
        return tuple(torch.from_numpy(np.asarray(t)) for t in (out, gx, gw))

    return Model(run, torch.from_numpy(np.asarray(weights)), torch.float32, grad_step=grad_step)


def build_tensorcircuit_state(ansatz: Ansatz, w: torch.Tensor) -> Model:
    """TensorCircuit-ng as its users read Z-strings: ``|ψ|²`` of the final state times a ±1 table, one matmul."""
    import jax.numpy as jnp

    n = ansatz.n_qubits
    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1  # TC's qubit 0 is the highest bit
    table = np.zeros((2**n, len(ansatz.observables)), np.float32)
    for o, obs in enumerate(ansatz.observables):
        for label, coeff in obs.to_list():
            if set(label) - {"I", "Z"}:
                raise ValueError(f"tc-ng-state reads Z-strings only, got {label}")
            z = [q for q in range(n) if label[n - 1 - q] == "Z"]
            table[:, o] += coeff.real * (1 - 2 * (bits[:, z].sum(1) % 2))
    table = jnp.asarray(table)
    return build_tensorcircuit(ansatz, w, readout=lambda c: jnp.abs(c.state()) ** 2 @ table)


@dataclass(frozen=True)
class Framework:
    name: str
    build: Callable[[Ansatz, torch.Tensor], Model]
    requires: str  # the module it needs
    slow: bool = False  # timed on a small batch and extrapolated
    max_qubits: int = 1_000_000  # statevector simulators stop where 2^n amplitudes stop fitting
    float32: str = ""  # why its results are only float32-accurate, if they are
    circuits: tuple[str, ...] | None = None  # the circuits it can build (None: any)
    gpu: bool = False  # runs on a CUDA GPU only (with --device cuda), beside the engine


TORCH_CONNECTOR_F32 = "TorchConnector returns float32 tensors and keeps its weights in float32"
LIGHTNING_F32 = ("lightning.qubit returns Python floats, which PennyLane's torch interface turns into "
                 "float32 tensors (torch's default dtype) before TorchLayer casts them back")
TC_F32 = "TensorCircuit-ng runs in complex64 with float32 inputs and weights"
PENNYLANE_CIRCUITS = ("qrkt", "qrkt-2", "ring-ry")  # the PennyLane builders write these circuits by hand


STATEVECTOR_MAX = 16
FRAMEWORKS = (
    Framework("engine-c64", functools.partial(build_engine, dtype=torch.float32), "qrkt_qiskit",
              float32="float32 engine"),
    Framework("engine-c128", functools.partial(build_engine, dtype=torch.float64), "qrkt_qiskit"),
    Framework("engine-sweep-c64", functools.partial(build_engine, dtype=torch.float32, method="sweep"),
              "qrkt_qiskit", float32="float32 engine", max_qubits=STATEVECTOR_MAX),
    Framework("engine-sv-c64", functools.partial(build_engine, dtype=torch.float32, method="statevector"),
              "qrkt_qiskit", float32="float32 engine", max_qubits=STATEVECTOR_MAX),
    Framework("engine-sv-c128", functools.partial(build_engine, dtype=torch.float64, method="statevector"),
              "qrkt_qiskit", max_qubits=STATEVECTOR_MAX),
    *(Framework(f"qml-{sim}-{grad}", functools.partial(build_qiskit_ml, simulator=sim, gradient=grad),
                "qiskit_aer" if sim == "aer" else "qiskit_machine_learning", slow=True,
                float32=TORCH_CONNECTOR_F32, max_qubits=STATEVECTOR_MAX)
      for sim in ("sv", "aer") for grad in ("paramshift", "lincomb")),
    Framework("qml-aer-gpu-paramshift", functools.partial(build_qiskit_ml, simulator="aer-gpu", gradient="paramshift"),
              "qiskit_aer", slow=True, float32=TORCH_CONNECTOR_F32, max_qubits=STATEVECTOR_MAX, gpu=True),
    Framework("pl-default-backprop", functools.partial(build_pennylane, device="default.qubit",
                                                       diff_method="backprop"), "pennylane",
              max_qubits=STATEVECTOR_MAX, circuits=PENNYLANE_CIRCUITS),
    Framework("pl-lightning-adjoint", functools.partial(build_pennylane, device="lightning.qubit",
                                                        diff_method="adjoint"), "pennylane_lightning",
              float32=LIGHTNING_F32, max_qubits=STATEVECTOR_MAX, circuits=PENNYLANE_CIRCUITS),
    Framework("tc-ng-jit", build_tensorcircuit, "tensorcircuit", float32=TC_F32, max_qubits=STATEVECTOR_MAX),
    Framework("tc-ng-state", build_tensorcircuit_state, "tensorcircuit", float32=TC_F32, max_qubits=STATEVECTOR_MAX),
)


# ---------------------------------------------------------------------------- timing
def seconds(fn: Callable[[], object]) -> float:
    """Wall time of ``fn()``, waiting for queued CUDA work before and after."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(fn: Callable[[], object], min_runs: int, max_runs: int, budget_s: float) -> tuple[float, int]:
    """Median wall time of ``fn()`` over ``min_runs`` to ``max_runs`` calls, and the number of calls.

    Calls beyond ``min_runs`` are made while the calls so far took less than ``budget_s``.
    """
    times: list[float] = []
    while len(times) < max_runs and (len(times) < min_runs or sum(times) < budget_s):
        times.append(seconds(fn))
    return statistics.median(times), len(times)


@dataclass
class Result:
    framework: str
    n_qubits: int
    batch: int
    measured_batch: int
    fwd_samples_per_s: float | None = None
    fwd_bwd_samples_per_s: float | None = None
    fwd_runs: int = 0
    fwd_bwd_runs: int = 0
    out_err: float | None = None
    grad_err: float | None = None
    tolerance: float | None = None
    ok: bool = False
    error: str = ""


class Reference:
    """The float64 engine's outputs and gradients of ``out.sum()`` on ``x[:m]``, cached by ``m``."""

    def __init__(self, ansatz: Ansatz, x: torch.Tensor, w: torch.Tensor):
        self.prog, self.x, self.w = compile_ansatz(ansatz, dtype=torch.float64), x, w
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, m: int):
        if m not in self._cache:
            x = self.x[:m].clone().requires_grad_(True)
            w = self.w.clone().requires_grad_(True)
            out = self.prog(x, w)
            out.sum().backward()
            self._cache[m] = (out.detach(), x.grad, w.grad)
        return self._cache[m]


def benchmark(fw: Framework, model: Model, n: int, batch: int, measured: int, x: torch.Tensor,
              reference: Reference, repeats: int, budget_s: float) -> Result:
    """Time ``model`` on ``x[:measured]`` and check it against the reference."""
    xb = x[:measured].to(model.device, model.x_dtype)
    xw = x[:WARMUP_SAMPLES].to(model.device, model.x_dtype)
    last: dict[str, torch.Tensor] = {}

    def forward(inputs=xb):
        with torch.no_grad():
            last["fwd"] = model.run(inputs)

    def forward_backward(inputs=xb):
        if model.grad_step is not None:
            out, gx, gw = model.grad_step(inputs)
            last.update(out=out, gx=gx, gw=gw)
            return
        model.weight.grad = None
        xg = inputs.detach().clone().requires_grad_(True)
        out = model.run(xg)
        out.sum().backward()
        last.update(out=out.detach(), gx=xg.grad, gw=model.weight.grad)

    runs = (1, 1) if fw.slow else (min(MIN_RUNS, repeats), repeats)
    timings = []
    for step in (forward, forward_backward):
        step(xw)  # warm-up
        if not fw.slow:
            step()  # warm-up on the full batch
        timings.append(measure(step, *runs, budget_s))
    (t_fwd, k_fwd), (t_bwd, k_bwd) = timings

    ref_out, ref_gx, ref_gw = reference(measured)
    out_err = max(_max_abs(last["fwd"], ref_out), _max_abs(last["out"], ref_out))
    scale = max(1.0, ref_gx.abs().max().item(), ref_gw.abs().max().item())
    grad_err = max(_max_abs(last["gx"], ref_gx), _max_abs(last["gw"], ref_gw)) / scale
    dtypes = (model.x_dtype, model.weight.dtype, last["fwd"].dtype, last["out"].dtype)
    tol = TOL_FLOAT32 if fw.float32 or torch.float32 in dtypes else TOL_FLOAT64
    return Result(fw.name, n, batch, measured, measured / t_fwd, measured / t_bwd, k_fwd, k_bwd, out_err,
                  grad_err, tol, ok=out_err <= tol and grad_err <= tol)


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if a is None or a.shape != b.shape:
        return float("inf")
    return (a.double().cpu() - b).abs().max().item()


# ---------------------------------------------------------------------------- report
def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "numpy", "qiskit", "qiskit-aer", "qiskit-machine-learning", "pennylane",
                "pennylane_lightning", "tensorcircuit-ng", "jax"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "cpu": cpu,
        "os_cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    fastest = {(r.n_qubits, r.batch): r.fwd_bwd_samples_per_s for r in results
               if r.framework == "engine-c64" and r.fwd_bwd_samples_per_s}
    lines = ["| framework | n | batch | fwd samples/s | fwd+bwd samples/s | engine-c64 speed-up (fwd+bwd) "
             "| max |Δ out| | max |Δ grad| (rel) | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if r.error:
            dashes = " | ".join("—" * 6)
            lines.append(f"| {r.framework} | {r.n_qubits} | {r.batch} | {dashes} | FAILED: {r.error} |")
            continue
        base = fastest.get((r.n_qubits, r.batch))
        speedup = base / r.fwd_bwd_samples_per_s if base else None
        notes = []
        if r.measured_batch < r.batch:
            notes.append(f"EXTRAPOLATED ×{r.batch / r.measured_batch:g} from batch {r.measured_batch}")
        notes.append(f"median of {r.fwd_runs}/{r.fwd_bwd_runs} runs")
        if r.tolerance == TOL_FLOAT32:
            notes.append("float32 results¹")
        if not r.ok:
            notes.append(f"MISMATCH (tol {r.tolerance:g})")
        lines.append(f"| {r.framework} | {r.n_qubits} | {r.batch} | {_fmt(r.fwd_samples_per_s, ',.0f')} "
                     f"| {_fmt(r.fwd_bwd_samples_per_s, ',.1f')} | {_fmt(speedup, ',.1f')}{'×' if speedup else ''} "
                     f"| {_fmt(r.out_err, '.1e')} | {_fmt(r.grad_err, '.1e')} | {'; '.join(notes)} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--circuit", default="qrkt", choices=sorted(CIRCUITS),
                   help="the circuit (default qrkt, one layer: the closed form; qrkt-2 and ring-ry take the "
                   "statevector path)")
    p.add_argument("--qubits", type=int, nargs="+",
                   help="circuit widths (default 6 12 64 384 for qrkt, else 6 12; --quick: 6)")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes (default 64 1024; --quick: 64)")
    p.add_argument("--quick", action="store_true", help="smoke run: n=6, batch 64, few repeats (< 1 min)")
    p.add_argument("--skip", nargs="+", default=[], metavar="NAME",
                   help=f"frameworks to skip, by name or prefix: {', '.join(f.name for f in FRAMEWORKS)}")
    p.add_argument("--slow-batch", type=int, help="batch the slow frameworks are timed on "
                   "(default 16 for n <= 8, 4 above; --quick: 8)")
    p.add_argument("--repeats", type=int, help="timed calls per measurement at most (default 1000; --quick: 3)")
    p.add_argument("--budget", type=float, help="seconds per measurement (default 2; --quick: 0.5)")
    p.add_argument("--threads", type=int, help="torch's thread count (default: torch's own choice; 1 on a "
                   "machine shared with other work, where OpenMP threads wait on each other)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--device", default="cpu",
                   help="where the engine runs, e.g. cuda (the other frameworks are CPU-only and are skipped)")
    args = p.parse_args(argv)
    unknown = [s for s in args.skip if not any(f.name.startswith(s) for f in FRAMEWORKS)]
    if unknown:
        p.error(f"--skip: no framework is named or starts with {', '.join(unknown)}")
    args.qubits = args.qubits or ([6] if args.quick else [6, 12, 64, 384] if args.circuit == "qrkt" else [6, 12])
    args.batches = args.batches or ([64] if args.quick else [64, 1024])
    args.repeats = args.repeats or (3 if args.quick else 1000)
    args.budget = args.budget or (0.5 if args.quick else 2.0)
    if args.quick and args.slow_batch is None:
        args.slow_batch = 8
    return args


def slow_batch(args, n: int, batch: int) -> int:
    return min(batch, args.slow_batch or (16 if n <= 8 else 4))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    start = time.perf_counter()
    print(f"# {args.circuit} layer throughput\n\ncommand: `{info['command']}`  ")
    if args.device != "cpu":
        print(f"device: {args.device} ({torch.cuda.get_device_name(args.device)}); only the engine runs there  ")
    print(f"machine: {info['cpu']}, os.cpu_count() = {info['os_cpu_count']}, "
          f"torch threads = {info['torch_threads']}, load average at start = "
          f"{', '.join(f'{v:.2f}' for v in info['load_average'])}  ")
    print("versions: python " + info["python"] + ", "
          + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + "\n", flush=True)

    frameworks = []
    closed_form = args.circuit == "qrkt"  # the others take the statevector path by themselves
    for fw in FRAMEWORKS:
        if any(fw.name.startswith(s) for s in args.skip) or (fw.name.startswith("engine-sv") and not closed_form):
            continue
        if fw.circuits is not None and args.circuit not in fw.circuits:
            print(f"note: skipping {fw.name}: it has no version of circuit {args.circuit!r}")
            continue
        if fw.gpu != (args.device != "cpu") and not fw.name.startswith("engine"):
            continue  # on a GPU only the engine and the GPU frameworks run, and those only there
        if args.device != "cpu" and fw.name.startswith("engine"):
            fw = dataclasses.replace(fw, build=functools.partial(fw.build, device=args.device))
        if importlib.util.find_spec(fw.requires) is None:
            print(f"note: skipping {fw.name}: {fw.requires} is not installed")
            continue
        frameworks.append(fw)

    results: list[Result] = []
    for n in args.qubits:
        ansatz = CIRCUITS[args.circuit](qrkt_qiskit, n)
        gen = torch.Generator().manual_seed(args.seed + n)
        x = torch.rand(max(args.batches), n, generator=gen, dtype=torch.float64) * torch.pi
        w = torch.rand(ansatz.n_weights, generator=gen, dtype=torch.float64) * 2 * torch.pi
        reference = Reference(ansatz, x, w)
        for fw in frameworks:
            if n > fw.max_qubits:
                continue
            measured_cache: dict[int, Result] = {}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = fw.build(ansatz, w)
            except Exception as exc:  # a broken framework is reported, the others still run
                results += [Result(fw.name, n, b, b, error=f"{type(exc).__name__}: {exc}") for b in args.batches]
                continue
            for batch in args.batches:
                measured = slow_batch(args, n, batch) if fw.slow else batch
                t0 = time.perf_counter()
                try:
                    if measured not in measured_cache:
                        measured_cache[measured] = benchmark(fw, model, n, batch, measured, x, reference,
                                                             args.repeats, args.budget)
                    result = Result(**{**asdict(measured_cache[measured]), "batch": batch})
                except Exception as exc:
                    result = Result(fw.name, n, batch, measured, error=f"{type(exc).__name__}: {exc}")
                results.append(result)
                print(f"  {fw.name:22s} n={n:<3d} batch={batch:<5d} ({time.perf_counter() - t0:5.1f} s)",
                      file=sys.stderr, flush=True)

    elapsed = time.perf_counter() - start
    print(table(results))
    reasons: dict[str, list[str]] = {}
    for fw in frameworks:
        if fw.float32:
            reasons.setdefault(fw.float32, []).append(fw.name)
    if reasons:
        print(f"\n¹ compared with tolerance {TOL_FLOAT32:g} (else {TOL_FLOAT64:g}): "
              + "; ".join(f"{', '.join(names)}: {why}" for why, names in reasons.items()) + ".")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print("\nfwd = forward under no_grad; fwd+bwd = forward, out.sum(), backward to inputs and weights. "
          "Speed-up = engine-c64 fwd+bwd samples/s over the row's. |Δ out| is the max abs difference from "
          "the float64 engine; |Δ grad| that of the input and weight gradients over max(1, max |reference "
          "gradient|). EXTRAPOLATED rows were timed on the batch named and scaled linearly.\n"
          f"Total {elapsed:.0f} s; load average at the end {load} (other processes on the machine slow every "
          "framework, OpenMP-threaded ones like lightning.qubit the most).")
    failed = [r for r in results if not r.ok]
    if args.json:
        with open(args.json, "w") as f:
            meta = {**info, "seconds": elapsed, "load_average_at_end": os.getloadavg()}
            json.dump({"meta": meta, "results": [asdict(r) for r in results]}, f, indent=2)
    if failed:
        print("\nFAILED: " + ", ".join(f"{r.framework} (n={r.n_qubits}, batch={r.batch})" for r in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
