"""Runtime's resilience levels natively vs Runtime's local testing mode: a larger check than the tests'.

For each fake device, circuit width (the ``qrkt`` ansatz, one layer) and level, ``--batch``
random inputs and weights run through Runtime 0.51's client-side Estimator in local testing
mode (the device's Aer noise model, the profile's ISA circuit, ``--shots``) and through the
native engine at the same level: exact, and ``--draws`` sampled calls (shots and TREX's
calibration shots, through the fit). Printed per row: the largest |z| of Runtime's values
against the native sampled mean and spread, and the largest |Runtime - native exact| next
to Runtime's distance from the readout-free and from the level-0 native values.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mitigation_check.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from qrkt_qiskit import make_ansatz
from qrkt_qiskit.backends import get_profile, noisy_program
from qrkt_qiskit.backends.devices import fit

F64 = torch.float64


def runtime_values(profile, ansatz, x, w, level, shots, seed):
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    fitted = fit(profile, ansatz)
    slot = {p: i for i, p in enumerate(fitted.parameters)}
    values = torch.cat([x, w.expand(len(x), -1)], dim=1).numpy()[:, [slot[p] for p in fitted.circuit.parameters]]
    device = FakeProviderForBackendV2().backend("fake_" + profile.option("device"))
    estimator = Estimator(mode=device, options={"resilience_level": level, "default_shots": shots,
                                                "simulator": {"seed_simulator": seed}})
    result = estimator.run([(fitted.circuit, [[o] for o in fitted.observables], values)]).result()[0]
    return np.asarray(result.data.evs).T


def row(device, n, level, args):
    ansatz = make_ansatz("qrkt", n, 1)
    rng = np.random.default_rng(n + 10 * level)
    x = torch.tensor(rng.uniform(-np.pi, np.pi, (args.batch, n)))
    w = torch.tensor(rng.uniform(-np.pi, np.pi, ansatz.n_weights))
    base = dict(simulator="native", seed=5)
    native = lambda **o: noisy_program(get_profile(f"fake-{device}", **base, **o), ansatz, dtype=F64)  # noqa: E731
    with torch.no_grad():
        exact = native(resilience_level=level, shots=None)(x, w).numpy()
        free = native(resilience_level=0, shots=None, readout_error=False)(x, w).numpy()
        level0 = native(resilience_level=0, shots=None)(x, w).numpy()
        sampled = native(resilience_level=level, shots=args.shots)
        draws = np.stack([sampled(x, w).numpy() for _ in range(args.draws)])
    start = time.perf_counter()
    got = runtime_values(get_profile(f"fake-{device}", **base), ansatz, x, w, level, args.shots, 11)
    seconds = time.perf_counter() - start
    z = np.abs(got - draws.mean(0)) / draws.std(0)
    return (f"| fake-{device} | {n} | {level} | {z.max():.2f} | {np.abs(got - exact).max():.3f} | "
            f"{np.abs(got - free).max():.3f} | {np.abs(got - level0).max():.3f} | {draws.std(0).mean():.3f} | "
            f"{seconds:.0f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", nargs="+", default=["lagos", "nairobi", "manila"])
    parser.add_argument("--qubits", nargs="+", type=int, default=[1, 2, 3, 4])
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--shots", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{args.shots} shots, {args.batch} input sets, native spread from {args.draws} sampled calls\n")
    print("| device | qubits | level | largest z vs native sampled | largest Runtime − native exact | "
          "largest Runtime − readout-free | largest Runtime − level 0 | mean native σ | Runtime local time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for device in args.devices:
        for n in args.qubits:
            for level in args.levels:
                print(row(device, n, level, args), flush=True)


if __name__ == "__main__":
    main()
