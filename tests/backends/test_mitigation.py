"""Runtime's resilience levels in the native engine against Runtime's own code.

References are Qiskit Runtime 0.51's client-side Estimator in local testing mode (the fake
device's Aer noise model, the same ISA circuit and seed) and ``qiskit_mitigation``'s
extrapolation; nothing of Qiskit is mocked.
"""

import warnings

import numpy as np
import pytest
import torch

from qrkt_qiskit import make_ansatz
from qrkt_qiskit.backends import get_profile, noisy_program
from qrkt_qiskit.backends.device_noise import device_noise
from qrkt_qiskit.backends.devices import fit, noise_model
from qrkt_qiskit.backends.mitigation import MitigatedCircuit, extrapolate, pauli_twirl, resolve

F64 = torch.float64


def native(device, level, n_qubits, shots=None, **options):
    ansatz = make_ansatz("qrkt", n_qubits, 1)
    profile = get_profile(f"fake-{device}", simulator="native", resilience_level=level, shots=shots, seed=3, **options)
    return ansatz, profile, noisy_program(profile, ansatz, dtype=F64)


def inputs(ansatz, batch, seed=0):
    rng = np.random.default_rng(seed)
    return (torch.tensor(rng.uniform(-np.pi, np.pi, (batch, ansatz.n_inputs))),
            torch.tensor(rng.uniform(-np.pi, np.pi, ansatz.n_weights)))


def test_levels_resolve_as_runtime_finalises_them():
    assert resolve(0, 4096) == resolve(0, 4096).__class__(0, shots=4096)
    one = resolve(1, 4096)
    assert (one.measure_twirl, one.gate_twirl, one.trex, one.noise_factors) == (True, False, True, ())
    assert (one.shots, one.calibration_shots) == (4096, 4096)  # 32 randomizations x 128 shots
    two = resolve(2, 100)
    assert (two.gate_twirl, two.noise_factors, two.extrapolators) == (True, (1.0, 3.0, 5.0), ("exponential", "linear"))
    assert two.shots == 128  # twirling runs at least 64 shots per randomization: 2 x 64
    assert resolve(2, None, {"resilience": {"zne": {"amplifier": "gate_folding_back", "noise_factors": [1, 2]}}}
                   ).folding == "back"


@pytest.mark.parametrize("level, options, message", [
    (3, {}, "resilience_level must be 0, 1 or 2 (Runtime's levels), got 3"),
    (1, {"resilience": {"pec_mitigation": True}}, "PEC (resilience.pec_mitigation) needs a learned layer noise model"),
    (2, {"resilience": {"zne": {"amplifier": "pea"}}}, "PEA (zne.amplifier = 'pea') needs a learned layer noise model"),
    (1, {"dynamical_decoupling": {"enable": True}}, "dynamical decoupling acts on idle time"),
    (2, {"resilience": {"zne": {"extrapolator": "double_exponential", "noise_factors": [1, 3, 5, 7]}}},
     "the extrapolator 'double_exponential' is not replicated"),
    (2, {"resilience": {"zne": {"noise_factors": [1, 2]}}}, "folds a random subset of gates on each run"),
])
def test_what_the_engine_does_not_simulate_is_refused(level, options, message):
    with pytest.raises(ValueError) as info:
        resolve(level, 4096, options)
    assert message in str(info.value)
    if level < 3:
        assert str(info.value).startswith("the native engine cannot simulate this Runtime mitigation: ")


def test_profile_refusals():
    with pytest.raises(ValueError, match=r"key 'resilience_level' must be one of 0, 1, 2, got 3"):
        get_profile("fake-manila", simulator="native", resilience_level=3)
    with pytest.raises(ValueError, match=r"key 'resilience_level' needs simulator = 'native' on a 'fake' profile"):
        get_profile("fake-manila", simulator="aer", resilience_level=1)


def test_pauli_twirl_keeps_the_transfer_matrix_diagonal():
    from qiskit.quantum_info import PTM, SuperOp, random_quantum_channel

    for n in (1, 2):
        channel = SuperOp(random_quantum_channel(2**n, seed=n))
        ptm = np.real(PTM(channel).data)
        np.testing.assert_allclose(np.real(PTM(SuperOp(pauli_twirl(channel.data))).data), np.diag(np.diag(ptm)),
                                   atol=1e-12)


