"""noise_study: one model across backends, shots and noise scales, written as CSV, markdown and a plot."""

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.noise_study import accuracy, noise_study


def _model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), QuantumLayer(3), nn.Linear(3, 3))
    inputs = torch.randn(40, 4)
    with torch.no_grad():
        targets = model(inputs).argmax(-1)  # the exact model scores 1.0
    return model, inputs, targets


def test_rows_files_and_the_effect_of_noise(tmp_path):
    model, inputs, targets = _model_and_data()
    rows = noise_study(model, inputs, targets, backends=["aer-shots", "fake-manila"], shots=[64, 1024],
                       noise_scales=[0.0, 1.0, 3.0], out_dir=tmp_path / "study", batch_size=20)
    assert [(r.backend, r.shots, r.noise_scale) for r in rows] == [
        ("native", None, None), ("aer-shots", 64, None), ("aer-shots", 1024, None),
        ("fake-manila", 64, 0.0), ("fake-manila", 64, 1.0), ("fake-manila", 64, 3.0),
        ("fake-manila", 1024, 0.0), ("fake-manila", 1024, 1.0), ("fake-manila", 1024, 3.0)]
    assert rows[0].metric == 1.0 and rows[0].output_error == 0.0
    error = {(r.backend, r.shots, r.noise_scale): r.output_error for r in rows}
    assert error["aer-shots", 1024, None] < error["aer-shots", 64, None]  # shot noise shrinks with shots
    assert error["fake-manila", 1024, 0.0] < error["fake-manila", 1024, 1.0] < error["fake-manila", 1024, 3.0]
    assert all(r.delta == pytest.approx(r.metric - 1.0) for r in rows)
    with open(tmp_path / "study" / "noise_study.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and float(table[-1]["accuracy"]) == pytest.approx(rows[-1].metric)
    assert (tmp_path / "study" / "noise_study.md").read_text().count("\n") == len(rows) + 2
    assert (tmp_path / "study" / "noise_study.png").read_bytes()[:4] == b"\x89PNG"
    assert {m.backend for m in model.modules() if isinstance(m, QuantumLayer)} == {"native"}  # restored


def test_errors_come_before_any_work(tmp_path):
    model, inputs, targets = _model_and_data()
    with pytest.raises(ValueError, match="unknown fake device 'manilla' for backend 'fake-manilla'"):
        noise_study(model, inputs, targets, backends=["fake-manilla"], out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="inputs and targets must have the same length, got 40 and 39"):
        noise_study(model, inputs, targets[:-1], backends=["aer"], out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_accuracy():
    assert accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 0.5


@pytest.mark.parametrize("stop", ["interrupt", "failure"])
def test_a_row_that_is_interrupted_or_fails_keeps_the_rows_finished_before_it(tmp_path, stop):
    import os
    import signal

    from qrkt_qiskit.errors import Interrupted

    model, inputs, targets = _model_and_data()
    calls = []

    def metric(outputs, targets):  # the third row (aer, 128 shots) is where it stops
        calls.append(len(calls))
        if len(calls) == 3 and stop == "interrupt":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the CLI also turns SIGTERM into
        if len(calls) == 3 and stop == "failure":
            raise ZeroDivisionError("the metric failed")
        return accuracy(outputs, targets)

    with pytest.raises(Interrupted if stop == "interrupt" else ZeroDivisionError) as stopped:
        noise_study(model, inputs, targets, backends=["aer"], shots=[None, 128, 1024], out_dir=tmp_path / "study",
                    metric=metric)
    kept = f"the 2 finished row(s) of 4 are in {tmp_path / 'study'}"
    assert (str(stopped.value) if stop == "interrupt" else stopped.value.__notes__) == (
        kept if stop == "interrupt" else [kept])
    with open(tmp_path / "study" / "noise_study.csv") as f:
        assert [(r["backend"], r["shots"]) for r in csv.DictReader(f)] == [("native", ""), ("aer", "")]
    assert (tmp_path / "study" / "noise_study.md").read_text().count("\n") == 2 + 2


def test_resilience_levels_and_calibration_on_a_native_device_profile(tmp_path):
    model, inputs, targets = _model_and_data()
    rows = noise_study(model, inputs, targets, backends=["fake-lagos"], shots=[None], resilience_levels=[0, 1],
                       calibration_inputs=torch.randn(8, 4), out_dir=tmp_path)
    assert [(r.simulator, r.resilience, r.calibration) for r in rows[1:]] == [
        ("native", level, k) for level in (0, 1) for k in (None, 8)]
    error = {(r.resilience, r.calibration): r.output_error for r in rows[1:]}
    assert error[1, None] < error[0, None]  # TREX removes most of fake-lagos' readout error
    assert error[0, 8] < error[0, None]  # so does a calibration
    calibrated = [r.calibration_file for r in rows if r.calibration]
    assert calibrated[0] == str(tmp_path / "calibrations" / "fake-lagos-exact-ns1-rl0-k8.json")
    assert all(Path(f).is_file() for f in calibrated)
    assert "| 8 images |" in (tmp_path / "noise_study.md").read_text()
    with pytest.raises(ValueError, match=r"^uncalibrated=False leaves only calibrated rows, so it needs "
                                         r"calibration_inputs$"):
        noise_study(model, inputs, targets, backends=["fake-lagos"], uncalibrated=False, out_dir=tmp_path)
