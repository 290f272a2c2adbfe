"""The circuit options a researcher tries, and the element-wise classical control, each with its parameter count."""

import math

import pytest
import torch
from torch import nn

from qrkt_qiskit import QuantumLayer
from qrkt_qiskit.engine import dependencies
from qrkt_qiskit.models.quantum import Diagonal, DiagonalSpec, OutputScale, QuantumSpec
from qrkt_qiskit.training.config import TrainConfig
from qrkt_qiskit.training.runs import build_model


def _count(**options) -> int:
    return sum(p.numel() for p in build_model(TrainConfig(dataset="mnist", **options)).parameters())


def test_every_option_reports_its_parameter_count():
    # the thesis' 3-block MNIST model: 81 qubits in its distinct layers, so 81 circuit weights
    classical, quantum = _count(quantum=False), _count(quantum=True)
    assert quantum == classical - 423  # 21 % fewer: dense maps replaced by element-wise circuits
    assert _count(quantum=True, ansatz="qrkt-2n") == quantum + 81  # a second weight per qubit
    assert _count(quantum=True, ansatz="qrkt-reupload") == quantum + 81  # a scale per input
    assert _count(quantum=True, circuit_layers=2) == quantum + 81
    assert _count(quantum=True, output_scale=True) == quantum + 81  # a gain per circuit output
    assert _count(quantum=False, elementwise=True) == quantum + 81  # a·x + b where a circuit has one weight


def test_the_element_wise_control_puts_a_diagonal_map_wherever_a_circuit_was():
    config = TrainConfig(dataset="digits", quantum=False, elementwise=True)
    model = build_model(config)
    assert not any(isinstance(m, QuantumLayer) for m in model.modules())
    diagonals = [m for m in model.modules() if isinstance(m, Diagonal)]
    quantum = build_model(TrainConfig(dataset="digits", quantum=True))
    assert len(diagonals) == sum(isinstance(m, QuantumLayer) for m in quantum.modules())
    x = torch.rand(5, 6, requires_grad=True)
    jac = torch.autograd.functional.jacobian(diagonals[0], x[0])
    assert torch.count_nonzero(jac - torch.diag(torch.diagonal(jac))) == 0  # each output reads its own input
    assert TrainConfig.from_dict(config.to_dict()).model_config().quantum == DiagonalSpec()
    assert QuantumSpec.read({"kind": "diagonal"}) == DiagonalSpec()


def test_option_mistakes_are_one_sentence():
    with pytest.raises(ValueError, match="--elementwise is the classical control of a quantum model; use it with --classical"):
        TrainConfig(quantum=True, elementwise=True)
    with pytest.raises(ValueError, match="unknown init 'zeros'; choose one of: uniform, normal"):
        QuantumLayer(3, init="zeros")
    with pytest.raises(ValueError, match="unknown weight init 'zeros'; choose one of: uniform, normal"):
        QuantumSpec(init="zeros")


def test_normal_init_starts_near_zero_with_the_xavier_spread():
    torch.manual_seed(0)
    weights = torch.cat([QuantumLayer(8, layers=2, init="normal").weight.detach() for _ in range(200)])
    assert abs(weights.mean()) < 0.02 and weights.std().item() == pytest.approx(math.sqrt(2 / (2 + 8)), rel=0.05)
    uniform = torch.cat([QuantumLayer(8).weight.detach() for _ in range(50)])
    assert 0 <= uniform.min() and uniform.max() < 2 * math.pi


def test_reuploading_starts_at_the_plain_encoding_and_learns_its_scales():
    layer = QuantumLayer(3, ansatz="qrkt-reupload", initial_weights=torch.zeros(6))
    plain = QuantumLayer(3, initial_weights=torch.zeros(3))
    x = torch.rand(4, 3)
    torch.testing.assert_close(layer(x), plain(x))  # s = 0: RY((1 + 0)·x)
    layer(x).sum().backward()
    assert layer.weight.grad[:3].abs().min() > 0  # the scales get gradients
    assert not dependencies(layer.ansatz).elementwise


def test_an_output_scale_lets_circuit_outputs_leave_minus_one_to_one():
    spec = QuantumSpec(output_scale=True)
    from qrkt_qiskit.models.quantum import vqc

    module = vqc(4, spec)
    assert isinstance(module, nn.Sequential) and isinstance(module[1], OutputScale)
    with torch.no_grad():
        module[1].gain.fill_(3.0)
    assert module(torch.rand(2, 4)).abs().max() > 1
