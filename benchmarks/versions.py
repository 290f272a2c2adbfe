"""Speed of this tree against an older commit, in one process: their steps alternate, so load drift hits both alike.

On a shared machine two benchmark runs minutes apart can differ by 30 % with no code change.
This script imports the package of commit ``--old`` (extracted with ``git archive`` as
``qrkt_old``) beside this tree's ``qrkt_qiskit`` and alternates, call by call:

* the training step of the thesis' 3-block MNIST model, classical and quantum, as
  ``benchmarks/training.py`` times it (batch 65, AdamW, clipping, warmup-cosine);
* forward+backward of the ``qrkt`` layer (closed form and statevector path) at n = 6 and 12.

It prints the median of each and the ratio new/old (below 1: this tree is faster).

    python benchmarks/versions.py --old 4048d74 [--steps 200] [--threads 2]
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


def training_step(pkg, quantum: bool):
    train = importlib.import_module(f"{pkg.__name__}.training")
    runs = importlib.import_module(f"{pkg.__name__}.training.runs")
    schedule = importlib.import_module(f"{pkg.__name__}.training.schedule")
    torch.manual_seed(0)
    model = runs.build_model(train.TrainConfig(dataset="mnist", quantum=quantum))
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


def layer_call(pkg, n: int, batch: int, strategy: str):
    program = pkg.compile(pkg.make_ansatz("qrkt", n), strategy=strategy)
    x = torch.rand(batch, n, requires_grad=True)
    w = torch.rand(n, requires_grad=True)
    return lambda: program(x, w).sum().backward()


def alternate(old, new, calls: int) -> tuple[float, float]:
    """Median seconds of ``old`` and ``new``, called alternately ``calls`` times each after a warm-up."""
    times = ([], [])
    for i in range(2 * (calls + 5)):
        start = time.perf_counter()
        (old, new)[i % 2]()
        if i >= 10:
            times[i % 2].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, metavar="REV", help="the commit to compare with")
    parser.add_argument("--steps", type=int, default=200, help="training steps per model and version (default: 200)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import qrkt_qiskit as new

    with tempfile.TemporaryDirectory() as tmp:
        old = old_package(args.old, Path(tmp))
        print(f"torch {torch.__version__}, {args.threads} thread(s); this tree vs {args.old}, calls alternating\n")
        print("| what | old (ms) | new (ms) | new / old |\n|---|---:|---:|---:|")
        cases = [(f"training step, thesis MNIST model, {kind}", lambda p, q=q: training_step(p, q), args.steps)
                 for kind, q in (("classical", False), ("quantum", True))]
        cases += [(f"qrkt layer fwd+bwd, n={n}, batch {b}, {s}", lambda p, n=n, b=b, s=s: layer_call(p, n, b, s), 200)
                  for s in ("closed-form", "statevector") for n in (6, 12) for b in (64, 1024)]
        for label, make, calls in cases:
            t_old, t_new = alternate(make(old), make(new), calls)
            print(f"| {label} | {t_old * 1e3:.3f} | {t_new * 1e3:.3f} | {t_new / t_old:.2f} |", flush=True)


if __name__ == "__main__":
    main()
