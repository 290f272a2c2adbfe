"""``qrkt resources``: what one inference of a model costs in circuits, qubits, shots and jobs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..catalog import ARCHS, ODE_METHODS, VIT_PRESET_NAMES
from . import summary
from .options import int_at_least, positive_int
from .profile_options import add_profile_options, profile_overrides

DESCRIPTION = """\
Count the circuits one inference evaluates and what they cost: circuits per inference and per
token, the widest circuit, the thesis-style qubit total (the sum of circuit widths over every
quantum-layer call of one forward pass, so an RK4 block calling one layer four times counts it
four times), the qubits of the distinct layers, quantum weights vs classical parameters.
With --backend naming a device (fake-<device>, ibm), each distinct circuit is transpiled once
(ISA, the profile's optimization level) for its depth and 2-qubit gate count, and the report
adds what the backend would be sent: primitive jobs per forward pass (one per dependency
level: independent circuits such as Q, K, V and the MLP's go out together), PUBs and
parameter sets per inference, per dataset (--dataset-size, in batches of --batch-size) and
per training step (--train-batch-size, with the parameter-shift gradient). On an `ibm`
profile (a real device, or fake-<device> as its device) it adds executions — shots times
circuits as Runtime's Estimator prepares them at the resilience level, twirling
randomizations, ZNE noise factors and TREX calibration included — and the estimated QPU
time (docs/ibm.md says which terms are assumed).

Nothing is submitted: the forward pass runs on the native engine.

The model: RUN_DIR, a directory written by `qrkt train`; or --model NAME, a thesis vision
transformer (quantum, with --ode's Runge-Kutta blocks), or `mlp`, a small demo of QuantumLinear
maps between the --widths with GELU between them, circuits of at most --n-qubits qubits
(--tokens gives its input a token axis).

examples:
  qrkt resources --model mnist --ode rk4                 # the thesis' 3-block QRK4: 324 qubits
  qrkt resources --model mnist --arch thesis --encoders 3 --decoders 3 --ode rk4   # the author's classifier
  qrkt resources runs/demo/quantum --backend ibm --device fake-brisbane --dataset-size 359
  qrkt resources runs/demo/quantum --backend ibm --device fake-fez --resilience-level 2 --dataset-size 359"""


def add_parser(subparsers) -> None:
    """Register ``qrkt resources`` and its options among the subcommands ``subparsers``."""
    parser = subparsers.add_parser(
        "resources", help=summary("resources"),
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="In Python: qrkt_qiskit.resources.resource_report(model, example_input, profile).")
    parser.add_argument("run_dir", nargs="?", type=Path, metavar="RUN_DIR", help="a trained run (overrides --model)")
    parser.add_argument("--model", choices=["mlp", *VIT_PRESET_NAMES], default="mlp",
                        help="a thesis ViT preset or the demo mlp (default: mlp)")
    parser.add_argument("--ode", choices=ODE_METHODS, default="rk4_enh", help="RK method of a ViT preset (default: rk4_enh)")
    parser.add_argument("--widths", default="16,8,4", metavar="D0,D1,...",
                        help="feature widths of the demo MLP (default: 16,8,4)")
    parser.add_argument("--n-qubits", type=positive_int, default=4, metavar="N", help="widest circuit of the demo (default: 4)")
    parser.add_argument("--ansatz", default="qrkt", help="shipped ansatz of the demo's circuits (default: qrkt)")
    parser.add_argument("--layers", type=positive_int, default=1, help="variational layers per circuit (default: 1)")
    parser.add_argument("--arch", choices=ARCHS, default="shared",
                        help="a ViT preset's architecture: shared, or thesis (the author's classifier; default: shared)")
    parser.add_argument("--encoders", type=int_at_least(0), default=0, metavar="N",
                        help="thesis arch: plain encoder layers before the RK blocks (default: 0)")
    parser.add_argument("--decoders", type=positive_int, default=1, metavar="N",
                        help="thesis arch: decoder blocks (default: 1)")
    parser.add_argument("--tokens", type=positive_int, metavar="T", help="give the input a token axis of T positions")
    parser.add_argument("--backend", metavar="NAME", help="a backend profile, e.g. fake-manila or ibm")
    parser.add_argument("--dataset-size", type=positive_int, metavar="N", help="samples to evaluate, for the dataset estimate")
    parser.add_argument("--batch-size", type=positive_int, default=1024, metavar="B",
                        help="samples per forward pass of the dataset estimate (default: 1024, as qrkt evaluate)")
    parser.add_argument("--train-batch-size", type=positive_int, default=32, metavar="B",
                        help="samples of the training-step estimate (default: 32, as qrkt train)")
    parser.add_argument("--backends-dir", metavar="DIR", help="one more directory of profile TOML files")
    add_profile_options(parser)
    parser.set_defaults(func=run)


def report(model, example_input, args: argparse.Namespace):
    """Run `resource_report` with the profile options of ``args``, print it as markdown, and return it."""
    from ..resources import resource_report

    overrides = profile_overrides(args)
    if overrides and args.backend is None:
        raise ValueError(f"backend options ({', '.join(sorted(overrides))}) need --backend naming the profile they change")
    if args.backend is not None:
        from ..backends import get_profile

        args.backend = get_profile(args.backend, backends_dir=args.backends_dir, **overrides)
    result = resource_report(model, example_input, args.backend, tokens=args.tokens, dataset_size=args.dataset_size,
                             batch_size=args.batch_size, train_batch_size=args.train_batch_size)
    print(result.to_markdown())
    return result


def _model(args: argparse.Namespace):
    """The run's model, or the preset built as `qrkt train` builds it (``--arch thesis`` included)."""
    from ..training import TrainConfig, load_model
    from ..training.runs import build_model

    if args.run_dir is not None:
        config, model = load_model(args.run_dir)
        if not config.quantum:
            raise ValueError(f"{args.run_dir} holds a classical model: it runs no circuit")
        return model
    return build_model(TrainConfig(model=args.model, ode=args.ode, ansatz=args.ansatz, circuit_layers=args.layers,
                                   arch=args.arch, encoders=args.encoders, decoders=args.decoders, quantum=True))


def run(args: argparse.Namespace) -> None:
    """Run ``qrkt resources`` with the parsed ``args``."""
    import torch

    from ..models.quantum import quantum_mlp

    if args.run_dir is not None or args.model != "mlp":
        from ..training.runs import example_input

        model = _model(args)
        report(model, example_input(model), args)
        return
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        raise ValueError(f"--widths must be comma-separated integers, got {args.widths!r}") from None
    model = quantum_mlp(widths, args.n_qubits, ansatz=args.ansatz, layers=args.layers)
    shape = (1, args.tokens, widths[0]) if args.tokens else (1, widths[0])
    report(model, torch.rand(shape), args)
