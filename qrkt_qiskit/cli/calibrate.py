"""``qrkt calibrate``: fit a trained run's per-output maps on a target device from a few training images."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError, summary
from .options import int_at_least
from .profile_options import add_profile_options, add_simulation_options, simulation_overrides

CALIBRATE = """\
Fit, without retraining, an affine map per quantum output of a trained run on a target
device, from K training images run there once, and write it beside the checkpoint:
RUN_DIR/calibrations/<backend>-<settings>-k<K>.json (or --output). `qrkt evaluate RUN_DIR
--backend DEVICE --calibration FILE` then uses it, one image at a time if you like.

Why: a device's noise mostly shrinks and shifts each circuit output (a readout error e
multiplies a Z expectation by 1-2e), so a model trained exactly meets outputs of another scale
than it learned; on fake-lagos an exact-trained digits model falls from 88 % to 12-25 %.
What is fitted, layer by layer in forward order (a later layer sees calibrated inputs):
- a layer without --post-norm: each output's mean and standard deviation on the device are
  matched to the exact engine's on the same inputs (computed here, for free);
- a --post-norm layer: the K images' mean and standard deviation replace the batch
  statistics, which a model deployed one image at a time does not have.
Each call of a layer in one forward pass (an ODE block calls its layers once per stage) gets
its own map. How many images: few (measured on the digits model: K = 4 already recovers
it, 32 is the default). A --post-norm layer's statistics come from --reference N training
images run on the exact engine (free), the device being matched to it on the K images; with
--reference 0 they are the K device images' own, which needs K >= 128 (K = 32 lost 8 points;
docs/noise.md#calibration). The images are K of the training split, drawn with --sample-seed,
never test images. With --backend native a --post-norm model gets fixed statistics and so
runs one image at a time without a device.

Fit on the device and settings you will run: a calibration applied on another device is
refused; on the same device with other shots, noise scale or resilience level it is applied
with a warning. On an `ibm` profile the K images' cost is estimated and printed first (one
job per dependency level; docs/ibm.md), refused above --max-qpu-seconds, and every job is
recorded in RUN_DIR/ibm-jobs, so a rerun after an interruption pays only for the rest.

Example:
  qrkt calibrate runs/digits --backend fake-lagos --samples 32 --exact
  qrkt evaluate runs/digits --backend fake-lagos --exact --batch-size 1 \\
      --calibration runs/digits/calibrations/fake-lagos-exact-k32.json"""


def add_parser(sub) -> None:
    """Register ``qrkt calibrate`` and its options among the subcommands ``sub``."""
    p = sub.add_parser("calibrate", help=summary("calibrate"), description=CALIBRATE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a directory written by `qrkt train`")
    p.add_argument("--backend", required=True, help="the target device's backend profile (fake-lagos, ibm, yours)")
    p.add_argument("--samples", type=int_at_least(2, "a number of images"), metavar="K", default=32,
                   help="training images to fit on (default: 32)")
    p.add_argument("--sample-seed", type=int, metavar="N", default=0,
                   help="which K training images: the first K of a permutation drawn with this seed (default: 0)")
    p.add_argument("--reference", type=int_at_least(0, "a number of images"), metavar="N", default=1024,
                   help="a --post-norm model: take its statistics from N training images on the exact engine "
                   "(free) and match the device to it on the K images; 0: the K images' own statistics on the "
                   "device (default: 1024, or the whole training split if smaller)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="(default: best validation AUC)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="write the calibration here instead of RUN_DIR/calibrations/")
    add_profile_options(p)
    add_simulation_options(p)
    p.set_defaults(func=run_calibrate)


def run_calibrate(args) -> None:
    """Run ``qrkt calibrate`` with the parsed ``args``."""
    from ..training.stored import expect_kind

    expect_kind(args.run_dir, "classification")  # a mistaken path is refused before the heavy imports
    import torch

    from ..backends.journal import journal
    from ..calibration import fit_calibration
    from ..layers import quantum_layers, to_backend
    from ..training import load_model
    from ..training.runs import load_data

    config, model = load_model(args.run_dir, args.checkpoint)
    if not config.quantum:
        raise CommandError(f"{args.run_dir} holds a classical model: it has no quantum output to calibrate")
    overrides = simulation_overrides(args)
    to_backend(model, args.backend, backends_dir=args.backends_dir, **overrides)
    x, _ = load_data(config, args.run_dir).split("train")
    if args.samples > len(x):
        raise CommandError(f"--samples {args.samples} exceeds the {len(x)} training images")
    indices = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.sample_seed))[: args.samples]
    images = x[indices]
    reference = None
    if args.reference and any(layer.post_norm for layer in quantum_layers(model)):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.sample_seed + 1))
        reference = x[order[: args.reference]]
    hardware = _ibm_profile(model)
    if hardware is not None:
        _check_budget(model, images, hardware)
        with journal(args.run_dir / "ibm-jobs" / f"calibrate-{_file_stem(args, overrides)}"):
            calibration = fit_calibration(model, images, indices=indices.tolist(), reference=reference)
    else:
        calibration = fit_calibration(model, images, indices=indices.tolist(), reference=reference)
    path = args.output or args.run_dir / "calibrations" / f"{_file_stem(args, overrides)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(path)
    print(f"calibration: {calibration.summary()}", flush=True)
    print(f"written to {path}", flush=True)


def _file_stem(args, overrides: dict) -> str:
    """``<backend>-<settings>-k<K>``: the settings given on the command line, in a name a shell needs no quotes for."""
    short = {"shots": lambda v: "exact" if v is None else f"{v}shots", "noise_scale": lambda v: f"ns{v:g}",
             "resilience_level": lambda v: f"rl{v}", "seed": lambda v: f"seed{v}", "simulator": str}
    keys = [k for k in short if k in overrides] + sorted(set(overrides) - set(short))
    parts = [args.backend] + [short[k](overrides[k]) if k in short else f"{k}{overrides[k]}" for k in keys]
    parts.append(f"k{args.samples}")
    if args.sample_seed:
        parts.append(f"s{args.sample_seed}")
    return "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts)


def _ibm_profile(model):
    """The profile of the model's layers that run on an IBM device through Runtime, if any."""
    from ..layers import quantum_layers

    for layer in quantum_layers(model):
        if layer.profile is not None and layer.profile.kind == "ibm" and layer.simulator == "runtime":
            return layer.profile
    return None


def _check_budget(model, images, profile) -> None:
    """Print the K images' estimated cost; refuse it, before any job, above ``max_qpu_seconds``."""
    from ..backends import BudgetExceededError
    from ..levels import plan

    cost = plan(model.eval(), images).cost()[0]
    print(f"estimate on {profile.name}: {cost.describe()} for {len(images)} images (docs/ibm.md says what is assumed)",
          flush=True)
    budget = profile.option("max_qpu_seconds")
    if budget is not None and cost.qpu_seconds > budget:
        raise BudgetExceededError(f"calibrating on {len(images)} images on backend {profile.name!r} is estimated at "
                                  f"{cost.describe()}, above max_qpu_seconds = {budget:g}; nothing was submitted "
                                  "(use fewer --samples, --shots, or a larger --max-qpu-seconds)")
