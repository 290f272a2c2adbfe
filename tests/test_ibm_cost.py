"""IBM hardware at a cost the user sees first, checked in Qiskit Runtime's local testing mode.

Every job is counted where Runtime's client-side Estimator hands it to the `Executor`: the
real method runs, the test only records the quantum program it was given.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from qrkt_qiskit import backends, levels
from qrkt_qiskit.backends import BudgetExceededError, get_profile
from qrkt_qiskit.cli import main
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear, to_backend


@pytest.fixture
def sent(monkeypatch):
    """Every program Runtime's Estimator submits, as (executions, item shapes), in order."""
    from qiskit_ibm_runtime.executor import Executor

    programs, run = [], Executor.run

    def recording(self, program, *args, **kwargs):
        programs.append((program.shots * sum(int(np.prod(i.shape)) for i in program.items),
                         [tuple(i.shape) for i in program.items]))
        return run(self, program, *args, **kwargs)

    monkeypatch.setattr(Executor, "run", recording)
    yield programs
    backends.close_sessions()


def _parallel(seed=0):
    """Two 3-qubit circuits of one structure side by side (one dependency level), then one after them."""
    torch.manual_seed(seed)
    return nn.Sequential(QuantumLinear(3, 6, 3), nn.Linear(6, 3), QuantumLayer(3)).eval()


@pytest.mark.parametrize("device, level, twirling", [
    ("fake-manila", 0, None), ("fake-manila", 0, True), ("fake-manila", 1, False), ("fake-manila", 2, None),
    ("fake-lima", 1, None)])  # every level, twirling on and off, two devices
def test_the_estimate_executes_what_local_mode_submits(device, level, twirling, sent):
    model, x = _parallel(), torch.rand(3, 3)
    options = {} if twirling is None else {"twirling": twirling}
    to_backend(model, "ibm", device=device, shots=256, resilience_level=level, seed=5, **options)
    plan = levels.plan(model, x)
    estimate, priced = plan.cost()
    with torch.no_grad():
        levels.by_level(model, x)
    assert priced and len(sent) == estimate.jobs == 2  # the two parallel circuits in one job
    assert [executions for executions, _ in sent] == [e.cost(job).executions for e, job in plan.jobs()]
    executions_per_set = 256 * (3 if level == 2 else 1)  # ZNE's three noise factors
    calibration = 0 if level == 0 else 256  # TREX's calibration item, once per job
    assert estimate.executions == 2 * calibration + (2 * 3 + 3) * executions_per_set


def test_qpu_seconds_follow_rep_delay_and_a_job_overhead():
    model, x = _parallel(), torch.rand(2, 3)
    costs = {}
    for rep_delay in (100e-6, 400e-6):
        to_backend(model, "ibm", device="fake-manila", shots=1000, resilience_level=0, rep_delay=rep_delay)
        costs[rep_delay] = levels.plan(model, x).cost()[0]
    low, high = costs[100e-6], costs[400e-6]
    assert low.executions == high.executions == 1000 * 6
    # every execution waits rep_delay more; circuit durations and the per-job overhead do not change
    assert math.isclose(high.qpu_seconds - low.qpu_seconds, 300e-6 * low.executions, rel_tol=1e-9)
    assert low.qpu_seconds > 100e-6 * low.executions + 2 * backends.qpu_time.JOB_OVERHEAD_SECONDS


def test_a_forward_pass_is_one_job_per_dependency_level_and_equals_one_job_per_call(monkeypatch):
    from qrkt_qiskit.training import TrainConfig
    from qrkt_qiskit.training.runs import build_model

    torch.manual_seed(0)
    model = build_model(TrainConfig(quantum=True)).double().eval()  # the demo model: 15 layers, 60 calls
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    to_backend(model, "aer")  # exact: the two paths must agree to rounding
    jobs = []
    monkeypatch.setattr(backends.BatchingEstimator, "_run",
                        lambda self, pubs, run=backends.BatchingEstimator._run: jobs.append(len(pubs)) or run(self, pubs))
    with torch.no_grad():
        one_per_call = model(x)
        assert len(jobs) == 60
        jobs.clear()
        by_level = levels.by_level(model, x)
    assert len(jobs) == 24 and sum(jobs) == 60  # 6 stages x (Q, K, V and the MLP together; then the output map)
    assert torch.allclose(by_level, one_per_call, atol=1e-12, rtol=0)


