"""Speed of this tree against an older commit, in one process: their steps alternate, so load drift hits both alike.

On a shared machine two benchmark runs minutes apart can differ by 30 % with no code change.
This script imports the package of commit ``--old`` (extracted with ``git archive`` as
``qrkt_old``) beside this tree's ``qrkt_qiskit`` and alternates, call by call:

* the training step of the thesis' 3-block MNIST model, classical and quantum, as
  ``benchmarks/training.py`` times it (batch 65, AdamW, clipping, warmup-cosine);
* forward+backward of the ``qrkt`` layer (closed form and statevector path) at n = 6 and 12,
  and of the statevector path's own circuits (``qrkt-2``, ``ring-ry``: ``benchmarks/circuits.py``);
* forward+backward of the noisy engine (density matrix) on ``fake_manila``'s ISA circuits.

``--circuit-layers L`` gives the quantum model's circuits L layers (2 or more: the statevector path).

It prints the median of each and the ratio new/old (below 1: this tree is faster).

    python benchmarks/versions.py --old 4048d74 [--steps 200] [--threads 2] [--circuit-layers 2] [--only statevector|density-matrix] [--tc]

``--tc`` adds TensorCircuit-ng (jit, complex64) as a third arm of the statevector circuits'
cases, so the engine's speed against it is a ratio taken call by call.
"""

import argparse
import importlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from circuits import CIRCUITS

ROOT = Path(__file__).resolve().parent.parent


def old_package(rev: str, where: Path):
    """Commit ``rev``'s ``qrkt_qiskit`` imported as ``qrkt_old`` (its imports are relative)."""
    archive = where / "old.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "qrkt_qiskit"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(where / "src", filter="data")
    (where / "src" / "qrkt_qiskit").rename(where / "src" / "qrkt_old")
    sys.path.insert(0, str(where / "src"))
    return importlib.import_module("qrkt_old")


def training_step(pkg, quantum: bool, circuit_layers: int = 1):
    train = importlib.import_module(f"{pkg.__name__}.training")
    runs = importlib.import_module(f"{pkg.__name__}.training.runs")
    schedule = importlib.import_module(f"{pkg.__name__}.training.schedule")
    torch.manual_seed(0)
    model = runs.build_model(train.TrainConfig(dataset="mnist", quantum=quantum, circuit_layers=circuit_layers))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = schedule.warmup_cosine(optimizer, 5000, 54_000)
    x, y = torch.randn(65, 1, 28, 28), torch.randint(0, 10, (65,))

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()

    return step


def layer_call(pkg, n: int, batch: int, method: str, circuit: str = "qrkt"):
    ansatz = CIRCUITS[circuit](pkg, n)
    if hasattr(pkg, "compile_ansatz"):
        program = pkg.compile_ansatz(ansatz, method=method)
    else:  # before the one front door (issue 38): compile(..., strategy=)
        program = pkg.compile(ansatz, strategy=method)
    x = torch.rand(batch, ansatz.n_inputs, requires_grad=True)
    w = torch.rand(ansatz.n_weights, requires_grad=True)
    return lambda: program(x, w).sum().backward()


def noisy_call(pkg, n: int, batch: int, layers: int):
    """The noisy engine on ``qrkt`` (``layers`` layers) transpiled for fake_manila, with its noise model."""
    from qiskit import transpile
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device = FakeManilaV2()
    ansatz = pkg.make_ansatz("qrkt", n, layers)
    isa = transpile(ansatz.circuit, device, optimization_level=1, seed_transpiler=0)
    observables = [o.apply_layout(isa.layout) for o in ansatz.observables]
    model = NoiseModel.from_backend(device)
    if hasattr(pkg, "compile_ansatz"):
        noise_of = importlib.import_module(f"{pkg.__name__}.backends.device_noise").device_noise
        program = pkg.compile_ansatz(pkg.Ansatz(isa, ansatz.inputs, ansatz.weights, observables),
                                     noise=noise_of(model, isa))
    else:  # before the one front door (issue 38): engine.noisy.NoisyCircuit
        noisy = importlib.import_module(f"{pkg.__name__}.engine.noisy")
        program = noisy.NoisyCircuit(ansatz, isa, observables, noisy.DeviceNoise.from_noise_model(model, isa))
    x = torch.rand(batch, ansatz.n_inputs, requires_grad=True)
    w = torch.rand(ansatz.n_weights, requires_grad=True)
    return lambda: program(x, w).sum().backward()


