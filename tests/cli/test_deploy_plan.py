"""`qrkt deploy-plan`: the front, the plan file `qrkt evaluate --plan` runs, and every refusal in one sentence."""

import csv
import json
import shutil

import pytest

from qrkt_qiskit.cli import main


@pytest.fixture(scope="module")
def planned(rk1_run, tmp_path_factory):
    """A plan without calibration for the first 12 test images on fake-nairobi, and its directory.

    On a copy of the session's run: `qrkt evaluate --plan` writes into the run, which other tests copy.
    """
    run = shutil.copytree(rk1_run, tmp_path_factory.mktemp("run") / "rk1-run")
    out = tmp_path_factory.mktemp("plan") / "fake-nairobi"
    assert main(["deploy-plan", str(run), "--backend", "fake-nairobi", "--limit", "12", "--shots", "64", "256",
                 "--resilience", "0", "1", "--no-calibration", "--out", str(out)]) == 0
    return run, out


def _last_evaluation(run_dir):
    with open(run_dir / "evaluations.csv") as f:
        return list(csv.DictReader(f))[-1]


def test_the_plan_runs_through_evaluate_and_scores_what_was_predicted(planned, capsys):
    run, out = planned
    with open(out / "deploy_plan.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["shots"], r["resilience_level"], r["calibration"]) for r in rows) == [
        ("256", "0", "0"), ("256", "1", "0"), ("64", "0", "0"), ("64", "1", "0")]
    assert "| shots | resilience level | calibration | predicted accuracy | QPU-minutes |" in (
        out / "deploy_plan.md").read_text()
    assert (out / "deploy_plan.png").read_bytes()[:4] == b"\x89PNG" and (out / "noise-study" / "noise_study.csv").is_file()
    plan = json.loads((out / "plan.json").read_text())
    assert (plan["backend"], plan["images"], plan["calibration_file"], plan["seed"]) == ("fake-nairobi", 12, None, 1235)
    assert main(["evaluate", str(run), "--plan", str(out / "plan.json"), "--limit", "12"]) == 0
    row = _last_evaluation(run)
    # the plan's accuracy was evaluated afresh at seed 1235, as evaluate --plan runs it: the same draws
    assert (row["shots"], row["seed"], float(row["accuracy"])) == (str(plan["shots"]), "1235",
                                                                    pytest.approx(plan["predicted_accuracy"], abs=1e-6))
    assert row["options"] == f"resilience_level={plan['resilience_level']}" and row["plan"] == str(out / "plan.json")


def test_a_calibrated_plan_applies_its_calibration(run_dir, tmp_path):
    out = tmp_path / "plan"
    assert main(["deploy-plan", str(run_dir), "--backend", "fake-lagos", "--limit", "6", "--shots", "64",
                 "--resilience", "0", "--calibration-samples", "4", "--out", str(out)]) == 0
    with open(out / "deploy_plan.csv") as f:
        calibrated = [r for r in csv.DictReader(f) if r["calibration"] == "4"]
    assert len(calibrated) == 1 and calibrated[0]["calibration_file"].endswith("fake-lagos-64shots-ns1-rl0-k4.json")
    plan = json.loads((out / "plan.json").read_text())
    plan.update(calibration_samples=4, calibration_file="noise-study/calibrations/fake-lagos-64shots-ns1-rl0-k4.json")
    (out / "plan.json").write_text(json.dumps({"format": "qrkt-deploy-plan/1", **plan}))
    assert main(["evaluate", str(run_dir), "--plan", str(out / "plan.json"), "--limit", "6"]) == 0
    assert _last_evaluation(run_dir)["calibration"] == str(out / "plan.json").replace("plan.json",
                                                                                     plan["calibration_file"])


def _edited(planned, path, **changes):
    _, out = planned
    plan = json.loads((out / "plan.json").read_text())
    plan.update(changes)
    path.write_text(json.dumps(plan))
    return path


