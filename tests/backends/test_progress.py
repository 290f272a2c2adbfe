"""`circuit_progress`: circuits and jobs counted off the exact engine, one bar per phase."""

import torch
from torch import nn

from qrkt_qiskit.layers import QuantumLayer


def test_circuit_progress_counts_circuits_and_jobs_off_the_exact_engine(capsys):
    from qrkt_qiskit.backends import circuit_progress

    model = nn.Sequential(QuantumLayer(2), QuantumLayer(2))
    with circuit_progress("exact") as meter:
        model(torch.rand(3, 2))
    assert (meter.circuits, meter.jobs, meter.bar) == (0, 0, None)  # nothing ran off the engine: no bar at all
    model[1].to_backend("estimator")
    with circuit_progress("on the estimator") as meter:
        model(torch.rand(3, 2))
        model(torch.rand(4, 2))
    assert (meter.circuits, meter.jobs) == (7, 2)  # one circuit per sample, one job per layer call
    # the bar, opened by the first call; written as one line where stderr is no terminal
    assert "on the estimator: 7 done in " in capsys.readouterr().err
