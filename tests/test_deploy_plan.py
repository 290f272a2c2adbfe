"""deploy_plan: the Pareto front, the plan within a budget, what would fit, and the QPU time of each setting."""

import itertools
import random

import pytest
import torch
from torch import nn

from qrkt_qiskit.deploy import PlanFile, PlanRow, choose, deploy_plan, pareto_front
from qrkt_qiskit.deploy.sweep import finish, pricing_profile, setting_costs
from qrkt_qiskit.backends import Cost, get_profile
from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.resources import resource_report


def _rows(n=40, seed=0):
    rng = random.Random(seed)
    settings = itertools.product((32, 64, 128, 256, 512), (0, 1, 2), (0, 16))
    return [PlanRow(s, level, k, rng.random(), rng.uniform(10, 2000), 1, 1) for s, level, k in
            itertools.islice(settings, n)]


def test_the_front_is_non_dominated_and_the_plan_is_the_cheapest_within_one_error_of_the_best_in_budget():
    rows = _rows()
    front = set(pareto_front(rows))
    for i, r in enumerate(rows):
        beaten = any(o.qpu_seconds <= r.qpu_seconds and o.accuracy >= r.accuracy and o != r for o in rows)
        assert (i in front) == (not beaten)
    plan = finish(rows, backend="fake-lagos", noise_scale=1.0, budget_minutes=10, exact_accuracy=0.9, images=359,
                  circuits_per_image=10)
    assert [r.qpu_seconds for r in plan.rows] == sorted(r.qpu_seconds for r in rows)  # cheapest first
    assert {(r.shots, r.resilience_level, r.calibration) for r in plan.front} == {
        (rows[i].shots, rows[i].resilience_level, rows[i].calibration) for i in front}
    within = [r for r in rows if r.minutes <= 10]
    best = max(r.accuracy for r in within)
    assert plan.chosen.minutes <= 10 and plan.chosen.pareto and plan.advice is None
    assert plan.chosen.accuracy >= best - (best * (1 - best) / 359) ** 0.5
    assert all(r.qpu_seconds >= plan.chosen.qpu_seconds for r in within if r.accuracy >= plan.chosen.accuracy)
    assert choose(rows, None, 359).accuracy >= max(r.accuracy for r in rows) - 0.03  # no budget: the best, give or take


def test_no_setting_in_the_budget_says_what_would_fit():
    rows = [PlanRow(32, 0, 0, 0.5, 960.0, 24, 3_446_400), PlanRow(64, 0, 0, 0.7, 1900.0, 24, 6_892_800)]
    plan = finish(rows, backend="fake-lagos", noise_scale=1.0, budget_minutes=10, exact_accuracy=0.86, images=359,
                  circuits_per_image=300)
    assert plan.chosen is None and choose(rows, 10, 359) is None
    assert plan.advice == (
        "no setting fits 10 QPU-minutes: the cheapest (32 shots, resilience level 0, no calibration) needs 16.0 for "
        "359 images at 300 circuit executions per image, so about 187 executions per image (a leaner model: fewer "
        "blocks, --ode rk1, fewer tokens; `qrkt resources` counts them) or about 20 shots would fit, or 224 images")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 2), QuantumLayer(2), nn.Linear(2, 3))


def test_predicted_minutes_are_the_qpu_time_model_s_for_each_setting():
    model, x = _model(), torch.rand(30, 4)
    base = get_profile("fake-manila")
    costs = setting_costs(model, x, base, [64], [0, 2], calibration=4, batch_size=16)
    for (shots, level, k), (seconds, jobs, executions) in costs.items():
        report = resource_report(model, x[:1], pricing_profile(base, shots, level), dataset_size=30, batch_size=16)
        expected = report.dataset_cost() + (report.cost(k) if k else Cost())
        assert (seconds, jobs, executions) == pytest.approx(
            (expected.qpu_seconds, expected.jobs, expected.executions), rel=1e-12)
    assert costs[64, 2, 0][2] > 3 * costs[64, 0, 0][2]  # ZNE's three noise factors, counted by Runtime's preparation
    assert costs[64, 0, 4][1] == costs[64, 0, 0][1] + 1  # the calibration's images: one job more


def test_deploy_plan_refuses_in_one_sentence(tmp_path):
    model, x, y = _model(), torch.rand(4, 4), torch.randint(0, 3, (4,))
    with pytest.raises(ValueError, match=r"^a deployment plan is for a device: 'aer' is a profile of kind 'aer'; "
                                         r"name fake-<device>, or an ibm profile for an IBM device$"):
        deploy_plan(model, x, y, backend="aer", out_dir=tmp_path)
    model[1].post_norm = True
    with pytest.raises(ValueError, match=r"^this model normalises its circuits' outputs over the batch \(post_norm\), "
                                         r"which one image at a time does not have: plan it with calibration only$"):
        deploy_plan(model, x, y, backend="fake-manila", out_dir=tmp_path)


def test_a_plan_file_round_trips_and_refuses_what_is_not_one(tmp_path):
    plan = PlanFile("fake-lagos", "fake", "lagos", 256, 1, 1.0, 1234, 32, "noise-study/calibrations/c.json", 0.81, 0.83,
                    4.2, 359, "test", 10.0, "/runs/x", "best", "ab" * 32, "0.1.0")
    plan.save(tmp_path / "plan.json")
    loaded = PlanFile.load(tmp_path / "plan.json")
    assert loaded == plan and loaded.calibration_path(tmp_path / "plan.json") == tmp_path / plan.calibration_file
    assert loaded.overrides() == {"shots": 256, "resilience_level": 1, "simulator": "native", "noise_scale": 1.0,
                                  "seed": 1234}
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'bad.json'} is not a deployment plan written by qrkt "
                                         r"deploy-plan: its format is not 'qrkt-deploy-plan/1'$"):
        PlanFile.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match=rf"^no deployment plan at {tmp_path / 'none.json'}$"):
        PlanFile.load(tmp_path / "none.json")
