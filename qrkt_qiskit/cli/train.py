"""``qrkt train``: train a quantum or classical ODE vision or text transformer into a run directory."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import CommandError

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
configuration). Under `torchrun --nproc_per_node N` the same command trains data-parallel."""

EPILOG = """\
examples:
  qrkt train                                   # quantum rk4_enh ViT on scikit-learn's digits
  qrkt train --classical --run-dir runs/c      # its classical twin
  qrkt train --dataset mnist --data-root ../shared/data --epochs 65 --warmup-steps 5000
  qrkt train --resume --run-dir runs/c         # continue an interrupted run
  qrkt train --noise fake-nairobi --post-norm  # noise-aware: trained through the device's noise
  qrkt train --dataset imdb --data-root ../shared/data --classical   # thesis RK4_ENH IMDb baseline
  qrkt train --from-search runs/search --quantum --epochs 20        # best searched config, quantum
  torchrun --nproc_per_node 2 -m qrkt_qiskit train --epochs 5
"""


def add_parser(sub) -> None:
    from ..data import IMAGE_DATASETS, TEXT_DATASETS
    from ..models import ODE_METHODS, TEXT_PRESETS, VIT_PRESETS

    p = sub.add_parser("train", help="train a quantum or classical ODE vision transformer",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=IMAGE_DATASETS + TEXT_DATASETS, default="digits",
                      help="digits needs no files; the others read their standard layouts under --data-root (default: digits)")
    data.add_argument("--data-root", metavar="DIR", help="folder holding MNIST/raw, FashionMNIST/raw, cifar-10-batches-py, "
                      "aclImdb or imdb/imdb_{train,test}.csv.gz")
    data.add_argument("--download", action="store_true", help="let torchvision download a missing dataset into --data-root")
    data.add_argument("--max-length", type=int, default=512, metavar="T",
                      help="text: token ids per review, truncated or padded (default: 512)")
    data.add_argument("--vocab-size", type=int, default=20_000, metavar="V",
                      help="text: WordPiece vocabulary trained on the training split (default: 20000)")
    model = p.add_argument_group("model")
    model.add_argument("--model", choices=list(VIT_PRESETS) + list(TEXT_PRESETS),
                       help="a thesis configuration (default: the dataset's; imdb: imdb-quantum with --quantum)")
    model.add_argument("--ode", choices=ODE_METHODS + ("none",), default="rk4_enh",
                       help="Runge-Kutta method of every block, or none for plain pre-norm layers (default: rk4_enh)")
    model.add_argument("--blocks", type=int, metavar="N", help="number of blocks (default: the preset's)")
    model.add_argument("--dim", type=int, metavar="D", help="hidden size: token width and Q/K/V circuit width (default: the preset's)")
    model.add_argument("--heads", type=int, metavar="H", help="attention heads (default: the preset's)")
    model.add_argument("--mlp-dim", type=int, metavar="M", help="hidden (Q)MLP size (default: the preset's)")
    model.add_argument("--norm", choices=("pre", "entry"), default="pre",
                       help="pre: a LayerNorm before attention and MLP; entry: one at block entry, as the author's code")
    kind = model.add_mutually_exclusive_group()
    kind.add_argument("--quantum", dest="quantum", action="store_true", default=True,
                      help="circuits for Q, K, V, output and the MLP's middle (default)")
    kind.add_argument("--classical", dest="quantum", action="store_false", help="nn.Linear everywhere: the classical twin")
    model.add_argument("--ansatz", choices=("qrkt", "basic"), default="qrkt", help="circuit of every quantum map (default: qrkt)")
    model.add_argument("--circuit-layers", type=int, default=1, metavar="L", help="variational layers per circuit (default: 1)")
    model.add_argument("--max-qubits", type=int, metavar="Q", help="split maps wider than Q qubits into several circuits")
    model.add_argument("--dropout", type=float, default=0.0, help="dropout in attention and MLP (default: 0)")
    noise = p.add_argument_group("noise-aware training (docs/noise.md)")
    noise.add_argument("--noise", metavar="DEVICE",
                       help="train (and validate) through this device's noise: a fake-<device> profile, or ibm for "
                       "an IBM device's calibration; exact noisy expectation values in the native noisy engine")
    noise.add_argument("--noise-scale", type=float, default=1.0, metavar="S",
                       help="the device's error rates times S (default: 1)")
    noise.add_argument("--post-norm", action="store_true",
                       help="normalise every circuit's outputs over the batch (QuantumNAT's post-measurement "
                       "normalisation), which undoes most of the shrinking and shifting noise causes")
    opt = p.add_argument_group("optimisation (AdamW, gradient clipping, linear warmup then cosine decay)")
    opt.add_argument("--epochs", type=int, default=10, help="(default: 10)")
    opt.add_argument("--batch-size", type=int, default=65, help="global batch, split across torchrun processes (default: 65)")
    opt.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    opt.add_argument("--weight-decay", type=float, default=0.01, help="(default: 0.01)")
    opt.add_argument("--warmup-steps", type=int, metavar="N", help="linear warmup steps (default: 10%% of all steps; thesis: 5000)")
    opt.add_argument("--clip-norm", type=float, default=1.0, help="gradient-norm clipping (default: 1)")
    opt.add_argument("--seed", type=int, default=0, help="seeds the weights, the validation split and the data order (default: 0)")
    opt.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    run = p.add_argument_group("run directory")
    run.add_argument("--run-dir", type=Path, metavar="DIR", help="where the run goes (default: runs/<dataset>-<q|c><ode>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the run in --run-dir with its own config.json")
    run.add_argument("--from-search", type=Path, metavar="STUDY_DIR",
                     help="the best configuration of a `qrkt search` (its data and searched hyperparameters); "
                     "--quantum/--classical, --epochs, --seed, --device, --checkpoint-every and any of "
                     "--dim/--heads/--mlp-dim/--blocks given here apply on top")
    run.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                     help="also checkpoint every STEPS steps, not only at epoch ends (default: 0)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run_train)


def run_train(args) -> None:
    from ..training import TrainConfig, read_config, results_table, train

    if args.resume:
        if args.run_dir is None:
            raise CommandError("--resume needs --run-dir naming the run to continue")
        config = read_config(args.run_dir)
    elif args.from_search:
        from ..search import best_config

        sizes = {k: getattr(args, k) for k in ("dim", "heads", "mlp_dim", "blocks") if getattr(args, k) is not None}
        config = best_config(args.from_search, quantum=args.quantum, epochs=args.epochs, seed=args.seed,
                             device=args.device, checkpoint_every=args.checkpoint_every, **sizes)
    else:
        config = TrainConfig(
            dataset=args.dataset, data_root=args.data_root, download=args.download, model=args.model, ode=args.ode,
            blocks=args.blocks, dim=args.dim, heads=args.heads, mlp_dim=args.mlp_dim, norm=args.norm,
            quantum=args.quantum, ansatz=args.ansatz, max_length=args.max_length, vocab_size=args.vocab_size,
            circuit_layers=args.circuit_layers, max_qubits=args.max_qubits, noise=args.noise,
            noise_scale=args.noise_scale, post_norm=args.post_norm, dropout=args.dropout, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
            clip_norm=args.clip_norm, seed=args.seed, device=args.device, checkpoint_every=args.checkpoint_every)
    run_dir = args.run_dir or Path("runs") / f"{config.dataset}-{'q' if config.quantum else 'c'}{config.ode}-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = train(config, run_dir, resume=args.resume, progress=args.progress)
    if summary:
        print(results_table([run_dir]))
        print(f"run directory: {run_dir}")
