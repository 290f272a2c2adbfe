"""ATen calls and where the time goes in one forward+backward of the statevector path (``torch.profiler``).

    python benchmarks/statevector_profile.py [--circuit ring-ry] [--qubits 6] [--batch 64] [--threads 1]

Counts every ATen operator called in one step (forward, ``out.sum()``, backward to inputs
and weights; the input checks included), then the operators by self CPU time over
``--steps`` steps.
"""

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

import qrkt_qiskit
from circuits import CIRCUITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--circuit", default="ring-ry", choices=sorted(CIRCUITS))
    parser.add_argument("--qubits", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ansatz = CIRCUITS[args.circuit](qrkt_qiskit, args.qubits)
    program = qrkt_qiskit.compile_ansatz(ansatz, method="statevector")
    x = torch.rand(args.batch, ansatz.n_inputs)
    w = torch.rand(ansatz.n_weights, requires_grad=True)

    def step():
        xg = x.clone().requires_grad_(True)
        program(xg, w).sum().backward()

    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as one:
        step()
    ops = collections.Counter(e.name for e in one.events() if e.name.startswith("aten::") and e.cpu_parent is None
                              or (e.name.startswith("aten::") and not e.cpu_parent.name.startswith("aten::")))
    print(f"{program}\n\nATen calls in one forward+backward (top-level, not counting ATen ops inside ATen ops): "
          f"{sum(ops.values())}")
    print(", ".join(f"{name.removeprefix('aten::')} {k}" for name, k in ops.most_common()))
    with profile(activities=[ProfilerActivity.CPU]) as many:
        for _ in range(args.steps):
            step()
    print(many.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
