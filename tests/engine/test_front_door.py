"""`engine.compile_ansatz` against what the programs of commit 2a6e8f2 computed, before one front door replaced them.

``data/front_door_2a6e8f2.pkl`` (written by ``make_front_door_reference.py`` with that
commit's package) holds every shipped ansatz at 1-9 qubits and 1-2 layers, 40
hypothesis-drawn circuits, and four device programs of the noisy engine; per case the
outputs and the gradients of ``Σ out · r`` by the closed form, the statevector (``auto``),
the numba kernel and the torch sweep. Every value and gradient must agree to 1e-10 (float64).
"""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from qrkt_qiskit.engine import compile_ansatz
from tests.engine.front_door_measure import measure

CASES = pickle.loads((Path(__file__).parent / "data" / "front_door_2a6e8f2.pkl").read_bytes())


def program(case):
    if case["method"] != "density-matrix":
        return compile_ansatz(case["ansatz"], torch.float64, method=case["method"])
    from qrkt_qiskit import backends

    name, options = case["profile"]
    profile = backends.get_profile(name, simulator="native", **options)
    return backends.noisy_program(profile, case["ansatz"], dtype=torch.float64)


def assert_agree(case):
    result = measure(program(case), case["x"], case["w"], case["r"])
    for what, new, old in zip(("outputs", "input gradients", "weight gradients"), result, case["result"]):
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-10, err_msg=f"{what} differ ({case['method']})")


@pytest.mark.parametrize("method", sorted({c["method"] for c in CASES}))
def test_the_front_door_computes_what_the_old_programs_computed(method):
    cases = [c for c in CASES if c["method"] == method]
    assert cases
    for case in cases:
        assert_agree(case)


def test_the_cases_cover_every_simulator_and_both_kinds_of_circuit():
    methods = {c["method"] for c in CASES}
    assert methods == {"auto", "closed-form", "statevector", "sweep", "density-matrix"}
    assert len(CASES) > 300
