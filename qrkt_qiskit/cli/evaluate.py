"""``qrkt evaluate`` and ``qrkt results``: a trained run on any backend, and runs side by side."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from . import CommandError, summary
from .options import positive_int
from .profile_options import add_profile_options, add_simulation_options, profile_overrides, simulation_overrides

EVALUATE = """\
Evaluate a trained run on one of its data splits, on any backend: `native` (the engine the
run trained on), or a profile of the backend registry (`qrkt backends` lists them) — Aer,
a noisy fake IBM device, IBM hardware. The same trained weights run everywhere. A
fake-<device> profile runs in the native noisy engine where its circuits fit (seconds for a
whole test set), else on Aer; --simulator aer asks for Aer, the reference. Prints loss,
accuracy, macro F1 and macro ROC-AUC, and appends them to RUN_DIR/evaluations.csv.

Off the native engines, the circuits of a forward pass that do not depend on each other
(Q, K, V and the MLP's of an ODE stage) go out together: one primitive job per dependency
level, not one per layer call. On an `ibm` profile the whole evaluation is first estimated
and printed (jobs, executions, QPU seconds; docs/ibm.md), refused before any job if it
exceeds --max-qpu-seconds, and every job is recorded in RUN_DIR/ibm-jobs as it is sent:
run the same command again after an interruption and finished jobs are not paid twice."""

OVERRIDES = ("shots", "noise_scale", "optimization_level", "seed")

RESULTS = """\
Print finished runs side by side in the thesis' table: the run's name, ODE method, training time, test
accuracy and F1 at the best-validation-AUC epoch, that epoch, parameters, and the thesis-style
qubit total (circuit widths summed over every circuit run of one forward pass)."""


def add_parser(sub) -> None:
    """Register ``qrkt evaluate`` and its options among the subcommands ``sub``."""
    p = sub.add_parser("evaluate", help=summary("evaluate"), description=EVALUATE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a directory written by `qrkt train`")
    p.add_argument("--backend", default="native", help="backend profile name (default: native)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test", help="(default: test)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="evaluate only the split's first N images (slow backends)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="(default: best validation AUC)")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="images per model call (default: 1024)")
    add_profile_options(p)
    extra = add_simulation_options(p)
    extra.add_argument("--calibration", type=Path, metavar="FILE",
                       help="apply a calibration `qrkt calibrate` fitted on this backend: per-output maps instead of "
                       "batch statistics, so --batch-size 1 evaluates one image at a time")
    extra.add_argument("--plan", type=Path, metavar="FILE",
                       help="run a plan `qrkt deploy-plan` wrote: its backend, shots, resilience level, noise scale, "
                       "seed and calibration (an option the plan sets is refused with another value)")
    p.set_defaults(func=run_evaluate)
    r = sub.add_parser("results", help=summary("results"), description=RESULTS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    r.add_argument("--output", type=Path, metavar="FILE", help="also write the markdown table to FILE")
    r.set_defaults(func=run_results)


def run_evaluate(args) -> None:
    """Run ``qrkt evaluate`` with the parsed ``args``."""
    from ..training.stored import expect_kind

    expect_kind(args.run_dir, "classification")  # a mistaken path is refused before the heavy imports
    if args.plan is not None:
        _apply_plan(args)
    from ..backends.journal import journal
    from ..errors import Interrupted
    from ..layers import to_backend
    from ..training import evaluate, load_model
    from ..training.report import append_evaluation
    from ..training.runs import load_data

    config, model = load_model(args.run_dir, args.checkpoint)
    overrides = simulation_overrides(args)
    if config.quantum or args.backend != "native" or overrides:  # a classical model is refused in one sentence
        to_backend(model, args.backend, backends_dir=args.backends_dir, **overrides)
    if args.calibration is not None:
        from ..calibration import Calibration

        Calibration.load(args.calibration).apply(model)
    data = load_data(config, args.run_dir)
    x, y = data.split(args.split)
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    hardware = _on_ibm_hardware(model)
    start = time.perf_counter()
    record = None
    with contextlib.ExitStack() as stack:
        if hardware is not None:
            estimate = _check_budget(model, x, args.batch_size, hardware)
            record = stack.enter_context(journal(args.run_dir / "ibm-jobs" / f"{args.backend}-{args.split}-{args.checkpoint}"))
        try:
            metrics = evaluate(model, x, y, n_classes=data.n_classes, batch_size=args.batch_size, progress=True,
                               desc=f"{args.backend} {args.split}")
        except KeyboardInterrupt as exc:
            kept = ("the evaluation keeps no partial result: nothing was written" if record is None else
                    f"the {len(record.finished())} finished job(s) are kept in {record.directory}: run the same "
                    "command again to send only the rest")
            raise Interrupted(kept) from exc
    label = args.backend if args.simulator is None else f"{args.backend} ({args.simulator})"
    row = {"backend": label, **{k: "exact" if k == "shots" and args.exact else overrides.get(k, "") for k in OVERRIDES},
           "options": " ".join(f"{k}={v}" for k, v in overrides.items() if k not in OVERRIDES + ("simulator",)),
           "split": args.split, "checkpoint": args.checkpoint, "images": len(y),
           **{k: round(v, 6) for k, v in metrics.items()}, "seconds": round(time.perf_counter() - start, 2)}
    if args.calibration is not None:
        row["calibration"] = str(args.calibration)
    if args.plan is not None:
        row["plan"] = str(args.plan)
    if hardware is not None:
        row.update(jobs_sent=record.sent, jobs_reused=record.reused, estimated_qpu_seconds=round(estimate.qpu_seconds, 1))
    print("  ".join(f"{k}={v}" for k, v in row.items() if v != ""), flush=True)  # first: a failed write loses nothing
    append_evaluation(args.run_dir, row)


def _apply_plan(args) -> None:
    """Set ``args``' backend, settings and calibration from ``--plan``; refuse an option given with another value."""
    from ..deploy.plan_file import PlanFile, checkpoint_digest

    plan = PlanFile.load(args.plan)
    weights = args.run_dir / f"{args.checkpoint}.pt"
    if weights.is_file() and checkpoint_digest(weights) != plan.checkpoint_sha256:
        raise CommandError(f"{args.plan} is a plan for other weights ({plan.run_dir}, checkpoint {plan.checkpoint}), "
                           f"not {args.run_dir}'s {args.checkpoint} checkpoint; make one for this run with "
                           f"qrkt deploy-plan {args.run_dir} --backend {plan.backend}")
    settings = plan.overrides()
    simulator = settings.pop("simulator", None)
    calibration = plan.calibration_path(args.plan)
    given = profile_overrides(args)
    if args.exact:
        given["shots"] = "exact"
    asked = {"--backend": (None if args.backend == "native" else args.backend, plan.backend),
             "--simulator": (args.simulator, simulator),
             **{_FLAGS[key]: (given.get(key), value) for key, value in settings.items()}}
    if args.calibration is not None and calibration is not None:
        asked["--calibration"] = (args.calibration.resolve(), calibration.resolve())
    for option, (mine, planned) in asked.items():
        if mine is not None and planned is not None and mine != planned:
            raise CommandError(f"{args.plan} sets {option} {planned}, so {option} {mine} contradicts it; drop "
                               f"{option}, or make another plan with qrkt deploy-plan")
    if args.calibration is not None and not plan.calibration_samples:
        raise CommandError(f"{args.plan} plans no calibration, so --calibration contradicts it; drop --calibration, "
                           "or make another plan with qrkt deploy-plan")
    if plan.calibration_samples and calibration is None and args.calibration is None:
        raise CommandError(f"{args.plan} plans a calibration on {plan.calibration_samples} images fitted on the device: "
                           f"fit it with qrkt calibrate {args.run_dir} --backend {plan.backend} --samples "
                           f"{plan.calibration_samples} --shots {plan.shots} --resilience-level {plan.resilience_level} "
                           "and pass its file with --calibration")
    args.backend, args.simulator = plan.backend, simulator or args.simulator
    args.calibration = args.calibration or calibration
    for key, value in settings.items():
        setattr(args, f"profile_{key}", value)


_FLAGS = {"shots": "--shots", "resilience_level": "--resilience-level", "noise_scale": "--noise-scale",
          "seed": "--seed"}


def _on_ibm_hardware(model):
    """The profile of the model's layers that run on an IBM device through Runtime, if any."""
    from ..layers import quantum_layers

    for layer in quantum_layers(model):
        if layer.profile is not None and layer.profile.kind == "ibm" and layer.simulator == "runtime":
            return layer.profile
    return None


def _check_budget(model, x, batch_size: int, profile):
    """Print the whole evaluation's estimate; refuse it, before any job, above ``max_qpu_seconds``."""
    from ..backends import BudgetExceededError, Cost
    from ..levels import plan

    total = Cost()
    model.eval()
    for batch in x.split(batch_size):
        total += plan(model, batch).cost()[0]
    print(f"estimate on {profile.name}: {total.describe()} (docs/ibm.md says what is assumed)", flush=True)
    budget = profile.option("max_qpu_seconds")
    if budget is not None and total.qpu_seconds > budget:
        raise BudgetExceededError(f"evaluating {len(x):,} images on backend {profile.name!r} is estimated at "
                                  f"{total.describe()}, above max_qpu_seconds = {budget:g}; nothing was submitted "
                                  "(use --limit, --shots, a lower --resilience-level or a larger --max-qpu-seconds)")
    return total


def run_results(args) -> None:
    """Run ``qrkt results``: print the runs' thesis table (and write it to ``--output``)."""
    from ..output import write_text
    from ..training import results_table

    table = results_table(args.run_dirs)
    print(table)
    if args.output:
        write_text(args.output, table + "\n")
