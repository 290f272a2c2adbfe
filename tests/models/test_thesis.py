"""``--arch thesis``: the author's classifier reproduces the thesis' parameter and qubit counts, from built models."""

import pytest
import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models.thesis import ThesisViT
from qrkt_qiskit.training.config import TrainConfig
from qrkt_qiskit.training.runs import build_model

ODES = ("rk1", "rk2", "rk3", "rk4", "rk4_enh")


def _counts(**options) -> tuple[int, int]:
    model = build_model(TrainConfig(dataset="mnist", arch="thesis", **options))
    assert isinstance(model, ThesisViT)
    qubits = sum(m.ansatz.n_qubits for m in model.modules() if isinstance(m, QuantumLayer))  # the thesis' "qubits"
    return sum(p.numel() for p in model.parameters()), qubits


@pytest.mark.parametrize("ode, parameters, qubits", zip(ODES, (2872, 3088, 3304, 3520, 3520), (114, 195, 276, 357, 357)))
def test_quantum_mnist_matches_table_5(ode, parameters, qubits):
    assert _counts(quantum=True, ode=ode) == (parameters, qubits)


@pytest.mark.parametrize("ode, decoders, parameters", [("rk1", 1, 3472), ("rk2", 3, 4693), ("rk3", 3, 5332),
                                                       ("rk4", 3, 5971), ("rk4_enh", 3, 5971)])
def test_classical_mnist_matches_table_3_with_the_decoders_each_row_needs(ode, decoders, parameters):
    assert _counts(quantum=False, ode=ode, decoders=decoders) == (parameters, 0)


@pytest.mark.parametrize("ode, parameters", zip(ODES, (3733, 3946, 4159, 4372, 4372)))
def test_one_block_classical_mnist_matches_table_1_with_three_encoders(ode, parameters):
    assert _counts(quantum=False, ode=ode, model="mnist-1block", encoders=3) == (parameters, 0)


def test_the_thesis_arch_trains_and_its_stages_have_their_own_weights():
    torch.manual_seed(0)
    model = build_model(TrainConfig(dataset="digits", arch="thesis", ode="rk4"))
    block = model.blocks[0]
    assert not block.shared and len(block.attentions) == len(block.mlps) == 4
    images = torch.rand(5, 1, 8, 8)
    logits = model(images)
    assert logits.shape == (5, 10)
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_thesis_arch_mistakes_are_one_sentence():
    with pytest.raises(ValueError, match="--arch thesis is built for the vision classifier"):
        TrainConfig(dataset="imdb", arch="thesis")
    with pytest.raises(ValueError, match="encoders must be >= 0 and decoders >= 1, got 0 and 0"):
        TrainConfig(arch="thesis", decoders=0)
