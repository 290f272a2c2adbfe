"""Backend profile keys as command-line overrides, shared by ``evaluate``, ``resources`` and ``noise-study``.

Every key a profile file may hold can be set for one command: the common ones as named
options (``--resilience-level 2``), any other as ``--set KEY=VALUE`` (the value read as TOML:
``--set twirling=true``, ``--set device=fake-brisbane``). Each is checked against the
profile's schema when the profile resolves, so a key the profile's kind or simulator does
not take is refused in one sentence, never ignored.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .options import finite_float, int_at_least, positive_int

__all__ = ["add_profile_options", "add_simulation_options", "profile_overrides", "simulation_overrides"]

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# (option, profile key, argparse keyword arguments)
_NAMED = [
    ("--shots", "shots", dict(type=positive_int, metavar="N", help="shots per circuit")),
    ("--noise-scale", "noise_scale", dict(type=finite_float, metavar="S",
                                          help="fake devices, native simulation: multiply every error rate by S")),
    ("--optimization-level", "optimization_level", dict(type=int, choices=(0, 1, 2, 3),
                                                        help="ISA transpilation level")),
    ("--seed", "seed", dict(type=int, metavar="N", help="sampling seed of the simulator (ibm: local testing mode only)")),
    ("--layout-seed", "layout_seed", dict(type=int_at_least(0), metavar="N",
                                          help="transpiler seed, which picks the layout (default: 1234, fixed)")),
    ("--device", "device", dict(metavar="NAME", help="ibm: an IBM device, or fake-<device> for local testing")),
    ("--resilience-level", "resilience_level", dict(type=int, choices=(0, 1, 2),
                                                    help="ibm: Runtime's error mitigation (0 none, 1 TREX, 2 ZNE)")),
    ("--execution", "execution", dict(choices=("batch", "session", "job"), help="ibm: Runtime execution mode")),
    ("--dd", "dynamical_decoupling", dict(choices=("off", "XX", "XpXm", "XY4"), help="ibm: dynamical decoupling")),
    ("--rep-delay", "rep_delay", dict(type=finite_float, metavar="SECONDS",
                                      help="ibm: delay between shots (default: the device's, e.g. 0.00025)")),
    ("--max-execution-time", "max_execution_time", dict(type=positive_int, metavar="SECONDS",
                                                        help="ibm: Runtime cancels a job past this much QPU time")),
    ("--max-qpu-seconds", "max_qpu_seconds", dict(type=finite_float, metavar="SECONDS",
                                                  help="ibm: refuse, before submitting anything, work whose "
                                                  "estimated QPU time exceeds this budget")),
]


def add_profile_options(parser: argparse.ArgumentParser, *, named: tuple[str, ...] | None = None) -> None:
    """Add the profile overrides (all named ones, or those of ``named`` keys) and ``--set`` to ``parser``."""
    group = parser.add_argument_group("backend options (override the profile's; `qrkt backends` lists the keys)")
    for option, key, kwargs in _NAMED:
        if named is None or key in named:
            group.add_argument(option, dest=f"profile_{key}", **kwargs)
    if named is None or "twirling" in named:
        group.add_argument("--twirling", dest="profile_twirling", action=argparse.BooleanOptionalAction,
                           help="ibm: twirl gates and measurements (default: as the resilience level sets it)")
    group.add_argument("--set", dest="profile_set", action="append", default=[], type=_assignment,
                       metavar="KEY=VALUE", help="any other profile key, the value as TOML (repeatable)")


def profile_overrides(args: argparse.Namespace) -> dict:
    """The profile keys given on the command line, by key (``--set`` last, so it wins)."""
    overrides = {k[len("profile_"):]: v for k, v in vars(args).items()
                 if k.startswith("profile_") and k != "profile_set" and v is not None}
    for key, value in getattr(args, "profile_set", []):
        overrides[key] = value
    return overrides


def add_simulation_options(parser: argparse.ArgumentParser):
    """Add who simulates a device (``--simulator``), ``--exact`` and ``--backends-dir``; returns their group."""
    group = parser.add_argument_group("simulation")
    group.add_argument("--simulator", choices=("auto", "native", "aer", "runtime"),
                       help="who simulates a device profile's noise: the native noisy engine or Aer (fake-<device>), "
                       "runtime or native (ibm)")
    group.add_argument("--exact", action="store_true", help="exact expectation values instead of shots")
    group.add_argument("--backends-dir", type=Path, metavar="DIR", help="one more directory of profile TOML files")
    return group


def simulation_overrides(args: argparse.Namespace) -> dict:
    """`profile_overrides` with ``--exact`` (no shots) and ``--simulator`` folded in."""
    overrides = profile_overrides(args)
    if args.exact:
        if "shots" in overrides:
            raise ValueError("--exact and --shots contradict each other; give one")
        overrides["shots"] = None
    if args.simulator is not None:
        overrides["simulator"] = args.simulator
    return overrides


def _assignment(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a profile key, e.g. resilience_level=2, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value  # a bare word: a string (device=fake-brisbane)
