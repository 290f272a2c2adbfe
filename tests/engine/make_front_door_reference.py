"""Write ``data/front_door_2a6e8f2.pkl``: what the engine's programs at commit 2a6e8f2 computed.

Run once, with that commit's package first on the path (``git archive 2a6e8f2 | tar -x -C DIR``;
``PYTHONPATH=DIR:. python tests/engine/make_front_door_reference.py``). Each case keeps its
ansatz, samples, the program it ran (``method``) and the outputs and gradients of
``Σ out · r``; `test_front_door` recomputes them through today's `engine.compile`.
"""

import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from hypothesis import given, settings

from qrkt_qiskit import ANSATZ_NAMES, compile, make_ansatz
from qrkt_qiskit.engine import statevector

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.engine.front_door_measure import measure  # noqa: E402
from tests.strategies import product_then_clifford, random_ansatze  # noqa: E402

F64 = torch.float64


def samples(ansatz, batch, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, ansatz.n_inputs, generator=g, dtype=F64) - 0.5) * 2 * np.pi
    w = (torch.rand(ansatz.n_weights, generator=g, dtype=F64) - 0.5) * 2 * np.pi
    r = torch.randn(batch, ansatz.n_observables, generator=g, dtype=F64)
    return x, w, r


def exact_cases(ansatz, seed):
    """``auto``, the closed form where it applies, and the statevector path's kernel and sweep."""
    cases = []
    x, w, r = samples(ansatz, 5, seed)
    methods = [("auto", "auto"), ("statevector", "statevector")]
    try:
        compile(ansatz, F64, strategy="closed-form")
        methods.append(("closed-form", "closed-form"))
    except ValueError:
        pass
    for method, strategy in methods:
        cases.append(dict(ansatz=ansatz, x=x, w=w, r=r, method=method,
                          result=measure(compile(ansatz, F64, strategy=strategy), x, w, r)))
    limit = statevector.FUSED_MAX_AMPLITUDES
    statevector.FUSED_MAX_AMPLITUDES = 0  # the torch sweep on every call
    try:
        cases.append(dict(ansatz=ansatz, x=x, w=w, r=r, method="sweep",
                          result=measure(compile(ansatz, F64, strategy="statevector"), x, w, r)))
    finally:
        statevector.FUSED_MAX_AMPLITUDES = limit
    return cases


def noisy_cases():
    from qrkt_qiskit import backends

    cases = []
    for name, ansatz, options in (("fake-manila", make_ansatz("qrkt", 3, 1), {"shots": None}),
                                  ("fake-manila", make_ansatz("basic", 4, 2), {"readout_error": False, "shots": None}),
                                  ("fake-lagos", make_ansatz("qrkt", 5, 2), {"noise_scale": 2.0, "shots": None}),
                                  ("fake-manila", make_ansatz("qrkt", 2, 1), {"shots": 1000, "seed": 7})):
        profile = backends.get_profile(name, simulator="native", **options)
        prog = backends.noisy_program(profile, ansatz, dtype=F64)
        x, w, r = samples(ansatz, 4, 0)
        cases.append(dict(ansatz=ansatz, x=x, w=w, r=r, method="density-matrix", profile=(name, options),
                          result=measure(prog, x, w, r)))
    return cases


def main():
    cases = []
    for name in ANSATZ_NAMES:
        for n in (1, 2, 3, 5, 8, 9):
            for layers in (1, 2):
                cases += exact_cases(make_ansatz(name, n, layers), seed=n * 10 + layers)
    drawn = []

    @settings(derandomize=True, max_examples=25, database=None, deadline=None)
    @given(random_ansatze())
    def draw_random(ansatz):
        drawn.append(ansatz)

    @settings(derandomize=True, max_examples=15, database=None, deadline=None)
    @given(product_then_clifford())
    def draw_clifford(ansatz):
        drawn.append(ansatz)

    draw_random()
    draw_clifford()
    for i, ansatz in enumerate(drawn):
        cases += exact_cases(ansatz, seed=i)
    cases += noisy_cases()
    out = Path(__file__).parent / "data" / "front_door_2a6e8f2.pkl"
    out.write_bytes(pickle.dumps(cases))
    print("package:", compile.__module__, sys.modules["qrkt_qiskit"].__file__)
    print(f"{len(cases)} cases -> {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