def alternate(*arms, calls: int) -> list[float]:
    """Median seconds of each arm, the arms called in turn ``calls`` times each after 5 warm-up rounds."""
    times = [[] for _ in arms]
    for i in range(calls + 5):
        for arm, kept in zip(arms, times):
            start = time.perf_counter()
            arm()
            if i >= 5:
                kept.append(time.perf_counter() - start)
    return [statistics.median(kept) for kept in times]


def tensorcircuit_call(n: int, batch: int, circuit: str):
    """TensorCircuit-ng's jit-compiled value_and_grad on the same circuit (`engine.build_tensorcircuit`)."""
    from engine import build_tensorcircuit

    import qrkt_qiskit

    ansatz = CIRCUITS[circuit](qrkt_qiskit, n)
    model = build_tensorcircuit(ansatz, torch.rand(ansatz.n_weights, dtype=torch.float64))
    x = torch.rand(batch, ansatz.n_inputs)
    return lambda: model.grad_step(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, metavar="REV", help="the commit to compare with")
    parser.add_argument("--steps", type=int, default=200, help="training steps per model and version (default: 200)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--circuit-layers", type=int, default=1, metavar="L", help="the quantum model's circuit layers")
    parser.add_argument("--only", choices=("training", "closed-form", "statevector", "density-matrix"),
                        help="run only these cases (default: all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time each case this many times over (fresh arms each round) and print every ratio")
    parser.add_argument("--match", default="", metavar="TEXT", help="run only the cases whose label contains TEXT")
    parser.add_argument("--tc", action="store_true",
                        help="add TensorCircuit-ng (jit) as a third arm of the ring-ry and qrkt-2 layer cases")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import qrkt_qiskit as new

    with tempfile.TemporaryDirectory() as tmp:
        old = old_package(args.old, Path(tmp))
        print(f"torch {torch.__version__}, {args.threads} thread(s); this tree vs {args.old}, calls alternating\n")
        print("| what | old (ms) | new (ms) | new / old |" + (" TC-ng jit (ms) | TC-ng / new |" if args.tc else "")
              + "\n|---|---:|---:|---:|" + ("---:|---:|" if args.tc else ""))
        layers = args.circuit_layers
        cases = [("training", f"training step, thesis MNIST model, {kind}", lambda p, q=q: training_step(p, q, layers),
                  args.steps) for kind, q in (("classical", False), (f"quantum ({layers} circuit layer(s))", True))]
        cases += [(s, f"qrkt layer fwd+bwd, n={n}, batch {b}, {s}", lambda p, n=n, b=b, s=s: layer_call(p, n, b, s),
                   200 if n == 6 or s == "closed-form" else 20) for s in ("closed-form", "statevector") for n in (6, 12)
                  for b in (64, 1024)]
        cases += [("statevector", f"{c} layer fwd+bwd, n={n}, batch {b}, statevector",
                   lambda p, n=n, b=b, c=c: layer_call(p, n, b, "statevector", c), 200 if n == 6 else 20, (n, b, c))
                  for c in ("qrkt-2", "ring-ry") for n in (6, 12) for b in (64, 1024)]
        cases += [("density-matrix", f"noisy qrkt-{L} fwd+bwd on fake_manila, n=4, batch {b}",
                   lambda p, b=b, L=L: noisy_call(p, 4, b, L), 100) for L in (1, 2) for b in (64, 1024)]
        for kind, label, make, calls, *tc in cases:
            if (args.only and kind != args.only) or args.match not in label:
                continue
            rounds = []
            for _ in range(args.rounds):
                arms = [make(old), make(new)] + ([tensorcircuit_call(*tc[0])] if args.tc and tc else [])
                rounds.append(alternate(*arms, calls=calls))
            t_old, t_new, *t_tc = rounds[-1]
            line = f"| {label} | {t_old * 1e3:.3f} | {t_new * 1e3:.3f} | {t_new / t_old:.2f} |"
            if args.rounds > 1:
                line += " rounds: " + ", ".join(f"{r[1] / r[0]:.2f}" for r in rounds) + " |"
            if args.tc:
                line += f" {t_tc[0] * 1e3:.3f} | {t_tc[0] / t_new:.2f} |" if t_tc else " — | — |"
            print(line, flush=True)


if __name__ == "__main__":
    main()
