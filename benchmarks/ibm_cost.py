"""What evaluating a test set and one training step would cost on an IBM device, before and after issue 33.

For each model (the digits demo model: 15 quantum layers, 60 calls per image; the MNIST
quantum model of docs/results.md, the same 3-block shape on 28×28 images; the author's MNIST
classifier, ``--arch thesis``), device (fake-brisbane, an Eagle; fake-fez, a Heron) and
resilience level (0, 1, 2), the script plans one image's forward pass as `qrkt evaluate`
sends it (`levels.plan`) and prices it with the QPU-time model (`backends.qpu_time`):

- after: one job per dependency level, PUBs of one circuit structure merged, jobs split at
  IBM's per-job limits; a training step's gradient is one PUB per layer call, its
  observables broadcast as (k, 1) against the shifted parameter sets;
- before: one job per layer call, and a gradient of k PUBs (one per observable) per call,
  the job structure of the code before this change, priced by the same model.

Executions are counted by Runtime's own client-side preparation at each level; QPU seconds
are an estimate (docs/ibm.md lists its assumptions). Nothing is submitted. Weights do not
change any figure, so the models are untrained.

    .venv/bin/python benchmarks/ibm_cost.py                   # both models, both devices, levels 0-2
    .venv/bin/python benchmarks/ibm_cost.py --models digits --devices fake-brisbane --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from qrkt_qiskit import levels
from qrkt_qiskit.backends import Cost
from qrkt_qiskit.circuits import parameterised_gate_arguments
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.output import markdown_table
from qrkt_qiskit.training import TrainConfig
from qrkt_qiskit.training.runs import build_model, example_input

MODELS = {"digits": (TrainConfig(quantum=True), 359),  # the demo model
          "mnist": (TrainConfig(dataset="mnist", quantum=True), 10_000),  # docs/results.md's MNIST quantum model
          "mnist-thesis": (TrainConfig(dataset="mnist", quantum=True, arch="thesis"), 10_000)}  # the author's classifier


def _zeros(pub, rows):
    circuit, observables, bound = pub
    return circuit, observables, np.zeros((rows, bound.num_parameters))


def _price(estimator, job) -> Cost:
    return estimator.cost(job)


def costs(plan: levels.Plan, samples: int, batch: int, train_batch: int) -> dict:
    """Test-set and training-step cost, after and before, for ``samples`` images in batches of ``batch``."""
    full, rest = divmod(samples, batch)
    out = {}
    for name, forward in (("after", _after_forward), ("before", _before_forward)):
        test = forward(plan, batch) * full + (forward(plan, rest) if rest else Cost())
        step = forward(plan, train_batch) + (_after_gradient if name == "after" else _before_gradient)(plan, train_batch)
        out[name] = {"test": test, "step": step}
    return out


def _after_forward(plan, scale):
    return plan.cost(scale)[0]


def _after_gradient(plan, scale):
    return sum((_price(e, job) for e, job in plan.gradient_jobs(scale)), Cost())


def _before_forward(plan, scale):  # one job per layer call, as many as the per-job limits allow each
    total = Cost()
    for level in plan.levels:
        for estimator, pubs in level.items():
            for pub in pubs:
                rows = int(np.prod(pub[2].shape)) * scale
                total += sum((_price(estimator, job) for job in estimator.jobs([_zeros(pub, rows)])), Cost())
    return total


def _before_gradient(plan, scale):  # one job per call holding one PUB per observable
    total = Cost()
    for level in plan.levels:
        for estimator, pubs in level.items():
            for circuit, observables, bound in pubs:
                rows = int(np.prod(bound.shape)) * scale * 2 * parameterised_gate_arguments(circuit)
                job = [(circuit, obs[0], np.zeros((rows, bound.num_parameters))) for obs in observables]
                total += _price(estimator, job)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--devices", nargs="+", default=["fake-brisbane", "fake-fez"])
    parser.add_argument("--levels", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=1024, help="qrkt evaluate's batch (default: 1024)")
    parser.add_argument("--train-batch-size", type=int, default=32, help="qrkt train's batch (default: 32)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    rows, records = [], []
    for name in args.models:
        config, samples = MODELS[name]
        torch.manual_seed(0)
        model = build_model(config).eval()
        x = example_input(model)
        for device in args.devices:
            for level in args.levels:
                start = time.perf_counter()
                to_backend(model, "ibm", device=device, shots=args.shots, resilience_level=level)
                plan = levels.plan(model, x)
                c = costs(plan, samples, args.batch_size, args.train_batch_size)
                hours = {k: {kk: vv.qpu_seconds / 3600 for kk, vv in v.items()} for k, v in c.items()}
                forward_jobs = (_before_forward(plan, 1).jobs, _after_forward(plan, 1).jobs)
                rows.append([name, device, level, f"{plan.calls} → {forward_jobs[1]}",
                             f"{c['before']['test'].jobs:,} → {c['after']['test'].jobs:,}",
                             f"{c['after']['test'].executions / 1e6:,.1f} M",
                             f"{hours['before']['test']:,.1f} → {hours['after']['test']:,.1f}",
                             f"{c['before']['step'].jobs:,} → {c['after']['step'].jobs:,}",
                             f"{c['before']['step'].parameter_sets / 1e6:,.2f} M → "
                             f"{c['after']['step'].parameter_sets / 1e6:,.2f} M",
                             f"{hours['before']['step']:,.1f} → {hours['after']['step']:,.1f}"])
                records.append({"model": name, "device": device, "resilience_level": level, "shots": args.shots,
                                "calls_per_forward": plan.calls, "jobs_per_forward": forward_jobs[1],
                                "test_images": samples, "batch_size": args.batch_size,
                                "train_batch_size": args.train_batch_size,
                                **{f"{when}_{what}": vars(cost) for when, v in c.items() for what, cost in v.items()},
                                "seconds_to_plan": round(time.perf_counter() - start, 1)})
                print(f"{name} {device} level {level}: planned in {time.perf_counter() - start:.1f} s", flush=True)
    head = ["model", "device", "level", "calls → jobs per image", "test-set jobs", "test-set executions",
            "test-set QPU-hours", "train-step jobs", "train-step parameter sets", "train-step QPU-hours"]
    print(markdown_table(head, rows, numeric=len(head) - 3))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
