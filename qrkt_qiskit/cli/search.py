"""``qrkt search``: random search of the classical baseline's hyperparameters (Optuna), resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import summary
from .options import positive_int

DESCRIPTION = """\
Random search (Optuna's random sampler) of the classical baseline's hyperparameters: hidden
size, heads, blocks, MLP size, dropout, learning rate, warmup steps and batch size, each
trial an ordinary `qrkt train` run under STUDY_DIR/trials/. The objective is the best
validation ROC-AUC; trials whose validation AUC falls below the median of earlier trials at
the same epoch are pruned. The study lives in a storage (default: SQLite at
STUDY_DIR/study.db; --storage takes any SQLAlchemy URL, e.g. one PostgreSQL study shared by
several machines), so an interrupted search resumes with --resume without repeating
finished trials. STUDY_DIR gets trials.md (the results table), trials.csv, trials.png (the
trials plotted) and best.json; then `qrkt train --from-search STUDY_DIR --quantum` trains the
quantum model with the best configuration (the thesis protocol)."""

EPILOG = """\
examples:
  qrkt search --data-root ../shared/data --trials 20 --epochs 3 --study-dir runs/imdb-search
  qrkt search --resume --study-dir runs/imdb-search --trials 30     # continue, up to 30 trials
  qrkt search --dataset digits --trials 8 --epochs 4 --study-dir runs/digits-search
  qrkt train --from-search runs/imdb-search --quantum --epochs 20
"""


def add_parser(sub) -> None:
    """Register ``qrkt search`` and its options among the subcommands ``sub``."""
    from ..catalog import IMAGE_DATASETS, ODE_METHODS, TEXT_DATASETS

    p = sub.add_parser("search", help=summary("search"),
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study-dir", type=Path, required=True, metavar="DIR", help="where the search and its trials go")
    p.add_argument("--trials", type=positive_int, default=20, metavar="N",
                   help="finished (completed or pruned) trials the study should hold (default: 20)")
    p.add_argument("--storage", metavar="URL", help="SQLAlchemy URL of the study (default: sqlite:///DIR/study.db)")
    p.add_argument("--resume", action="store_true", help="continue the search in --study-dir with its own search.json")
    p.add_argument("--no-prune", dest="prune", action="store_false", help="train every trial to the end")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar over the trials")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampler and every trial's run (default: 0)")
    base = p.add_argument_group("every trial (the classical baseline)")
    base.add_argument("--dataset", choices=IMAGE_DATASETS + TEXT_DATASETS, default="imdb", help="(default: imdb)")
    base.add_argument("--data-root", metavar="DIR", help="folder holding the dataset (see `qrkt train --help`)")
    base.add_argument("--max-length", type=int, default=512, metavar="T", help="text: token ids per review (default: 512)")
    base.add_argument("--vocab-size", type=int, default=20_000, metavar="V", help="text: WordPiece vocabulary (default: 20000)")
    base.add_argument("--ode", choices=ODE_METHODS + ("none",), default="rk4_enh", help="(default: rk4_enh)")
    base.add_argument("--epochs", type=int, default=3, help="epochs per trial (default: 3)")
    base.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(func=run_search)


def run_search(args) -> None:
    """Run ``qrkt search`` with the parsed ``args``."""
    from ..search import SearchSpace, read_search, search
    from ..training import TrainConfig

    if args.resume:
        base, space = read_search(args.study_dir)
    else:
        base = TrainConfig(dataset=args.dataset, data_root=args.data_root, quantum=False, ode=args.ode,
                           epochs=args.epochs, seed=args.seed, device=args.device, max_length=args.max_length,
                           vocab_size=args.vocab_size)
        space = SearchSpace()
    study = search(base, args.study_dir, n_trials=args.trials, space=space, storage=args.storage,
                   resume=args.resume, prune=args.prune, seed=args.seed, progress=args.progress)
    print((args.study_dir / "trials.md").read_text(), end="")
    best = [t for t in study.trials if t.value is not None]
    if best:
        print(f"best: trial {study.best_trial.number}, validation AUC {study.best_value:.4f}; "
              f"train it quantum: qrkt train --from-search {args.study_dir} --quantum")
    print(f"study directory: {args.study_dir}")
