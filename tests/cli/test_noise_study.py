"""`qrkt noise-study`: one run across backends, shots and noise scales; stopped, it keeps its finished rows."""

import csv
import os
import subprocess
import sys

import pytest

from qrkt_qiskit.cli import main


def test_noise_study_of_a_run(run_dir, capsys):
    assert main(["noise-study", str(run_dir), "--backends", "aer", "fake-nairobi", "--shots", "512",
                 "--noise-scale", "0", "1", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "| native | native |" in out and "| fake-nairobi | fake |" in out
    names = {p.name for p in (run_dir / "noise-study").iterdir()}
    assert names == {"noise_study.csv", "noise_study.md", "noise_study.png"}
    assert main(["noise-study", str(run_dir), "--backends", "fake-nowhere"]) == 2
    assert "fake-nowhere" in capsys.readouterr().err


def test_sigterm_stops_a_noise_study_in_one_line_keeping_its_finished_rows(run_dir, tmp_path):
    import signal

    shots = [str(s) for s in range(100, 140)]  # 40 rows: far more than run before the signal lands
    study = subprocess.Popen([sys.executable, "-m", "qrkt_qiskit", "noise-study", str(run_dir), "--backends", "aer",
                              "--shots", *shots, "--aer-check", "0", "--limit", "4", "--out", str(tmp_path / "s")],
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ,
                                                                                                "OMP_NUM_THREADS": "1"})
    seen = ""
    while "aer (101 shots): " not in seen:  # the first aer row is done (one line per finished bar: not a terminal)
        seen += study.stderr.readline() or pytest.fail(f"the study ended early: {seen}")
    study.send_signal(signal.SIGTERM)
    err = seen + study.stderr.read()
    assert study.wait(timeout=120) == 130
    last = err.replace("\r", "\n").splitlines()[-1]
    assert last.startswith("qrkt noise-study: interrupted: the ") and last.endswith(
        f" finished row(s) of 41 are in {tmp_path / 's'}")
    with open(tmp_path / "s" / "noise_study.csv") as f:
        assert len(list(csv.DictReader(f))) == int(last.split("the ")[1].split(" ")[0]) >= 2


def test_noise_study_with_resilience_levels_and_calibration_on_a_fake_device(run_dir, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["noise-study", str(run_dir), "--backends", "fake-lagos", "--shots", "exact", "--resilience", "0", "1",
                 "--calibration-samples", "4", "--limit", "6", "--aer-check", "0", "--out", str(out)]) == 0
    with open(out / "noise_study.csv") as f:
        rows = [(r["resilience"], r["calibration"]) for r in csv.DictReader(f)][1:]
    assert rows == [("0", ""), ("0", "4"), ("1", ""), ("1", "4")]
    assert (out / "calibrations" / "fake-lagos-exact-ns1-rl1-k4.json").is_file()
    capsys.readouterr()
    assert main(["noise-study", str(run_dir), "--backends", "fake-lagos", "--calibration-samples", "100000"]) == 2
    assert capsys.readouterr().err.strip() == ("qrkt noise-study: error: --calibration-samples 100000 exceeds the 1258 "
                                               "training images")
