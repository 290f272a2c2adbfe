"""``qrkt deploy-plan``: predicted accuracy against predicted QPU minutes on a device, and the plan within a budget."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from . import CommandError, qrkt_version, summary
from .options import finite_float, int_at_least, positive_int

DESCRIPTION = """\
Before a trained run goes to an IBM device: for every setting of shots x Runtime's resilience
level (0 none, 1 TREX, 2 ZNE) x calibration (off, or fitted on K training images), predict
the accuracy on the whole split and the QPU time of evaluating it there, and choose the plan
that fits a budget.

- The accuracy is the native noisy engine's, sampled as the device samples, at that setting
  (levels 1 and 2 computed as Runtime's client-side Estimator returns them), the calibration
  fitted at that setting on K training images drawn as `qrkt calibrate` draws them. No
  batch statistics are used, so it is the accuracy of images sent one at a time.
- The QPU time is that of Runtime's Estimator on the device at that setting (qrkt resources'
  estimate: twirling randomizations, ZNE's noise factors and TREX's calibration circuits
  counted by Runtime's own preparation; docs/ibm.md says what is assumed), for the split in
  batches of --batch-size, plus the K calibration images.

Writes into RUN_DIR/deploy-plan/<backend>/ (or --out): deploy_plan.csv (every setting),
deploy_plan.md (the Pareto front: the settings no other beats on both accuracy and time),
deploy_plan.png (accuracy against QPU minutes), plan.json (the plan: the cheapest setting
within the budget whose accuracy is within one standard error of the best within it; its
accuracy evaluated once more with fresh draws, since the best of many noisy estimates is
biased upward), and
noise-study/ (the accuracies, with the calibrations). `qrkt evaluate RUN_DIR --plan
plan.json` runs the plan. When no setting fits the budget, one sentence says what would."""

EPILOG = """\
examples:
  qrkt deploy-plan runs/digits --backend fake-lagos --budget-qpu-minutes 10
  qrkt evaluate runs/digits --plan runs/digits/deploy-plan/fake-lagos/plan.json
  qrkt deploy-plan runs/digits --backend fake-kyiv --noise-scale 2 --shots 64 256 1024 --resilience 0 1
"""


def add_parser(sub) -> None:
    """Register ``qrkt deploy-plan`` and its options among the subcommands ``sub``."""
    from ..deploy import LEVELS, SHOTS

    p = sub.add_parser("deploy-plan", help=summary("deploy-plan"), description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a directory written by `qrkt train`")
    p.add_argument("--backend", required=True, metavar="DEVICE",
                   help="the device: fake-<device>, or an ibm profile (its calibration simulated natively)")
    p.add_argument("--budget-qpu-minutes", type=finite_float, metavar="M",
                   help="QPU minutes the split and the calibration may take (default: no budget)")
    p.add_argument("--shots", nargs="+", type=positive_int, default=list(SHOTS), metavar="N",
                   help=f"shot counts (default: {' '.join(map(str, SHOTS))})")
    p.add_argument("--resilience", nargs="+", type=int, choices=LEVELS, default=list(LEVELS), metavar="LEVEL",
                   help="Runtime's resilience levels (default: 0 1 2)")
    p.add_argument("--calibration-samples", type=int_at_least(2, "a number of images"), default=32, metavar="K",
                   help="training images each calibration is fitted on (default: 32)")
    p.add_argument("--no-calibration", action="store_true", help="plan without calibration only")
    p.add_argument("--noise-scale", type=finite_float, default=1.0, metavar="S",
                   help="the device's error rates times S: a harsher device than its snapshot (default: 1)")
    p.add_argument("--split", choices=("val", "test"), default="test", help="(default: test)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="the split's first N images only (default: all)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="(default: best validation AUC)")
    p.add_argument("--seed", type=int_at_least(1), default=1234, metavar="N",
                   help="sampling seed of every setting; the plan is evaluated afresh at N + 1, kept in the plan "
                   "(default: 1234)")
    p.add_argument("--batch-size", type=positive_int, default=1024, metavar="B",
                   help="images per job batch, as qrkt evaluate sends them (default: 1024)")
    p.add_argument("--out", type=Path, metavar="DIR", help="where the results go (default: RUN_DIR/deploy-plan/<backend>)")
    p.add_argument("--backends-dir", type=Path, metavar="DIR", help="one more directory of profile TOML files")
    p.set_defaults(func=run)


def run(args) -> None:
    """Run ``qrkt deploy-plan`` with the parsed ``args``."""
    from ..training.stored import expect_kind

    expect_kind(args.run_dir, "classification")  # a mistaken path is refused before the heavy imports
    if args.budget_qpu_minutes is not None and args.budget_qpu_minutes <= 0:
        raise CommandError(f"--budget-qpu-minutes must be positive, got {args.budget_qpu_minutes:g}")
    if args.noise_scale < 0:
        raise CommandError(f"--noise-scale must be at least 0, got {args.noise_scale:g}")
    from ..deploy import deploy_plan, front_table, write_report
    from ..layers import quantum_layers
    from ..training import load_model
    from ..training.runs import load_data
    from .noise_study import calibration_images

    config, model = load_model(args.run_dir, args.checkpoint)
    if not config.quantum:
        raise CommandError(f"{args.run_dir} holds a classical model: it sends nothing to a device")
    post_norm = any(layer.post_norm for layer in quantum_layers(model))
    if post_norm and args.no_calibration:
        raise CommandError("this model normalises its circuits' outputs over the batch (--post-norm), which one image "
                           "at a time does not have, so it needs a calibration; drop --no-calibration")
    data = load_data(config, args.run_dir)
    x, y = data.split(args.split)
    x, y = x[: args.limit], y[: args.limit]
    calibration = calibration_images(data, None if args.no_calibration else args.calibration_samples,
                                     "--calibration-samples")
    out = args.out or args.run_dir / "deploy-plan" / (args.backend + ("" if args.noise_scale == 1
                                                                      else f"-ns{args.noise_scale:g}"))
    start = time.perf_counter()
    plan = deploy_plan(model, x, y, backend=args.backend, out_dir=out, shots=sorted(set(args.shots)),
                       levels=sorted(set(args.resilience)), calibration_inputs=calibration, uncalibrated=not post_norm,
                       noise_scale=args.noise_scale, budget_minutes=args.budget_qpu_minutes, seed=args.seed,
                       batch_size=args.batch_size, backends_dir=args.backends_dir)
    write_report(plan, out)
    print(front_table(plan))
    print((out / "deploy_plan.md").read_text().split("\n\n")[0])
    if plan.chosen is not None:
        _write_plan(plan, args, out, config)
    print(f"{len(plan.rows)} settings predicted in {time.perf_counter() - start:.0f} s; table, CSV and plot in {out}")


def _write_plan(plan, args, out: Path, config) -> None:
    """``out/plan.json`` for `qrkt evaluate --plan`, and how to run it."""
    from ..backends import get_profile
    from ..deploy import PlanFile, checkpoint_digest

    chosen, profile = plan.chosen, get_profile(args.backend, backends_dir=args.backends_dir)
    on_hardware = profile.kind == "ibm"  # a calibration simulated natively does not apply to the device itself
    stored = None if chosen.calibration_file is None or on_hardware else os.path.relpath(chosen.calibration_file, out)
    path = out / "plan.json"
    PlanFile(profile.name, profile.kind, profile.option("device"), chosen.shots, chosen.resilience_level,
             plan.noise_scale, plan.seed, chosen.calibration, stored, round(plan.confirmed, 6),
             round(chosen.accuracy, 6), round(chosen.minutes, 3), plan.images, args.split, args.budget_qpu_minutes,
             str(args.run_dir.resolve()), args.checkpoint,
             checkpoint_digest(args.run_dir / f"{args.checkpoint}.pt"), qrkt_version()).save(path)
    print(f"plan written to {path}; run it with: qrkt evaluate {args.run_dir} --plan {path}")
    if on_hardware and chosen.calibration:
        print(f"first fit its calibration on the device: qrkt calibrate {args.run_dir} --backend {profile.name} "
              f"--samples {chosen.calibration} --shots {chosen.shots} --resilience-level {chosen.resilience_level}, "
              "and add --calibration FILE to qrkt evaluate")
