"""Command-line options generated from a config dataclass's fields, so defaults and help live once.

Each field made with `qrkt_qiskit.training.config.option` becomes ``--field-name`` with the
field's default, type, choices and help (its metadata); `config_kwargs` reads the parsed
values back. A field without help metadata is not an option.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

__all__ = ["add_config_options", "config_kwargs", "epoch_printer", "finite_float", "given", "int_at_least", "positive_int",
           "refuse_changes"]


class _Given(argparse.Action):
    """``store`` (or, with ``const``, a flag) that also records the option as given on the command line."""

    def __init__(self, option_strings, dest, *, const=None, nargs=None, **kwargs):
        super().__init__(option_strings, dest, nargs=0 if const is not None else nargs, const=const, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, list):  # nargs: a config field holds a tuple
            values = tuple(values)
        setattr(namespace, self.dest, self.const if self.const is not None else values)
        shown = (option_string if self.const is not None else
                 f"{option_string} {' '.join(map(str, values)) if isinstance(values, tuple) else values}")
        setattr(namespace, "given_options", {**getattr(namespace, "given_options", {}), self.dest: shown})


def given(args: argparse.Namespace) -> frozenset[str]:
    """The config fields whose options were given on the command line (not left at their defaults)."""
    return frozenset(getattr(args, "given_options", {}))

def finite_float(text: str) -> float:
    """argparse type: a finite number (``inf`` and ``nan`` are refused in one sentence)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_at_least(low: int, what: str = "an integer"):
    """An argparse type: an integer of at least ``low`` (``what`` names it in the messages)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what} of at least {low}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)


_TYPES = {"int": int, "float": finite_float, "str": str}


def add_config_options(parser: argparse.ArgumentParser, cls, groups: dict[str, str]) -> dict:
    """Add an option for every documented field of dataclass ``cls``, in field order, into ``groups``.

    Args:
        parser: the subcommand's parser.
        cls: a dataclass whose fields carry ``option`` metadata.
        groups: metadata group key to the help section's title, in the order they are shown.

    Returns:
        The argument groups by key, for the subcommand's own options.
    """
    sections = {key: parser.add_argument_group(title) for key, title in groups.items()}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue
        section = sections[meta["group"]]
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        shown = meta.get("default_help", _shown(f.default))
        if f.type == "bool":
            if "negative" in meta:  # a pair: --quantum / --classical
                pair = section.add_mutually_exclusive_group()
                pair.add_argument(flag, dest=f.name, action=_Given, const=True, default=f.default,
                                  help=meta["help"] + (" (default)" if f.default else ""))
                negative, negative_help = meta["negative"]
                pair.add_argument(negative, dest=f.name, action=_Given, const=False, default=f.default,
                                  help=negative_help + ("" if f.default else " (default)"))
            else:
                section.add_argument(flag, dest=f.name, action=_Given, const=not f.default, default=f.default,
                                     help=meta["help"])
            continue
        kind = _TYPES[f.type.replace(" | None", "").removeprefix("tuple[").removesuffix(", ...]")]  # nargs: per item
        kwargs = {"dest": f.name, "action": _Given, "type": kind, "default": f.default,
                  "help": meta["help"] + ("" if shown is None else f" (default: {shown})")}
        for key in ("metavar", "choices", "nargs"):
            if key in meta:
                kwargs[key] = meta[key]
        section.add_argument(flag, **kwargs)
    return sections


def config_kwargs(args: argparse.Namespace, cls) -> dict:
    """The parsed values of ``cls``'s options, as keyword arguments for ``cls``."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if "help" in f.metadata}


def _shown(default):
    if default is None:
        return None
    return f"{default:g}" if isinstance(default, float) else str(default)


def refuse_changes(args: argparse.Namespace, config, run_dir, *, allowed: tuple[str, ...] = ()) -> None:
    """``--resume`` continues a run with its own config.json: options given that would change it
    (but for those ``allowed``) are a mistake."""
    changed = sorted(k for k in given(args) - set(allowed) if getattr(args, k) != getattr(config, k))
    if changed:
        asked = ", ".join(args.given_options[k] for k in changed)
        kept = ", ".join(f"{k}={getattr(config, k)!r}" for k in changed)
        raise ValueError(f"--resume continues {run_dir} with its own config.json, so it cannot take {asked} "
                         f"(the run has {kept}); start a new run to change them")


def epoch_printer(epochs: int):
    """``on_epoch`` for the training commands: one line per epoch on stderr that stays on screen (and in logs)."""
    import sys

    shown = ("loss", "accuracy", "auc", "wasserstein", "gp")

    def show(row: dict) -> None:
        values = ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                           if isinstance(v, float) and any(k.endswith(s) for s in shown))
        print(f"epoch {row['epoch']}/{epochs}: {values} ({row['train_seconds']:.1f} s training so far)",
              file=sys.stderr, flush=True)

    return show
