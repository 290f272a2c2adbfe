"""Inference throughput of one trained QuantumLayer model on each CPU backend, and the batching gain.

The model: ``Linear(64, 4) -> QuantumLayer(4, ansatz="qrkt") -> Linear(4, 10)``, trained for
``--epochs`` epochs on scikit-learn's digits with the native engine (seconds), then
evaluated with the same weights on every backend profile given (``--backends``; default:
every CPU profile, ``fake-manila`` sampled and exact, and ``ibm`` in Runtime's local testing
mode on ``fake-manila``). One QuantumLayer call per sample, so circuits/s = samples/s × 1;
on sampling backends each circuit is measured with the profile's shots.

Throughput: one warm-up forward on 2 samples (it opens the backend, transpiles, builds the
QNN), then the median of ``--repeats`` forward passes over ``--samples`` test images under
``torch.no_grad()``, wall time by ``time.perf_counter``. Accuracy and mean |Δ logits| against
the native engine are reported beside it.

Batching gain (``--gain-samples`` images, sampling backends): the same forward pass
  * one job per sample: ``model(x[i:i+1])`` in a loop;
  * EstimatorQNN's own PUBs: EstimatorQNN + TorchConnector straight on the profile's
    primitive (one PUB per observable, each with every sample's values, one job);
  * merged, batched PUBs: the layer as shipped (one PUB whose observables broadcast against
    the parameter array, one job) — the registry's `BatchingEstimator`.

Run from the repository root:

    .venv/bin/python benchmarks/backends.py
    .venv/bin/python benchmarks/backends.py --quick
    .venv/bin/python benchmarks/backends.py --backends aer fake-brisbane --samples 256 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.layers import QuantumLayer, to_backend

DEFAULT = [("native", {}), ("estimator", {}), ("aer", {}), ("aer-shots", {}), ("fake-manila", {}),
           ("fake-manila", {"shots": None}), ("ibm", {"device": "fake-manila"})]
SAMPLING = [("aer-shots", {}), ("fake-manila", {}), ("ibm", {"device": "fake-manila"})]


def trained_model(epochs: int, seed: int = 0):
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = order[:1400], order[1400:]
    model = nn.Sequential(nn.Linear(64, 4), QuantumLayer(4, ansatz="qrkt", layers=1), nn.Linear(4, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    for _ in range(epochs):
        for batch in train.split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    return model, x[test], y[test]


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def label(name: str, overrides: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in overrides.items())


def throughput(model, x, y, reference, name, overrides, repeats) -> dict:
    profile = backends.get_profile(name, **overrides) if name != "native" else None
    to_backend(model, profile or "native")
    with torch.no_grad():
        model(x[:2])
        out = model(x)
        seconds = timed(lambda: model(x), repeats)
    return {"backend": label(name, overrides), "shots": None if profile is None else profile.shots,
            "samples": len(x), "seconds": seconds, "samples_per_s": len(x) / seconds,
            "circuits_per_s": len(x) / seconds,  # one QuantumLayer call per sample
            "accuracy": (out.argmax(-1) == y).float().mean().item(),
            "max_abs_dlogits": (out - reference).abs().max().item()}


def qnn_on_raw_primitive(layer: QuantumLayer, profile):
    """EstimatorQNN as qiskit-machine-learning runs it: one PUB per observable, on the primitive itself."""
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    prepared = backends.prepare(profile, layer.ansatz)
    precision = backends.execution.shots_precision(profile.shots) if profile.shots else 0.0
    qnn = EstimatorQNN(circuit=prepared.circuit, observables=list(prepared.observables),
                       input_params=list(layer.ansatz.inputs + layer.ansatz.weights), weight_params=[],
                       estimator=prepared.primitive, input_gradients=True, default_precision=precision)
    connector = TorchConnector(qnn, initial_weights=np.zeros(0))

    def forward(h):
        values = torch.cat([h, layer.weight.detach().expand(len(h), -1)], dim=1)
        return connector(values)
    return forward


def gain(model, x, name, overrides) -> dict:
    profile = backends.get_profile(name, **overrides)
    first, layer, last = model
    to_backend(model, profile)
    with torch.no_grad():
        h = first(x)
        model(x[:2])
        per_sample = timed(lambda: [model(x[i:i + 1]) for i in range(len(x))], 1)
        raw = qnn_on_raw_primitive(layer, profile)
        raw(h[:2])
        qnn_pubs = timed(lambda: last(raw(h)), 1)
        merged = timed(lambda: model(x), 1)
    return {"backend": label(name, overrides), "shots": profile.shots, "samples": len(x),
            "one_job_per_sample_s": per_sample, "qnn_pubs_one_job_s": qnn_pubs, "merged_one_job_s": merged,
            "jobs": {"per_sample": len(x), "qnn_pubs": 1, "merged": 1},
            "pubs_per_job": {"per_sample": 1, "qnn_pubs": layer.n_outputs, "merged": 1}}


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {p: importlib.metadata.version(p) for p in ("torch", "qiskit", "qiskit-aer", "qiskit-ibm-runtime",
                                                           "qiskit-machine-learning")}
    return {"command": shlex.join([sys.executable, *sys.argv]), "cpu": cpu, "os_cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg(),
            "python": platform.python_version(), "versions": versions}


def parse_backend(text: str) -> tuple[str, dict]:
    """``fake-manila`` or ``fake-manila:shots=None,noise_scale=0.5``."""
    name, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = None if value == "None" else json.loads(value) if value[:1].isdigit() else value
    return name, overrides


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", type=parse_backend, help="profiles, NAME[:key=value,...]")
    parser.add_argument("--samples", type=int, default=256, help="test images per timed forward (default 256)")
    parser.add_argument("--gain-samples", type=int, default=32, help="images for the batching gain (default 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="64 samples, 8 for the gain, 1 repeat, 3 epochs")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.gain_samples, args.repeats, args.epochs = 64, 8, 1, 3
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    info = machine_info()
    start = time.perf_counter()
    model, x, y = trained_model(args.epochs)
    x, y = x[:args.samples], y[:args.samples]
    with torch.no_grad():
        reference = model(x)
    rows = []
    for name, overrides in args.backends or DEFAULT:
        print(f"throughput: {label(name, overrides)}", file=sys.stderr)
        rows.append(throughput(model, x, y, reference, name, overrides, args.repeats))
    gains = []
    for name, overrides in SAMPLING if args.backends is None else [b for b in args.backends if b[0] != "native"]:
        print(f"batching gain: {label(name, overrides)}", file=sys.stderr)
        gains.append(gain(model, x[:args.gain_samples], name, overrides))
    backends.close_sessions()
    elapsed = time.perf_counter() - start

    print(f"command: `{info['command']}`  ")
    print(f"machine: {info['cpu']}, os.cpu_count() = {info['os_cpu_count']}, torch threads = "
          f"{info['torch_threads']}, load average at start = {', '.join(f'{v:.2f}' for v in info['load_average'])}  ")
    print("versions: python " + info["python"] + ", " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"model trained {args.epochs} epochs natively; {len(x)} test images; median of {args.repeats}; "
          f"total {elapsed:.0f} s\n")
    print("| backend | shots | samples/s | circuits/s | accuracy | max |Δ logits| vs native |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['shots'] or 'exact'} | {r['samples_per_s']:,.1f} | {r['circuits_per_s']:,.1f} "
              f"| {r['accuracy']:.3f} | {r['max_abs_dlogits']:.1e} |")
    print(f"\n| backend (batching, {args.gain_samples} samples) | shots | one job per sample | EstimatorQNN's PUBs "
          "(1 job, 1 PUB per observable) | merged PUB (1 job) | gain vs per-sample | gain vs QNN PUBs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for g in gains:
        print(f"| {g['backend']} | {g['shots']} | {g['one_job_per_sample_s']:.2f} s | {g['qnn_pubs_one_job_s']:.2f} s "
              f"| {g['merged_one_job_s']:.2f} s | {g['one_job_per_sample_s'] / g['merged_one_job_s']:.1f}× "
              f"| {g['qnn_pubs_one_job_s'] / g['merged_one_job_s']:.1f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "throughput": rows, "gain": gains}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
