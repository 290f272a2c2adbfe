"""A trained model's native noisy prediction vs Qiskit Runtime's local testing mode, per resilience level.

Issue 37's prediction check: ``--images`` random test images (seeded) of a trained run go, as
one batch, through the run's model with its quantum layers (a) on the ``fake-<device>`` profile
in the native engine at resilience level L: exact (``shots=None``) and ``--repeats`` sampled
calls at ``--shots`` with different seeds, whose spread is the shot noise σ of each logit; and
(b) on the ``ibm`` profile against the same fake device, i.e. Runtime's client-side Estimator
in local testing mode, at level L and ``--shots``. Printed per level: max and mean
|Runtime - native exact| / σ over the logits, the share of images whose predicted class
agrees (and, for scale, the share for the native sampled calls), and both accuracies. With ``--calibration`` the run's fitted output maps replace the
batch statistics, so each image's logits do not depend on the others. One CSV row per (level, image, class) goes to ``--csv``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/prediction_check.py RUN --device fake-lagos
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from qrkt_qiskit.calibration import Calibration
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.levels import by_level
from qrkt_qiskit.training.runs import load_data, load_model


def logits(model, x) -> torch.Tensor:
    """The model's logits on ``x`` as one batch (its norms use batch statistics)."""
    with torch.no_grad():
        return by_level(model, x).double()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--device", default="fake-lagos")
    p.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--level2-images", type=int, help="fewer images at level 2 (ZNE is slow in Runtime)")
    p.add_argument("--shots", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=5, help="native sampled calls per level, for σ")
    p.add_argument("--seed", type=int, default=1234, help="image choice and Runtime's simulator seed")
    p.add_argument("--calibration", type=Path, help="a `qrkt calibrate` file of this run on --device: per-output "
                   "maps instead of batch statistics (kept across the backend switches; the same map on both paths)")
    p.add_argument("--csv", type=Path)
    args = p.parse_args()

    config, model = load_model(args.run_dir, "best")
    x, y = load_data(config, args.run_dir).split("test")
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(args.seed))[: args.images]
    for level in args.levels:
        n = args.level2_images if level == 2 and args.level2_images else args.images
        xs, ys = x[pick[:n]], y[pick[:n]]
        t = time.perf_counter()
        to_backend(model, args.device, simulator="native", resilience_level=level, shots=None)
        if args.calibration is not None and level == args.levels[0]:
            Calibration.load(args.calibration).apply(model)  # checked against the native profile; to_backend keeps it
        exact = logits(model, xs)
        draws = []
        for r in range(args.repeats):
            to_backend(model, args.device, simulator="native", resilience_level=level, shots=args.shots,
                       seed=args.seed + 1 + r)
            draws.append(logits(model, xs))
        sigma = torch.stack(draws).std(dim=0)
        t_native = time.perf_counter() - t
        t = time.perf_counter()
        to_backend(model, "ibm", device=args.device, resilience_level=level, shots=args.shots, seed=args.seed)
        runtime = logits(model, xs)
        t_runtime = time.perf_counter() - t
        z = (runtime - exact).abs() / sigma
        agree = (runtime.argmax(1) == exact.argmax(1)).double().mean().item()
        agree_sampled = torch.stack([(d.argmax(1) == exact.argmax(1)).double().mean() for d in draws]).mean().item()
        acc_native = (exact.argmax(1) == ys).double().mean().item()
        acc_runtime = (runtime.argmax(1) == ys).double().mean().item()
        print(f"level {level}: images={n}  |Runtime - native exact|/σ max={z.max():.2f} mean={z.mean():.2f}  "
              f"median σ={sigma.median():.4f}  same class as native exact: runtime {agree:.1%}, native sampled "
              f"{agree_sampled:.1%} (mean of {args.repeats})  accuracy native exact {acc_native:.1%} "
              f"native sampled {(draws[0].argmax(1) == ys).double().mean().item():.1%} runtime {acc_runtime:.1%}  "
              f"({t_native:.0f} s native, {t_runtime:.0f} s runtime)", flush=True)
        rows = []
        for i in range(n):
            for c in range(exact.shape[1]):
                rows.append({"level": level, "image": int(pick[i]), "label": int(ys[i]), "class": c,
                             "native_exact": f"{exact[i, c]:.6f}", "native_sigma": f"{sigma[i, c]:.6f}",
                             "runtime": f"{runtime[i, c]:.6f}", "z": f"{z[i, c]:.3f}"})
        if args.csv:  # appended per level, so a long level 2 loses nothing before it
            new = not args.csv.exists()
            with open(args.csv, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                if new:
                    writer.writeheader()
                writer.writerows(rows)


if __name__ == "__main__":
    main()
