"""Command-line options generated from a config dataclass's fields, so defaults and help live once.

Each field made with `qrkt_qiskit.training.config.option` becomes ``--field-name`` with the
field's default, type, choices and help (its metadata); `config_kwargs` reads the parsed
values back. A field without help metadata is not an option.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

__all__ = ["add_config_options", "config_kwargs", "finite_float", "positive_int"]

def finite_float(text: str) -> float:
    """argparse type: a finite number (``inf`` and ``nan`` are refused in one sentence)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {value}")
    return value


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
                pair.add_argument(flag, dest=f.name, action="store_true", default=f.default,
                                  help=meta["help"] + (" (default)" if f.default else ""))
                negative, negative_help = meta["negative"]
                pair.add_argument(negative, dest=f.name, action="store_false",
                                  help=negative_help + ("" if f.default else " (default)"))
            elif f.default:
                section.add_argument(flag, dest=f.name, action="store_false", default=True, help=meta["help"])
            else:
                section.add_argument(flag, dest=f.name, action="store_true", help=meta["help"])
            continue
        kind = _TYPES[f.type.replace(" | None", "")]
        kwargs = {"dest": f.name, "type": kind, "default": f.default,
                  "help": meta["help"] + ("" if shown is None else f" (default: {shown})")}
        for key in ("metavar", "choices"):
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
