"""`qrkt calibrate`: a run's per-output maps fitted on a device, written beside the checkpoint, used by `qrkt evaluate`."""

import csv
import json
import shutil

from qrkt_qiskit.cli import main


def test_calibrate_writes_beside_the_checkpoint_and_evaluate_uses_it_one_image_at_a_time(run_dir, tmp_path, capsys):
    run_dir = shutil.copytree(run_dir, tmp_path / "run")  # the shared run's evaluations.csv is other tests' too
    assert main(["calibrate", str(run_dir), "--backend", "fake-lagos", "--samples", "4", "--exact"]) == 0
    out = capsys.readouterr().out
    path = run_dir / "calibrations" / "fake-lagos-exact-k4.json"
    assert f"written to {path}" in out and "calibration: 4 images on fake-lagos: 5 layer(s) moments, scale " in out
    stored = json.loads(path.read_text())
    assert (stored["samples"], len(stored["indices"]), stored["backend"]["shots"]) == (4, 4, None)
    assert main(["evaluate", str(run_dir), "--backend", "fake-lagos", "--exact", "--batch-size", "1", "--limit", "3",
                 "--calibration", str(path)]) == 0
    with open(run_dir / "evaluations.csv") as f:
        row = list(csv.DictReader(f))[-1]
    assert (row["calibration"], row["images"]) == (str(path), "3")


def test_calibrate_refuses_in_one_sentence(run_dir, tmp_path, capsys):
    assert main(["calibrate", str(run_dir), "--backend", "fake-lagos", "--samples", "100000"]) == 2
    assert capsys.readouterr().err.strip() == "qrkt calibrate: error: --samples 100000 exceeds the 1258 training images"
    assert main(["calibrate", str(run_dir), "--backend", "fake-lagos", "--exact", "--shots", "64"]) == 2
    assert capsys.readouterr().err.strip() == "qrkt calibrate: error: --exact and --shots contradict each other; give one"
    assert main(["evaluate", str(run_dir), "--backend", "fake-lagos", "--calibration", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.strip() == f"qrkt evaluate: error: no calibration at {tmp_path / 'none.json'}"


def test_calibrate_on_ibm_prints_the_cost_first_and_refuses_it_above_the_budget(run_dir, capsys):
    assert main(["calibrate", str(run_dir), "--backend", "ibm", "--device", "fake-lagos", "--samples", "2",
                 "--max-qpu-seconds", "0.01"]) == 2
    captured = capsys.readouterr()
    assert "estimate on ibm: " in captured.out and " for 2 images (docs/ibm.md says what is assumed)" in captured.out
    assert captured.err.startswith("qrkt calibrate: error: calibrating on 2 images on backend 'ibm' is estimated at ")
    assert captured.err.strip().endswith("above max_qpu_seconds = 0.01; nothing was submitted (use fewer --samples, "
                                         "--shots, or a larger --max-qpu-seconds)")


def test_a_classical_run_has_nothing_to_calibrate(tmp_path, capsys):
    run = tmp_path / "classical"
    assert main(["train", "--classical", "--blocks", "1", "--epochs", "1", "--batch-size", "256", "--no-progress",
                 "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["calibrate", str(run), "--backend", "fake-lagos"]) == 2
    assert capsys.readouterr().err.strip() == (f"qrkt calibrate: error: {run} holds a classical model: it has no "
                                               "quantum output to calibrate")


def test_calibrate_help_reads_like_a_manual(capsys):
    try:
        main(["calibrate", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "Fit, without retraining, an affine map per quantum output" in out and "--samples K" in out