def test_sampled_outputs_by_level_agree_with_one_job_per_call_within_shot_noise():
    model, x = _parallel(3), torch.rand(4, 3, dtype=torch.float64)
    model.double()
    shots = 20_000
    to_backend(model, "aer-shots", shots=shots, seed=11)
    with torch.no_grad():
        per_call, by_level = model(x), levels.by_level(model, x)
    # outputs are averages of logits of sampled ±1 values: 5 sigma of two independent estimates
    assert (per_call - by_level).abs().max() < 5 * math.sqrt(2) * 3 / math.sqrt(shots)


def test_a_backward_through_runtime_broadcasts_its_observables_and_matches_the_exact_noisy_gradient(sent):
    torch.manual_seed(4)
    layer = QuantumLayer(3, ansatz="basic")
    x = torch.rand(2, 3, dtype=torch.float64)
    shots, profile = 40_000, dict(device="fake-manila", seed=3)
    layer.double().to_backend("ibm", shots=shots, resilience_level=0, allow_hardware_training=True, **profile)
    layer(x).sum().backward()
    sampled = layer.weight.grad.clone()
    executions, shapes = sent[1]  # the gradient's one job
    shifts = 2 * sum(1 for i in layer._placement.prepared.circuit.data
                     for p in i.operation.params if getattr(p, "parameters", None))
    assert shapes == [(1, 2 * shifts)]  # one PUB: 3 observables broadcast, so 1/3 of one PUB per observable
    assert executions == shots * 2 * shifts
    layer.weight.grad = None
    layer.to_backend("ibm", simulator="native", shots=None, **profile)  # the same ISA circuit, exact noisy values
    layer(x).sum().backward()
    exact = layer.weight.grad
    # each gradient entry sums 2 samples x 3 outputs x its shifted pairs, each pair (f+ - f-)/2 of shot means
    pairs = shifts / layer.ansatz.n_weights
    sigma = 3 * math.sqrt(2 * pairs * 0.5 / shots)
    assert (sampled - exact).abs().max() < 5 * sigma


def test_over_budget_nothing_is_sent(sent):
    layer = QuantumLayer(3).eval().to_backend("ibm", device="fake-manila", shots=4096, max_qpu_seconds=1)
    with pytest.raises(BudgetExceededError, match=r"^backend 'ibm': this call is 1 job\(s\), 4 parameter sets, "
                                                  r"[\d,]+ executions, ~[\d.]+ QPU-seconds, and with 0\.0 QPU-seconds "
                                                  r"already spent in this process that exceeds max_qpu_seconds = 1; "
                                                  r"nothing was submitted"):
        with torch.no_grad():
            layer(torch.rand(4, 3))
    assert sent == []


def test_training_on_hardware_needs_the_opt_in_and_says_what_a_step_costs(sent):
    layer = QuantumLayer(3).to_backend("ibm", device="fake-manila", shots=4096)
    x = torch.rand(4, 3)
    with pytest.raises(BudgetExceededError, match=r"^training through backend 'ibm' runs on IBM hardware: this "
                                                  r"layer's forward pass and parameter-shift gradient on 4 sample\(s\) "
                                                  r"alone are 2 job\(s\), \d+ parameter sets, [\d,]+ executions, "
                                                  r"~[\d.]+ QPU-seconds( \([\d.]+ min\))?; set allow_hardware_training = true"):
        layer(x)
    layer.eval()  # evaluating is allowed, but a backward pass is training too
    out = layer(x)
    with pytest.raises(BudgetExceededError, match=r"^a backward pass through backend 'ibm' runs the parameter-shift "
                                                  r"gradient on IBM hardware .*; nothing was submitted for it"):
        out.sum().backward()
    assert len(sent) == 1  # the evaluation's forward job only


def test_every_override_reaches_the_submitted_options(sent):
    import argparse

    from qrkt_qiskit.cli.profile_options import add_profile_options, profile_overrides

    parser = argparse.ArgumentParser()
    add_profile_options(parser)
    args = parser.parse_args(["--device", "fake-manila", "--shots", "300", "--resilience-level", "2", "--twirling",
                              "--dd", "XpXm", "--rep-delay", "0.0002", "--max-execution-time", "600", "--seed", "9",
                              "--layout-seed", "21", "--set", "execution=job", "--set", "optimization_level=2"])
    layer = QuantumLayer(2).eval().to_backend("ibm", **profile_overrides(args))
    with torch.no_grad():
        layer(torch.rand(1, 2))
    opened = backends.execution.execution_of(layer.profile)
    options = opened.primitive.options
    assert options.default_shots == 300 and options.resilience_level == 2 and options.twirling.enable_gates
    assert options.dynamical_decoupling.enable and options.dynamical_decoupling.sequence_type == "XpXm"
    assert options.execution.rep_delay == 0.0002 and options.max_execution_time == 600
    assert options.simulator.seed_simulator == 9 and opened.mode is None  # job mode: no Batch or Session
    setup = backends.devices.device_setup(layer.profile)
    assert layer.profile.option("layout_seed") == 21 and layer.profile.option("optimization_level") == 2
    other = backends.devices.device_setup(get_profile("ibm", device="fake-manila"))
    assert setup.pass_manager is not other.pass_manager


