"""Engine ÷ TensorCircuit-ng (state readout) throughput, measured interleaved, and the engine's 2-thread ÷ 1-thread.

A shared machine slows whichever framework runs while another process runs, so the two
are timed alternately, call for call, and each cell reports the median of the per-round
ratios (TC-ng time ÷ engine time: above 1 the engine is faster). The engine (float32,
`benchmarks/engine.py`'s ``engine-c64``) and ``tc-ng-state`` (jax jit+vmap, ``<Z_j>`` from
``|ψ|²``) see the same inputs; ``fwd`` is a forward under ``no_grad``, ``fwd+bwd`` a forward and
the gradients of ``out.sum()`` to inputs and weights. ``--threads T`` gives torch (hence the
kernel) and XLA ``T`` threads; the last column alternates the engine at 2 threads and at 1.

    python benchmarks/kernel_ratio.py --threads 1 --circuits ring-ry qrkt-2 reupload --qubits 6 10 12 14
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
    p.add_argument("--qubits", type=int, nargs="+", default=[6, 10, 12, 14])
    p.add_argument("--batches", type=int, nargs="+", default=[64, 1024])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per cell (more for fast cells)")
    args = p.parse_args()
    os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'} "
                               f"intra_op_parallelism_threads={args.threads}")  # before jax is imported
    import torch
    from circuits import CIRCUITS
    from engine import build_engine, build_tensorcircuit_state, machine_info

    import qrkt_qiskit

    torch.set_num_threads(args.threads)
    info = machine_info()
    print(f"command: `{info['command']}`  \nmachine: {info['cpu']}, {info['os_cpu_count']} cores, load average at "
          f"start {', '.join(f'{v:.2f}' for v in info['load_average'])}\n")
    print("| circuit | n | batch | engine fwd/s | ÷ TC-ng fwd | engine fwd+bwd/s | ÷ TC-ng fwd+bwd "
          "| 2 thr ÷ 1 thr fwd+bwd |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.circuits:
        for n in args.qubits:
            ansatz = CIRCUITS[name](qrkt_qiskit, n)
            gen = torch.Generator().manual_seed(n)
            w = torch.rand(ansatz.n_weights, generator=gen, dtype=torch.float64) * 2 * torch.pi
            engine = build_engine(ansatz, w, torch.float32)
            tc = build_tensorcircuit_state(ansatz, w)
            for batch in args.batches:
                x = (torch.rand(batch, n, generator=gen) * torch.pi).float()
                steps = {
                    "engine fwd": lambda: _forward(engine, x),
                    "tc fwd": lambda: tc.run(x),
                    "engine fwd+bwd": lambda: _forward_backward(engine, x),
                    "tc fwd+bwd": lambda: tc.grad_step(x),
                }
                times = {k: [] for k in [*steps, "engine 1 thread", "engine 2 threads"]}
                for fn in steps.values():  # warm-up: compilation
                    fn()
                rounds = args.rounds if n < 14 or batch < 1024 else max(2, args.rounds // 2)
                for _ in range(rounds):
                    for key, fn in steps.items():
                        times[key].append(_seconds(fn))
                    for threads in (1, 2):
                        torch.set_num_threads(threads)
                        times[f"engine {threads} thread{'s' if threads > 1 else ''}"].append(
                            _seconds(steps["engine fwd+bwd"]))
                    torch.set_num_threads(args.threads)
                ratio = {kind: statistics.median(t / e for t, e in zip(times[f"tc {kind}"], times[f"engine {kind}"]))
                         for kind in ("fwd", "fwd+bwd")}
                scaling = statistics.median(a / b for a, b in zip(times["engine 1 thread"], times["engine 2 threads"]))
                print(f"| {name} | {n} | {batch} | {batch / statistics.median(times['engine fwd']):,.0f} "
                      f"| {ratio['fwd']:.2f}× | {batch / statistics.median(times['engine fwd+bwd']):,.0f} "
                      f"| {ratio['fwd+bwd']:.2f}× | {scaling:.2f}× |", flush=True)
    print(f"\nload average at the end {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def _forward(model, x):
    import torch

    with torch.no_grad():
        return model.run(x)


def _forward_backward(model, x):
    model.weight.grad = None
    xg = x.clone().requires_grad_(True)
    model.run(xg).sum().backward()


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
