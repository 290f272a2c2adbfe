"""``qrkt backends``: every backend profile, whether it can run here, and why not."""

from __future__ import annotations

import argparse

from . import summary

DESCRIPTION = """\
List the backend profiles: the shipped ones in backends/, then those in every directory of
QRKT_BACKENDS_PATH, then --backends-dir (a later file shadows an earlier one of the same
name). For each: its kind, who simulates a device's noise (auto = the native noisy engine
wherever the circuit fits, else Aer; native; aer; runtime = the device itself), its shots
(exact = expectation values without sampling), whether
it can run on this machine and, if not, why (no GPU, a package missing, no IBM Quantum
account). Nothing is submitted and no network is used: an IBM account is only looked for.

Use a profile with `to_backend(model, NAME, shots=..., seed=..., noise_scale=...)` or
`qrkt evaluate --backend NAME`. fake-<device> works for every device of
qiskit_ibm_runtime.fake_provider (--devices lists them with their qubit counts)."""


def add_parser(subparsers) -> None:
    """Register ``qrkt backends`` and its options among the subcommands ``subparsers``."""
    parser = subparsers.add_parser(
        "backends", help=summary("backends"), description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Profile format, options and overrides: docs/backends.md; IBM hardware: docs/ibm.md.")
    parser.add_argument("--backends-dir", metavar="DIR", help="one more directory of profile TOML files")
    parser.add_argument("--devices", action="store_true",
                        help="also list every fake-<device> with its qubit count (loads each device: ~15 s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``qrkt backends`` with the parsed ``args``."""
    from .. import backends

    rows = [("NAME", "KIND", "SIMULATOR", "SHOTS", "AVAILABLE", "DESCRIPTION")]
    for profile in backends.profiles(args.backends_dir).values():
        reason = backends.unavailable_reason(profile)
        name = f"{profile.name}-<device>" if profile.is_template else profile.name
        shots = "exact" if profile.shots is None else str(profile.shots)
        if profile.is_template:
            shots += f" ({len(backends.fake_devices())} devices)"
        simulator = backends.simulator(profile) or "-"
        rows.append((name, profile.kind, simulator, shots, "yes" if reason is None else "no",
                     reason or profile.description))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])
    if args.devices:
        print()
        for device in backends.fake_devices():
            print(f"{device:24} {backends.get_profile(device).max_qubits:4d} qubits")
