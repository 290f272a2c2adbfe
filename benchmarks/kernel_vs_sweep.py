"""The numba kernel ÷ the torch sweep, interleaved: the measurements behind `engine.dispatch`'s rule.

The same circuit is compiled with ``method="kernel"`` and ``method="sweep"`` (float32) and
the two are timed alternately, call for call, so that a loaded machine slows both alike;
each cell is the median of the per-round ratios sweep time ÷ kernel time (above 1 the
kernel is faster). ``fwd`` is a forward under ``no_grad``, ``fwd+bwd`` a forward and the
gradients of ``out.sum()`` to inputs and weights. The last column is what ``method="auto"``
runs for that call (`CompiledCircuit.simulator`).

    python benchmarks/kernel_vs_sweep.py --threads 1 --qubits 6 8 10 12 --batches 16 64 1024
"""

import argparse
import os
import statistics
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--circuits", nargs="+", default=["ring-ry", "qrkt-2", "reupload"])
    p.add_argument("--qubits", type=int, nargs="+", default=[6, 8, 10, 12])
    p.add_argument("--batches", type=int, nargs="+", default=[16, 64, 1024])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per cell at most, after its first round")
    args = p.parse_args()
    import torch
    from circuits import CIRCUITS
    from engine import machine_info

    import qrkt_qiskit

    torch.set_num_threads(args.threads)
    info = machine_info()
    print(f"command: `{info['command']}`  \nmachine: {info['cpu']}, {info['os_cpu_count']} cores, load average at "
          f"start {', '.join(f'{v:.2f}' for v in info['load_average'])}\n")
    print("| circuit | n | batch | kernel fwd/s | sweep ÷ kernel fwd | kernel fwd+bwd/s | sweep ÷ kernel fwd+bwd "
          "| auto runs |\n|---|---:|---:|---:|---:|---:|---:|---|")
    for name in args.circuits:
        for n in args.qubits:
            ansatz = CIRCUITS[name](qrkt_qiskit, n)
            gen = torch.Generator().manual_seed(n)
            w = (torch.rand(ansatz.n_weights, generator=gen) * 2 * torch.pi).requires_grad_()
            progs = {m: qrkt_qiskit.compile_ansatz(ansatz, torch.float32, method=m) for m in ("kernel", "sweep", "auto")}
            for batch in args.batches:
                x = torch.rand(batch, ansatz.n_inputs, generator=gen) * torch.pi
                steps = {(m, kind): _step(progs[m], x, w, kind) for m in ("kernel", "sweep") for kind in ("fwd", "fwd+bwd")}
                times = {key: [] for key in steps}
                for fn in steps.values():  # warm-up: numba compiles (or loads its cache) on the first call
                    fn()
                start = time.perf_counter()
                for r in range(args.rounds):
                    if r and time.perf_counter() - start > args.budget:
                        break
                    for key, fn in steps.items():
                        times[key].append(_seconds(fn))
                ratio = {kind: statistics.median(s / k for s, k in zip(times["sweep", kind], times["kernel", kind]))
                         for kind in ("fwd", "fwd+bwd")}
                print(f"| {name} | {n} | {batch} | {batch / statistics.median(times['kernel', 'fwd']):,.0f} "
                      f"| {ratio['fwd']:.2f}× | {batch / statistics.median(times['kernel', 'fwd+bwd']):,.0f} "
                      f"| {ratio['fwd+bwd']:.2f}× | {progs['auto'].simulator()} |", flush=True)
    print(f"\nload average at the end {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def _step(prog, x, w, kind):
    import torch

    if kind == "fwd":
        def forward():
            with torch.no_grad():
                prog(x, w)
        return forward

    def forward_backward():
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(prog(xg, w).sum(), (xg, w))
    return forward_backward


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
