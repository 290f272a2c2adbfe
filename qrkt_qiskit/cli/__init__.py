"""The ``qrkt`` command line: one module per subcommand, each with ``add_parser(subparsers)``.

Only this package prints. A subcommand's ``add_parser`` registers its arguments and sets
``func`` to a callable taking the parsed namespace; errors a user can cause are raised as
`CommandError`, `QrktError`, ``ValueError`` or ``OSError`` (a missing file, a full disk, a
read-only directory) and shown as one line, never a traceback (``qrkt --debug …`` shows it).
SIGTERM and SIGHUP stop a command as Ctrl-C does, so each says what it kept.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import signal
import sys
import threading

from ..errors import Interrupted, QrktError, os_error_sentence
from .options import int_at_least

__all__ = ["CommandError", "main", "qrkt_version"]

# Each command, in the order `qrkt --help` lists them: the module qrkt_qiskit.cli.<module> that
# registers it, and its one-line summary. Only the command being run is built, so `qrkt --help`
# imports neither torch nor Qiskit.
COMMANDS = {
    "train": ("train", "train a quantum or classical ODE vision or text transformer"),
    "search": ("search", "random search of the classical baseline's hyperparameters (Optuna)"),
    "evaluate": ("evaluate", "evaluate a trained run on any backend"),
    "results": ("evaluate", "compare finished runs in the thesis' table"),
    "calibrate": ("calibrate", "fit a trained run's quantum outputs to a target device from a few training images"),
    "noise-study": ("noise_study", "accuracy of a trained run across backends, shots and noise scales"),
    "deploy-plan": ("deploy_plan", "predicted accuracy per QPU minute on a device, and the plan within a budget"),
    "backends": ("backends", "list backend profiles and whether each can run here"),
    "resources": ("resources", "hardware cost of a model: circuits, qubits, depth, shots, jobs"),
    "gan": ("gan", "train QRKT-GAN or TransGAN, score them by FID"),
}


def summary(command: str) -> str:
    """The one-line help of ``command``, as `qrkt --help` lists it."""
    return COMMANDS[command][1]


class CommandError(Exception):
    """A mistake on the command line, reported as one sentence."""


THREADS_ENV = "QRKT_THREADS"


def qrkt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qrkt-qiskit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusal of an unknown choice suggests the closest one ("did you mean 'mnist'?")."""

    def _check_value(self, action, value):
        if action.choices is not None and isinstance(value, str) and value not in action.choices:
            names = {str(c).lower(): str(c) for c in action.choices}
            close = difflib.get_close_matches(value.lower(), names, n=1)
            if close:
                choices = ", ".join(map(repr, action.choices))
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}; did you mean {names[close[0]]!r}? "
                                                     f"(choose from {choices})")
        super()._check_value(action, value)


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The ``qrkt`` parser with ``commands`` (default: all) built in full, the others by name and summary."""
    parser = _Parser(
        prog="qrkt",
        description="Hybrid quantum/classical ODE transformers on Qiskit: train them fast with the "
        "native engine, then run the same weights on Aer, noisy fake IBM devices or IBM hardware.",
        epilog="Run `qrkt COMMAND --help` for the manual of one command.",
    )
    parser.add_argument("--version", action="version", version=f"qrkt {qrkt_version()}")
    parser.add_argument("--threads", type=int_at_least(0, "a number of threads"), metavar="N", default=os.environ.get(THREADS_ENV, "0"),
                        help=f"CPU threads torch may use, for every command (default: ${THREADS_ENV}, else 0: "
                        "torch's own choice, one per core, which measured fastest on a quiet machine). On a "
                        "machine other processes share, use 1: oversubscribed cores made one run 30x slower "
                        "(docs/benchmarks.md)")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full Python traceback instead of one sentence")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    full = COMMANDS if commands is None else commands
    for module in dict.fromkeys(module for name, (module, _) in COMMANDS.items() if name in full):
        importlib.import_module(f"{__name__}.{module}").add_parser(sub)  # a module may register several
    for name, (_, help) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``qrkt`` with ``argv``; returns the exit status (2 for a user's mistake, 130 for an interrupt)."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser([a for a in argv if a in COMMANDS][:1]).parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        with _stopping_on(signal.SIGTERM, signal.SIGHUP):
            args.func(args)
    except (CommandError, QrktError, ValueError, OSError) as exc:
        if args.debug:
            raise
        message = os_error_sentence(exc) if isinstance(exc, OSError) else str(exc)
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))  # what was kept (a noise study's rows)
        print(f"qrkt {args.command}: error: {message}{notes}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        detail = f": {exc}" if isinstance(exc, Interrupted) else ""  # what the run's last.pt holds
        print(f"qrkt {args.command}: interrupted{detail}", file=sys.stderr)
        return 130
    return 0


@contextlib.contextmanager
def _stopping_on(*signals):
    """Inside, each of ``signals`` raises KeyboardInterrupt as Ctrl-C does (where they can be handled: the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    if _in_finalizer(frame):
        # Python prints and drops an exception raised inside __del__ (a progress bar being
        # collected): deliver the signal again a moment later, outside it.
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt(f"signal {signum}")


def _in_finalizer(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False
