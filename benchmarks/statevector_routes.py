"""Other routes to the statevector path's small-batch speed, timed against it call by call.

    python benchmarks/statevector_routes.py [--qubits 6] [--batch 64] [--calls 1000] [--threads 1] [--compile]

On ``ring-ry`` (`circuits.ring_ry`), forward + ``out.sum()`` + gradients to inputs and weights,
float32, the arms alternating so that load drift hits all alike (medians):

* ``engine``: ``qrkt_qiskit.compile_ansatz(..., method="statevector")``, the adjoint sweep;
* ``by hand``: the same circuit written directly in about 35 PyTorch calls, with autograd's
  backward: each qubit's state in closed form, their Kronecker product, the weight layer and
  the CNOT ring as one real 64×64 matrix, ``|φ|²`` times a ±1 table. It is as few calls as
  plain PyTorch can make this circuit, so it bounds what rearranging the engine's calls can win;
* ``noise-free noisy engine``: ``method="density-matrix"`` with no noise, i.e. the Heisenberg route (the
  observables evolved back through the weight-only tail, one product with the Pauli vector of
  the product state; at most 10 qubits);
* ``torch.compile`` of the engine (``--compile``; it takes about a minute to compile).

``--profile`` then splits the engine's step under ``torch.profiler``: the Python of its
`autograd.Function` (the plan interpreter, forward and reverse) against the ATen calls it
makes, i.e. what moving the interpreter to C++ and keeping the ATen calls could save.
"""

import argparse
import math
import statistics
import time

import torch
from circuits import ring_ry

import qrkt_qiskit


def by_hand(n: int):
    """``ring-ry`` on ``n`` qubits as plain PyTorch: ``(x (batch, n), w (2n,)) -> <Z_j> (batch, n)``."""
    basis = torch.arange(2**n)
    ring = torch.zeros(2**n, 2**n)  # the CNOT ring j -> j + 1 (mod n), in circuit order, on basis states
    for i in range(2**n):
        k = i
        for j in range(n):
            if (k >> j) & 1:
                k ^= 1 << ((j + 1) % n)
        ring[k, i] = 1.0
    signs = 1.0 - 2.0 * ((basis.unsqueeze(1) >> torch.arange(n)) & 1).float()  # (2^n, n): Z_j of each basis state

    def circuit(x, w):
        c, s = torch.cos(x / 2), torch.sin(x / 2)  # RX(x)|0> = [c, -i s]; then H, then RZ(w_z)
        cz, sz = torch.cos(w[:n] / 2), torch.sin(w[:n] / 2)
        re = math.sqrt(0.5) * (c * cz - s * sz)
        im = math.sqrt(0.5) * (c * sz + s * cz)
        v = torch.complex(torch.stack([re, re], -1), torch.stack([-im, im], -1))  # (batch, n, 2)
        psi = v[:, n - 1]
        for q in range(n - 2, -1, -1):
            psi = (psi.unsqueeze(-1) * v[:, q].unsqueeze(-2)).flatten(1)
        cy, sy = torch.cos(w[n:] / 2), torch.sin(w[n:] / 2)
        ry = torch.stack([torch.stack([cy, -sy], -1), torch.stack([sy, cy], -1)], -2)  # (n, 2, 2)
        layer = ry[n - 1]
        for q in range(n - 2, -1, -1):
            layer = torch.kron(layer, ry[q])
        phi = (layer @ ring) @ torch.view_as_real(psi)  # a real unitary on the real and imaginary parts
        return phi.square().sum(-1) @ signs

    return circuit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per arm (default 1000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also torch.compile of the engine")
    parser.add_argument("--profile", action="store_true", help="also split the engine's step: Python vs ATen calls")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.qubits
    ansatz = ring_ry(qrkt_qiskit, n)
    engine = qrkt_qiskit.compile_ansatz(ansatz, method="statevector")
    arms = {"engine": engine, "by hand": by_hand(n)}
    if n <= 10:
        arms["noise-free noisy engine"] = qrkt_qiskit.compile_ansatz(ansatz, method="density-matrix")
    if args.compile:
        arms["torch.compile(engine)"] = torch.compile(engine, dynamic=False)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, n, generator=gen) * torch.pi
    w = torch.rand(2 * n, generator=gen) * 2 * torch.pi

    def step(f):
        xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        out = f(xg, wg)
        return (out.detach(), *torch.autograd.grad(out.sum(), (xg, wg)))

    reference = step(engine)
    for name, f in arms.items():  # warm-up (and compilation), checked against the engine
        err = max((a - b).abs().max().item() for a, b in zip(step(f), reference))
        print(f"{name}: max |Δ| from the engine (outputs and gradients) {err:.1e}")
    times = {name: [] for name in arms}
    for _ in range(args.calls):
        for name, f in arms.items():
            start = time.perf_counter()
            step(f)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["engine"])
    print(f"\nring-ry, n = {n}, batch {args.batch}, {args.threads} thread(s), medians of {args.calls} alternating calls:")
    for name, t in times.items():
        print(f"  {name:24s} {statistics.median(t) * 1e3:8.3f} ms  ({statistics.median(t) / base:.2f}× the engine's time)")
    if args.profile:
        profile_split(lambda: step(engine), calls=min(args.calls, 200))


def profile_split(step, calls: int) -> None:
    """Self time of the engine's `autograd.Function` nodes (Python) and of ATen calls, per step, under the profiler."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            step()
    events = prof.key_averages()
    python = sum(e.self_cpu_time_total for e in events if e.key in ("_Statevector", "_StatevectorBackward"))
    aten = [e for e in events if e.key.startswith("aten::")]
    aten_time = sum(e.self_cpu_time_total for e in aten)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"\nengine step under torch.profiler ({calls} steps; the profiler slows small calls, so shares, not times):")
    print(f"  Python of the autograd.Function (forward + reverse): {python / calls / 1e3:.3f} ms, {python / total:.0%}")
    print(f"  ATen calls: {sum(e.count for e in aten) / calls:.0f} per step, {aten_time / calls / 1e3:.3f} ms, "
          f"{aten_time / total:.0%}")
    print(f"  other (autograd engine, profiler): {(total - python - aten_time) / total:.0%}")


if __name__ == "__main__":
    main()
