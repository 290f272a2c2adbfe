"""``qrkt noise-study``: one trained run evaluated across backends, shot counts and noise scales."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import summary
from .options import int_at_least, positive_int
from .profile_options import add_profile_options, profile_overrides

DESCRIPTION = """\
Evaluate the same trained weights of a run on the exact native engine and on every backend
given, for every shot count and (on fake-<device> backends) every noise scale: the error
rates of the device's noise model multiplied by the scale (0 = noiseless, 1 = the device).
Writes noise_study.csv, noise_study.md (accuracy, its change from exact, mean |Δ output|)
and noise_study.png (accuracy vs noise scale, one line per device; accuracy vs shots) into
RUN_DIR/noise-study/ (or --out). The whole split is evaluated by default: fake-<device>
backends run in the native noisy engine (exact density matrices in PyTorch) wherever the
circuit fits, and --aer-check N runs N random images of each such row through Aer as well,
reporting the largest output difference. --resilience 0 1 2 evaluates device profiles at
each of Qiskit Runtime's error-mitigation levels: fake-<device> in the native noisy engine,
which computes what Runtime's Estimator returns at that level (docs/noise.md), ibm through
Runtime (local testing mode on a fake device). --calibration-samples K adds, for every device
row, the same row with a calibration fitted there on K training images (qrkt calibrate's;
written to noise-study/calibrations/). A row
that fails or is interrupted (Ctrl-C, SIGTERM) leaves the rows finished before it in the
table, CSV and plot, and says so."""

EPILOG = """\
examples:
  qrkt noise-study runs/demo/quantum --backends fake-nairobi fake-lagos --shots exact 1024 \\
      --noise-scale 0 0.5 1 2
  qrkt noise-study runs/demo/quantum --backends fake-lagos --shots 256 4096 --resilience 0 1 2 \\
      --calibration-samples 32          # Runtime's levels, natively, with and without a calibration
  qrkt noise-study runs/demo/quantum --backends ibm --shots 4096 --resilience 0 1 2 --limit 20 \\
      --backends-dir my-profiles      # an ibm profile with device = "fake-lagos": Runtime, locally
"""


def _shots(text: str) -> int | None:
    if text == "exact":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"shots must be a positive integer or 'exact', got {text!r}")
    return value


def add_parser(sub) -> None:
    """Register ``qrkt noise-study`` and its options among the subcommands ``sub``."""
    p = sub.add_parser("noise-study", help=summary("noise-study"),
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a directory written by `qrkt train`")
    p.add_argument("--backends", nargs="+", required=True, metavar="NAME", help="backend profiles (`qrkt backends`)")
    p.add_argument("--shots", nargs="+", type=_shots, default=[1024], metavar="N",
                   help="shot counts, or exact for expectation values (default: 1024)")
    p.add_argument("--noise-scale", nargs="+", type=float, default=[1.0], metavar="S",
                   help="error-rate factors for fake devices (default: 1)")
    p.add_argument("--split", choices=("val", "test"), default="test", help="(default: test)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="evaluate the first N images only (default: the whole split)")
    p.add_argument("--aer-check", type=int_at_least(0), default=8, metavar="N",
                   help="random images of every native-simulated row also run through Aer (default: 8; 0: none)")
    p.add_argument("--resilience", nargs="+", type=int, choices=(0, 1, 2), metavar="LEVEL",
                   help="Runtime's error-mitigation levels on device profiles: fake-<device> natively, ibm through "
                   "Runtime (default: the profile's own)")
    p.add_argument("--calibration-samples", type=int_at_least(2, "a number of images"), metavar="K",
                   help="also evaluate every device row with a calibration fitted there on K training images "
                   "(default: none)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="(default: best validation AUC)")
    p.add_argument("--seed", type=int, default=1234, help="sampling seed of every backend (default: 1234)")
    p.add_argument("--out", type=Path, metavar="DIR", help="where the results go (default: RUN_DIR/noise-study)")
    p.add_argument("--backends-dir", type=Path, metavar="DIR", help="one more directory of profile TOML files")
    add_profile_options(p, named=("layout_seed", "device", "optimization_level", "execution", "dynamical_decoupling",
                                  "twirling", "rep_delay", "max_execution_time", "max_qpu_seconds"))
    p.set_defaults(func=run)


def run(args) -> None:
    """Run ``qrkt noise-study`` with the parsed ``args``."""
    from ..noise_study import noise_study
    from ..training import load_model
    from ..training.runs import load_data

    config, model = load_model(args.run_dir, args.checkpoint)
    data = load_data(config, args.run_dir)
    x, y = data.split(args.split)
    out = args.out or args.run_dir / "noise-study"
    rows = noise_study(model, x[: args.limit], y[: args.limit], backends=args.backends, shots=args.shots,
                       noise_scales=args.noise_scale, out_dir=out, seed=args.seed,
                       resilience_levels=args.resilience, aer_check=args.aer_check,
                       calibration_inputs=calibration_images(data, args.calibration_samples, '--calibration-samples'),
                       backends_dir=args.backends_dir, options=profile_overrides(args))
    print((out / "noise_study.md").read_text(), end="")
    checked = [r.aer_check for r in rows if r.aer_check is not None]
    if checked:
        print(f"native noisy engine vs Aer on {min(args.aer_check, len(y))} random images per row: "
              f"largest output difference {max(checked):.1e}")
    print(f"table, CSV and plot in {out}")


def calibration_images(data, samples: int | None, option: str):
    """``samples`` training images drawn as ``qrkt calibrate --samples K`` draws them (``None``: no calibration).

    The same images, so a calibration then fitted on the device itself matches the one predicted.
    """
    if samples is None:
        return None
    import torch

    from . import CommandError

    x, _ = data.split("train")
    if samples > len(x):
        raise CommandError(f"{option} {samples} exceeds the {len(x)} training images")
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:samples]]