def test_extrapolation_matches_qiskit_mitigation():
    from qiskit_mitigation.zne.extrapolation import _process_extrapolated_expectation_values as reference

    rng = np.random.default_rng(0)
    x = np.array([1.0, 3.0, 5.0])
    amplitude, rate = rng.uniform(-1, 1, (40, 1)), rng.uniform(0.01, 0.4, (40, 1))
    values = np.concatenate([amplitude * np.exp(-rate * x),  # exact decays, then with shot noise, then lines
                             amplitude * np.exp(-rate * x) + rng.normal(0, 0.01, (40, 3)),
                             amplitude - 0.05 * rate * x + rng.normal(0, 0.02, (40, 3)), np.zeros((1, 3))])
    values = values.clip(-1, 1)  # measured values
    for extrapolators in [("exponential", "linear"), ("linear",), ("polynomial_degree_2",), ("fallback",)]:
        mine, chosen = extrapolate(torch.tensor(values), x, extrapolators)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = [reference(v, np.sqrt(1 - v**2), "IZ", x, extrapolators) for v in values]  # per-shot σ
        # curve_fit stops at MINPACK's tolerance (1.49e-8 relative): the fits agree to about that
        np.testing.assert_allclose(mine.numpy(), [r[0] for r in ref], atol=5e-5)
        assert [extrapolators[i] for i in chosen[:-1].tolist()] == [r[2] for r in ref[:-1]]


def test_level_1_exact_is_trex_of_the_readout_free_values():
    """TREX divides by exp(-2 Σ f_q), the first-order fidelity of the twirled readout Π (1 - 2 f_q)."""
    ansatz, profile, program = native("lagos", 1, 3)
    free = noisy_program(get_profile(profile, resilience_level=0, readout_error=False), ansatz, dtype=F64)
    assert isinstance(program, MitigatedCircuit)
    x, w = inputs(ansatz, 5)
    fitted = fit(profile, ansatz)
    readout = device_noise(noise_model(profile), fitted.circuit).readout
    factors = []
    for obs in fitted.observables:
        (q,) = [i for i, c in enumerate(reversed(obs.paulis[0].to_label())) if c == "Z"]
        f = (readout[q][0, 1] + readout[q][1, 0]) / 2
        factors.append((1 - 2 * f) * np.exp(2 * f))
    np.testing.assert_allclose(program(x, w), free(x, w) * torch.tensor(factors), atol=1e-12)


def test_level_2_is_differentiable():
    ansatz, _, program = native("manila", 2, 2)
    x, w = inputs(ansatz, 1)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: program(x, w), (x,), eps=1e-6, atol=1e-5)
    # terms whose exponential fit fails or degenerates (sign changes, zeros) keep finite gradients
    values = torch.tensor([[0.02, 0.11, -0.05], [0.0, 0.0, 0.0], [0.9, 0.7, 0.5], [0.3, -0.6, 0.9]], dtype=F64,
                          requires_grad=True)
    extrapolate(values, (1, 3, 5), ("exponential", "linear"))[0].sum().backward()
    assert torch.isfinite(values.grad).all()


def runtime(profile, ansatz, x, w, level, shots):
    """Runtime's client-side Estimator in local testing mode on the profile's ISA circuit: ``(batch, outputs)``."""
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    fitted = fit(profile, ansatz)
    slot = {p: i for i, p in enumerate(fitted.parameters)}
    values = torch.cat([x, w.expand(len(x), -1)], dim=1).numpy()[:, [slot[p] for p in fitted.circuit.parameters]]
    device = FakeProviderForBackendV2().backend("fake_" + profile.option("device"))
    estimator = Estimator(mode=device, options={
        "resilience_level": level, "default_shots": shots, "simulator": {"seed_simulator": 11}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = estimator.run([(fitted.circuit, [[o] for o in fitted.observables], values)]).result()[0]
    return np.asarray(result.data.evs).T


@pytest.mark.parametrize("device, level, n_qubits", [("lagos", 1, 3), ("manila", 2, 2), ("nairobi", 2, 2)])
def test_levels_agree_with_runtime_local_mode(device, level, n_qubits):
    """Within 5σ of the native sampled spread (shots and TREX's calibration shots, through the fit)."""
    shots = 256  # 4 randomizations of 64 shots: Aer's share of the test's time stays small
    ansatz, profile, program = native(device, level, n_qubits, shots=shots)
    x, w = inputs(ansatz, 1, seed=n_qubits)
    with torch.no_grad():  # 40 calls (TREX calibrations) of 25 copies (shots) each
        draws = torch.cat([program(x.repeat(25, 1), w) for _ in range(40)]).reshape(-1, len(x), n_qubits).numpy()
    got = runtime(profile, ansatz, x, w, level, shots)
    assert np.all(np.abs(got - draws.mean(0)) <= 5 * draws.std(0)), (got, draws.mean(0), draws.std(0))
