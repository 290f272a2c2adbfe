"""How fast can a closed-form quantum layer train in PyTorch on this machine?

Measures, in one run, forward+backward samples/s at n = 6 qubits, batch 1024, of:

* ``engine``: ``qrkt_qiskit.compile_ansatz(make_ansatz("qrkt", 6))`` — the general closed form;
* ``minimal-autograd``: a hand-specialised formula in the fewest torch operations we could
  write (Bloch vectors of RY(x) then one weight rotation per qubit, products of
  neighbouring components), differentiated by autograd;
* ``minimal-compiled``: the same under ``torch.compile``;
* ``minimal-hand-backward``: the same with a hand-derived backward (one ``autograd.Function``).

The specialised formulas do not compute the qrkt circuit's exact outputs (they stand for
its cost, with the same shapes and a comparable number of operations); only their speed
is reported. They bound what rewriting the engine's closed form could gain.

    .venv/bin/python benchmarks/closed_form_floor.py [--batch 1024] [--no-compile]
"""

from __future__ import annotations

import argparse
import time

import torch

from qrkt_qiskit import compile_ansatz, make_ansatz

N = 6


def median_seconds(step, repeats: int = 200) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def minimal(x: torch.Tensor, w: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    s, c, cw, sw = torch.sin(x), torch.cos(x), torch.cos(w), torch.sin(w)
    bx, by, bz = cw * s + sw * sw * c, sw * s - cw * sw * c, cw * c
    bloch = torch.stack([torch.ones_like(bx), bx, bz, by], -1).flatten(1)
    return bloch[:, index].prod(-1)


class MinimalHandBackward(torch.autograd.Function):
    """``out[:, j] = bz_j * bz_{j+1}`` with ``bz = cos(w) cos(x)``, gradient by hand."""

    @staticmethod
    def forward(x, w):
        bz = torch.cos(w) * torch.cos(x)
        return bz * torch.roll(bz, -1, 1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        bz = torch.cos(w) * torch.cos(x)
        grad_bz = grad * torch.roll(bz, -1, 1) + torch.roll(grad * bz, 1, 1)
        return -grad_bz * torch.cos(w) * torch.sin(x), (-grad_bz * torch.sin(w) * torch.cos(x)).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (compiling takes ~20 s)")
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.batch, N, requires_grad=True)
    w = torch.rand(N, requires_grad=True)
    index = torch.stack([4 * torch.arange(N) + 2, 4 * ((torch.arange(N) + 1) % N) + 2], -1)  # Z_j Z_{j+1}
    prog = compile_ansatz(make_ansatz("qrkt", N))
    rows = {
        "engine": lambda: prog(x, w, validate=False).sum().backward(),
        "minimal-autograd": lambda: minimal(x, w, index).sum().backward(),
        "minimal-hand-backward": lambda: MinimalHandBackward.apply(x, w).sum().backward(),
    }
    if not args.no_compile:
        compiled = torch.compile(minimal, dynamic=False)
        rows["minimal-compiled"] = lambda: compiled(x, w, index).sum().backward()
    print(f"n = {N}, batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| variant | fwd+bwd samples/s | vs engine |\n|---|---:|---:|")
    base = None
    for name, step in rows.items():
        rate = args.batch / median_seconds(step)
        base = base or rate
        print(f"| {name} | {rate:,.0f} | {rate / base:.1f}× |")


if __name__ == "__main__":
    main()
