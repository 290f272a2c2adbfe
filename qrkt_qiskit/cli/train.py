"""``qrkt train``: train a quantum or classical ODE vision or text transformer into a run directory."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import CommandError, summary
from .options import add_config_options, config_kwargs, epoch_printer, given, refuse_changes

DESCRIPTION = """\
Train a vision transformer (images) or a text transformer (IMDb sentiment) whose blocks are
Runge-Kutta ODE steps, with quantum circuits as its attention and MLP maps (--quantum, the
default) or its classical twin (--classical), on the native engine. Every run writes a run
directory: config.json, metrics.csv (loss, accuracy, F1, ROC-AUC per epoch on
train/validation/test), curves.png, last.pt (resume point), best.pt (best validation AUC) and
summary.json; a text run also its WordPiece tokenizer.json, trained on the training split.
Ctrl-C checkpoints; `--resume` continues to the same weights an uninterrupted run would have
reached. `--from-search STUDY_DIR` trains the best configuration of a `qrkt search` (the
thesis protocol: search the classical baseline, then train the quantum model with its best
configuration). Under `torchrun --nproc_per_node N` the same command trains data-parallel.

Noise-aware training (--noise) puts every circuit on a device's noise, simulated exactly in
the native noisy engine. So that the model does not fit one device, --noise takes several
devices and --noise-scale several error-rate factors: each step draws one (device, scale)
pair, from a generator seeded by --seed and saved in last.pt, and validation uses the first
pair; --train-shots N adds the shot noise of N shots to every circuit output in training
steps. config.json records what was drawn from, metrics.csv how often each pair was drawn."""

EPILOG = """\
examples:
  qrkt train                                   # quantum rk4_enh ViT on scikit-learn's digits (recipe digits)
  qrkt train --classical --run-dir runs/c      # its classical twin
  qrkt train --dataset mnist --data-root ../shared/data --recipe thesis   # the thesis' MNIST run
  qrkt train --resume --run-dir runs/c         # continue an interrupted run
  qrkt train --noise fake-nairobi --post-norm  # noise-aware: trained through the device's noise
  qrkt train --noise fake-nairobi fake-brisbane fake-fez --noise-scale 1 2 --train-shots 256
                                               # across 3 devices x 2 scales, with the shot noise of 256 shots
  qrkt train --dataset imdb --data-root ../shared/data --classical   # thesis RK4_ENH IMDb baseline
  qrkt train --from-search runs/search --quantum --epochs 20        # best searched config, quantum
  torchrun --nproc_per_node 2 -m qrkt_qiskit train --epochs 5
"""


GROUPS = {"data": "data", "model": "model", "noise": "noise-aware training (docs/noise.md)",
          "optimisation": "optimisation (AdamW, gradient clipping, linear warmup then cosine decay)",
          "run": "run directory"}


def add_parser(sub) -> None:
    """Register ``qrkt train`` and its options among the subcommands ``sub``."""
    from ..training import TrainConfig

    p = sub.add_parser("train", help=summary("train"),
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run = add_config_options(p, TrainConfig, GROUPS)["run"]
    run.add_argument("--run-dir", type=Path, metavar="DIR", help="where the run goes (default: runs/<dataset>-<q|c><ode>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the run in --run-dir with its own config.json")
    run.add_argument("--from-search", type=Path, metavar="STUDY_DIR",
                     help="the best configuration of a `qrkt search` (its data and searched hyperparameters), "
                     "quantum unless --classical (the thesis protocol); every training option given here applies "
                     "on top, and only those")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run_train)


def run_train(args) -> None:
    """Run ``qrkt train`` with the parsed ``args``."""
    from ..training import TrainConfig, read_config, results_table, train

    if args.resume:
        if args.run_dir is None:
            raise CommandError("--resume needs --run-dir naming the run to continue")
        config = read_config(args.run_dir)
        refuse_changes(args, config, args.run_dir)
    elif args.from_search:
        from ..search import best_config

        # the search's best configuration, quantum unless --classical (the thesis protocol), with what is given here
        overrides = {k: getattr(args, k) for k in given(args) - {"quantum"}}
        config = best_config(args.from_search, quantum=args.quantum, **overrides)
    else:
        config = TrainConfig(**config_kwargs(args, TrainConfig))
    run_dir = args.run_dir or Path("runs") / f"{config.dataset}-{'q' if config.quantum else 'c'}{config.ode}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"run directory: {run_dir}", flush=True)
    summary = train(config, run_dir, resume=args.resume, progress=args.progress, on_epoch=epoch_printer(config.epochs))
    if summary:
        print(results_table([run_dir]))
        print(f"run directory: {run_dir}")