def test_a_new_sampling_seed_keeps_the_layout():
    a = backends.fit(get_profile("ibm", device="fake-lagos", seed=7), QuantumLayer(4).ansatz)
    b = backends.fit(get_profile("ibm", device="fake-lagos", seed=1234), QuantumLayer(4).ansatz)
    assert a.circuit is b.circuit  # one transpilation: the seed only draws the shots


def test_options_that_do_not_apply_are_refused():
    with pytest.raises(ValueError, match=r"^backend 'ibm': key 'noise_scale' applies only to simulator = 'native', "
                                         r"and this profile runs on simulator = 'runtime'"):
        get_profile("ibm", device="fake-manila", noise_scale=2.0)
    with pytest.raises(ValueError, match=r"^backend 'ibm': key 'twirling' applies only to simulator = "
                                         r"'runtime', and this profile runs on simulator = 'native'"):
        get_profile("ibm", device="fake-manila", simulator="native", twirling=True)
    with pytest.raises(ValueError, match=r"unknown key 'twirl' for a 'ibm' profile; accepted keys: "):
        get_profile("ibm", twirl=True)


def test_the_too_wide_refusal_on_ibm_advises_what_the_profile_takes():
    from qrkt_qiskit.engine.lowering import UnsupportedCircuitError

    with pytest.raises(UnsupportedCircuitError, match=r"use simulator='runtime' \(the device itself\), or Aer through "
                                                      r"backend 'fake-guadalupe' with simulator='aer'"):
        QuantumLayer(11).to_backend("ibm", device="fake-guadalupe", simulator="native", shots=None)


@pytest.fixture
def run_dir(rk1_run_copy):
    return rk1_run_copy


IBM = ["--backend", "ibm", "--device", "fake-nairobi", "--shots", "64", "--seed", "5", "--resilience-level", "0",
       "--limit", "2", "--batch-size", "1"]


def test_an_evaluation_over_budget_sends_nothing(run_dir, sent, capsys):
    assert main(["evaluate", str(run_dir), *IBM, "--max-qpu-seconds", "10"]) == 2
    err = capsys.readouterr().err
    assert "evaluating 2 images on backend 'ibm' is estimated at " in err
    assert "above max_qpu_seconds = 10; nothing was submitted" in err
    assert sent == []


def test_an_interrupted_hardware_evaluation_resumes_without_sending_finished_jobs(run_dir, sent, monkeypatch, capsys):
    from qiskit_ibm_runtime.executor import Executor

    assert main(["evaluate", str(run_dir), *IBM]) == 0
    whole, first = len(sent), capsys.readouterr().out
    assert "estimate on ibm: " in first and f"jobs_sent={whole}" in first and "jobs_reused=0" in first
    record = run_dir / "ibm-jobs" / "ibm-test-best"
    (record / "jobs.json").unlink()  # a fresh journal, stopped after three jobs
    for f in (record / "results").iterdir():
        f.unlink()
    sent.clear()
    run = Executor.run

    def stop_after_three(self, program, *args, **kwargs):
        if len(sent) == 3:
            raise KeyboardInterrupt
        return run(self, program, *args, **kwargs)

    monkeypatch.setattr(Executor, "run", stop_after_three)
    assert main(["evaluate", str(run_dir), *IBM]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"qrkt evaluate: interrupted: the 3 finished job(s) are kept in {record}: run the same command again to send "
        "only the rest")
    monkeypatch.setattr(Executor, "run", run)
    sent.clear()
    assert main(["evaluate", str(run_dir), *IBM]) == 0
    again = capsys.readouterr().out
    assert len(sent) == whole - 3 and f"jobs_reused=3" in again
    metrics = lambda line: [part for part in line.split() if part.split("=")[0] in ("accuracy", "loss", "f1")]
    assert metrics(again.splitlines()[-1]) == metrics(first.splitlines()[-1])  # the same numbers as uninterrupted