def test_evaluate_refuses_what_contradicts_the_plan_in_one_sentence(planned, tmp_path, capsys):
    run, out = planned
    plan, path = json.loads((out / "plan.json").read_text()), out / "plan.json"
    shots = 256 if plan["shots"] == 64 else 64
    cases = [
        (["--plan", str(path), "--shots", str(shots)],
         f"{path} sets --shots {plan['shots']}, so --shots {shots} contradicts it; drop --shots, or make another plan "
         "with qrkt deploy-plan"),
        (["--plan", str(path), "--backend", "fake-lagos"],
         f"{path} sets --backend fake-nairobi, so --backend fake-lagos contradicts it; drop --backend, or make another "
         "plan with qrkt deploy-plan"),
        (["--plan", str(path), "--calibration", str(tmp_path / "c.json")],
         f"{path} plans no calibration, so --calibration contradicts it; drop --calibration, or make another plan with "
         "qrkt deploy-plan"),
        (["--plan", str(_edited(planned, tmp_path / "other.json", checkpoint_sha256="0" * 64))],
         f"{tmp_path / 'other.json'} is a plan for other weights ({plan['run_dir']}, checkpoint best), not {run}'s best "
         f"checkpoint; make one for this run with qrkt deploy-plan {run} --backend fake-nairobi"),
        (["--plan", str(_edited(planned, tmp_path / "ibm.json", backend="ibm", kind="ibm", calibration_samples=8))],
         f"{tmp_path / 'ibm.json'} plans a calibration on 8 images fitted on the device: fit it with qrkt calibrate "
         f"{run} --backend ibm --samples 8 --shots {plan['shots']} --resilience-level {plan['resilience_level']} and "
         "pass its file with --calibration"),
        (["--plan", str(tmp_path / "none.json")], f"no deployment plan at {tmp_path / 'none.json'}"),
    ]
    for options, message in cases:
        assert main(["evaluate", str(run), *options]) == 2
        assert capsys.readouterr().err.strip() == f"qrkt evaluate: error: {message}"


def test_deploy_plan_refuses_in_one_sentence(run_dir, tmp_path, capsys):
    post_norm = tmp_path / "post-norm"
    shutil.copytree(run_dir, post_norm)
    text = (post_norm / "config.json").read_text()
    (post_norm / "config.json").write_text(text.replace('"post_norm": false', '"post_norm": true'))
    cases = [
        ([str(run_dir), "--backend", "fake-nairobi", "--budget-qpu-minutes", "0"],
         "--budget-qpu-minutes must be positive, got 0"),
        ([str(run_dir), "--backend", "fake-nairobi", "--noise-scale", "-1"], "--noise-scale must be at least 0, got -1"),
        ([str(run_dir), "--backend", "fake-nairobi", "--calibration-samples", "100000"],
         "--calibration-samples 100000 exceeds the 1258 training images"),
        ([str(run_dir), "--backend", "aer", "--limit", "2"],
         "a deployment plan is for a device: 'aer' is a profile of kind 'aer'; name fake-<device>, or an ibm profile "
         "for an IBM device"),
        ([str(post_norm), "--backend", "fake-nairobi", "--no-calibration"],
         "this model normalises its circuits' outputs over the batch (--post-norm), which one image at a time does not "
         "have, so it needs a calibration; drop --no-calibration"),
    ]
    for options, message in cases:
        assert main(["deploy-plan", *options]) == 2
        assert capsys.readouterr().err.strip() == f"qrkt deploy-plan: error: {message}"


def test_when_nothing_fits_the_budget_it_says_what_would(run_dir, tmp_path, capsys):
    out = tmp_path / "tight"
    assert main(["deploy-plan", str(run_dir), "--backend", "fake-nairobi", "--limit", "4", "--shots", "64",
                 "--resilience", "0", "--no-calibration", "--budget-qpu-minutes", "0.01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "No setting fits 0.01 QPU-minutes: the cheapest (64 shots, resilience level 0, no calibration) needs " in printed
    assert " for 4 images at 25 circuit executions per image, so about " in printed and not (out / "plan.json").exists()


def test_deploy_plan_help_reads_like_a_manual(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["deploy-plan", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "predict" in out and "--budget-qpu-minutes M" in out and "qrkt evaluate RUN_DIR --plan" in out
