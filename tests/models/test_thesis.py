"""``--arch thesis``: the author's classifier reproduces the thesis' parameter and qubit counts, from built models."""

import pytest
import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models.thesis import ThesisText, ThesisViT
from qrkt_qiskit.training.config import TrainConfig
from qrkt_qiskit.training.runs import build_model

ODES = ("rk1", "rk2", "rk3", "rk4", "rk4_enh")


def _counts(**options) -> tuple[int, int]:
    model = build_model(TrainConfig(dataset="mnist", arch="thesis", **options))
    assert isinstance(model, ThesisViT)
    qubits = sum(m.ansatz.n_qubits for m in model.modules() if isinstance(m, QuantumLayer))  # the thesis' "qubits"
    return sum(p.numel() for p in model.parameters()), qubits


@pytest.mark.parametrize("ode, parameters, qubits", list(zip(ODES, (2872, 3088, 3304, 3520, 3520), (114, 195, 276, 357, 357))))
def test_quantum_mnist_matches_table_5(ode, parameters, qubits):
    assert _counts(quantum=True, ode=ode) == (parameters, qubits)


@pytest.mark.parametrize("ode, decoders, parameters", [("rk1", 1, 3472), ("rk2", 3, 4693), ("rk3", 3, 5332),
                                                       ("rk4", 3, 5971), ("rk4_enh", 3, 5971)])
def test_classical_mnist_matches_table_3_with_the_decoders_each_row_needs(ode, decoders, parameters):
    assert _counts(quantum=False, ode=ode, decoders=decoders) == (parameters, 0)


@pytest.mark.parametrize("ode, parameters", list(zip(ODES, (3733, 3946, 4159, 4372, 4372))))
def test_one_block_classical_mnist_matches_table_1_with_three_encoders(ode, parameters):
    assert _counts(quantum=False, ode=ode, model="mnist-1block", encoders=3) == (parameters, 0)


def test_the_thesis_arch_stages_have_their_own_weights():
    torch.manual_seed(0)
    model = build_model(TrainConfig(dataset="digits", arch="thesis", ode="rk4"))
    block = model.blocks[0]
    assert not block.shared and len(block.attentions) == len(block.mlps) == 4
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)


def _text_counts(**options) -> tuple[int, int]:
    model = build_model(TrainConfig(dataset="imdb", arch="thesis", **options))
    assert isinstance(model, ThesisText)
    qubits = sum(m.ansatz.n_qubits for m in model.modules() if isinstance(m, QuantumLayer))
    return sum(p.numel() for p in model.parameters()), qubits


def test_quantum_imdb_matches_table_12_with_a_3_wide_qmlp_and_the_inferred_vocabulary():
    # 2 · 6 · (19,776 + 512) embeddings + 4 stages of (24 + 48) + norms 24 + decoder 114 + head 14
    assert _text_counts(quantum=True, mlp_dim=3, vocab_size=19_776) == (243_896, 141)


def test_classical_imdb_matches_table_12_with_three_decoders_and_the_inferred_vocabulary():
    assert _text_counts(quantum=False, decoders=3, vocab_size=20_032) == (499_316, 0)


def test_padding_changes_nothing_in_the_thesis_text_model():
    torch.manual_seed(0)
    model = build_model(TrainConfig(dataset="imdb", arch="thesis", vocab_size=50, max_length=12, dim=6, heads=2,
                                    decoders=2)).eval()
    ids = torch.randint(1, 50, (3, 7))
    padded = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], 1)
    torch.testing.assert_close(model(padded), model(ids), rtol=1e-5, atol=1e-6)


def test_thesis_arch_mistakes_are_one_sentence():
    with pytest.raises(ValueError, match="encoders must be >= 0 and decoders >= 1, got 0 and 0"):
        TrainConfig(arch="thesis", decoders=0)
