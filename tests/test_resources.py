"""resource_report: circuits, qubits and weights of any model, and what they cost on a device."""

import argparse

import numpy as np
import pytest
import torch
from torch import nn

from qrkt_qiskit.cli import resources as cli_resources
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear
from qrkt_qiskit.resources import resource_report


class _SharedStages(nn.Module):
    """An RK4-like block: one layer called by four stages."""

    def __init__(self, width):
        super().__init__()
        self.f = QuantumLayer(width)

    def forward(self, y):
        for _ in range(4):
            y = y + self.f(y)
        return y


def _model():
    return nn.Sequential(nn.Linear(8, 4), _SharedStages(4), QuantumLinear(4, 6, 3), nn.Linear(6, 2))


def test_counts_follow_the_forward_pass_and_the_thesis_qubit_total():
    model = _model()
    report = resource_report(model, torch.rand(1, 8))
    assert report.layer_calls == 4 + 2 and report.quantum_layers == 3
    assert report.qubit_total == 4 * 4 + 3 + 3  # the shared layer counts once per stage
    assert report.distinct_qubits == 4 + 3 + 3 and report.widest_circuit == 4
    assert report.circuits_per_inference == 6 and report.tokens is None
    assert report.quantum_weights == 4 + 3 + 3
    assert report.quantum_weights + report.classical_parameters == sum(p.numel() for p in model.parameters())
    by_width = {c.n_qubits: c for c in report.circuits}
    assert (by_width[4].modules, by_width[4].calls, by_width[3].modules, by_width[3].calls) == (1, 4, 2, 2)
    assert by_width[4].two_qubit_gates == 4 and by_width[4].device_depth is None


def test_tokens_are_inferred_and_a_batch_is_divided_out():
    report = resource_report(_model(), torch.rand(3, 5, 8))
    assert report.tokens == 5 and report.circuits_per_inference == 6 * 5 and report.circuits_per_token == 6


def test_the_model_keeps_its_backends_and_mode_and_nothing_is_submitted():
    model = _model().train()
    layer = model[1].f.to_backend("aer")
    resource_report(model, torch.rand(1, 8))
    assert layer.backend == "aer" and layer._placement._qnn is None and model.training


def test_device_profile_adds_transpiled_cost_shots_and_jobs():
    model = _model()
    report = resource_report(model, torch.rand(1, 8), "fake-manila", shots=1000, seed=3,
                             dataset_size=100, batch_size=25)
    for c in report.circuits:
        assert c.device_depth > c.depth and c.device_two_qubit_gates >= c.two_qubit_gates
    # four stages, each reading the one before, then QuantumLinear's two circuits together: five levels, a job each
    assert report.shots_per_inference == 6 * 1000 and report.jobs_per_inference == 5
    assert report.dataset_cost().jobs == 4 * 5 and report.dataset_cost().parameter_sets == 100 * 6
    assert report.cost(25, training=True).jobs == 5 + 6  # forward levels, then one gradient job per call
    text = report.to_markdown()
    assert "| qubit total (thesis: Σ width over calls) | 22 |" in text and "device 2-qubit gates" in text


def test_the_training_estimate_is_what_the_parameter_shift_gradient_runs():
    layer = QuantumLayer(3, backend="estimator")
    x = torch.rand(2, 3, requires_grad=True)
    layer(x)
    estimator = layer._placement.qnn.estimator
    run, evaluated = estimator._call, []

    def counting(pubs):  # the real estimator, counting the circuits (one per parameter set) it runs
        evaluated.append(sum(int(np.prod(p[2].shape[:-1])) for p in pubs))
        return run(pubs)

    estimator._call = counting
    layer(x).sum().backward()
    report = resource_report(layer, torch.rand(1, 3), "estimator", dataset_size=2, batch_size=2)
    assert sum(evaluated) == report.cost(2, training=True).parameter_sets


def test_errors():
    with pytest.raises(ValueError, match="Sequential has no QuantumLayer, so it evaluates no circuit"):
        resource_report(nn.Sequential(nn.Linear(2, 2)), torch.rand(1, 2))
    with pytest.raises(ValueError, match="a 6-qubit circuit does not fit backend 'fake-manila', which has 5 qubits"):
        resource_report(QuantumLayer(6), torch.rand(1, 6), "fake-manila")


def test_cli_prints_the_report(capsys):
    parser = argparse.ArgumentParser(prog="qrkt")
    cli_resources.add_parser(parser.add_subparsers())
    args = parser.parse_args(["resources", "--widths", "6,4", "--n-qubits", "2", "--tokens", "3",
                              "--backend", "fake-manila", "--shots", "100", "--dataset-size", "10"])
    args.func(args)
    out = capsys.readouterr().out
    assert "| circuits per inference | 6 |" in out and "| shots per inference (circuits × shots) | 600 |" in out
    with pytest.raises(ValueError, match=r"backend options \(shots\) need --backend naming the profile they change"):
        args.func(parser.parse_args(["resources", "--shots", "10"]))


def test_the_report_says_what_each_circuit_computes():
    model = nn.Sequential(QuantumLayer(4), nn.Linear(4, 3), QuantumLayer(3, ansatz="basic"))
    report = resource_report(model, torch.rand(1, 4))
    text = report.to_markdown()
    assert "| qrkt | 1/4 outputs mix | 4 |" in text and "| basic | 3/3 outputs mix | 3 |" in text
    assert "- qrkt (4 qubits): 1 of 4 outputs mix inputs (output 0 reads inputs 0, 3)" in text
    assert report.circuits[0].computes.outputs[1].strings == ((1.0, "X1"),)
