"""``qrkt resources``: what one inference of a model costs in circuits, qubits, shots and jobs."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from ..models.quantum import quantum_mlp
from ..resources import ResourceReport, resource_report
from . import summary
from .options import positive_int

DESCRIPTION = """\
Count the circuits one inference evaluates and what they cost: circuits per inference and per
token, the widest circuit, the thesis-style qubit total (the sum of circuit widths over every
quantum-layer call of one forward pass, so an RK4 block calling one layer four times counts it
four times), the qubits of the distinct layers, quantum weights vs classical parameters.
With --backend naming a device (fake-<device>, ibm), each distinct circuit is transpiled once
(ISA, the profile's optimization level) for its depth and 2-qubit gate count, and the report
adds shots and primitive jobs per inference, and per epoch with --dataset-size.

Nothing is submitted: the forward pass runs on the native engine.

The model: RUN_DIR, a directory written by `qrkt train`; or --model NAME, a thesis vision
transformer (quantum, with --ode's Runge-Kutta blocks), or `mlp`, a small demo of QuantumLinear
maps between the --widths with GELU between them, circuits of at most --n-qubits qubits
(--tokens gives its input a token axis).

examples:
  qrkt resources --model mnist --ode rk4                 # the thesis' 3-block QRK4: 324 qubits
  qrkt resources runs/demo/quantum --backend fake-nairobi --dataset-size 1258"""


def add_parser(subparsers) -> None:
    """Register ``qrkt resources`` and its options among the subcommands ``subparsers``."""
    parser = subparsers.add_parser(
        "resources", help=summary("resources"),
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="In Python: qrkt_qiskit.resources.resource_report(model, example_input, profile).")
    from ..models import ODE_METHODS, VIT_PRESETS

    parser.add_argument("run_dir", nargs="?", type=Path, metavar="RUN_DIR", help="a trained run (overrides --model)")
    parser.add_argument("--model", choices=["mlp", *VIT_PRESETS], default="mlp",
                        help="a thesis ViT preset or the demo mlp (default: mlp)")
    parser.add_argument("--ode", choices=ODE_METHODS, default="rk4_enh", help="RK method of a ViT preset (default: rk4_enh)")
    parser.add_argument("--widths", default="16,8,4", metavar="D0,D1,...",
                        help="feature widths of the demo MLP (default: 16,8,4)")
    parser.add_argument("--n-qubits", type=positive_int, default=4, metavar="N", help="widest circuit of the demo (default: 4)")
    parser.add_argument("--ansatz", default="qrkt", help="shipped ansatz of the demo's circuits (default: qrkt)")
    parser.add_argument("--layers", type=positive_int, default=1, help="variational layers per circuit (default: 1)")
    parser.add_argument("--tokens", type=positive_int, metavar="T", help="give the input a token axis of T positions")
    parser.add_argument("--backend", metavar="NAME", help="a backend profile, e.g. fake-manila or ibm")
    parser.add_argument("--shots", type=positive_int, metavar="N", help="override the profile's shots")
    parser.add_argument("--optimization-level", type=int, choices=[0, 1, 2, 3], help="override the transpiler level")
    parser.add_argument("--dataset-size", type=positive_int, metavar="N", help="samples per epoch, for the epoch estimate")
    parser.add_argument("--batch-size", type=positive_int, default=64, metavar="B", help="samples per forward (default: 64)")
    parser.add_argument("--backends-dir", metavar="DIR", help="one more directory of profile TOML files")
    parser.set_defaults(func=run)


def report(model: nn.Module, example_input, args: argparse.Namespace) -> ResourceReport:
    """Run `resource_report` with the profile options of ``args``, print it as markdown, and return it."""
    overrides = {k: v for k, v in (("shots", args.shots), ("optimization_level", args.optimization_level))
                 if v is not None}
    if overrides and args.backend is None:
        raise ValueError("--shots and --optimization-level need --backend")
    if args.backend is not None:
        from ..backends import get_profile

        args.backend = get_profile(args.backend, backends_dir=args.backends_dir, **overrides)
    result = resource_report(model, example_input, args.backend, tokens=args.tokens, dataset_size=args.dataset_size,
                             batch_size=args.batch_size)
    print(result.to_markdown())
    return result


def _model(args: argparse.Namespace) -> nn.Module:
    from ..models import QuantumSpec, VisionTransformer, vit_config
    from ..training import load_model

    if args.run_dir is not None:
        config, model = load_model(args.run_dir)
        if not config.quantum:
            raise ValueError(f"{args.run_dir} holds a classical model: it runs no circuit")
        return model
    return VisionTransformer(vit_config(args.model, quantum=QuantumSpec(args.ansatz, args.layers), ode=args.ode))


def run(args: argparse.Namespace) -> None:
    """Run ``qrkt resources`` with the parsed ``args``."""
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
