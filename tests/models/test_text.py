"""The text transformer: padding changes nothing, the thesis presets, it learns (its gradients: test_models.py)."""

import pytest
import torch

from qrkt_qiskit.models import ODE_METHODS, QuantumSpec, TextConfig, TextTransformer, text_config
from qrkt_qiskit.resources import resource_report
from qrkt_qiskit.training import TrainConfig, train

from ..text_data import write_csv

SMALL = dict(vocab_size=50, max_length=512)


def _padded(ids: list[int], length: int) -> torch.Tensor:
    return torch.tensor(ids + [0] * (length - len(ids)))


@pytest.mark.parametrize("quantum", [None, QuantumSpec()], ids=["classical", "quantum"])
@pytest.mark.parametrize("ode", ["rk4_enh", "none"])
def test_padding_to_64_or_512_gives_the_same_logits(quantum, ode):
    torch.manual_seed(0)
    preset = "imdb" if quantum is None else "imdb-quantum"
    model = TextTransformer(text_config(preset, quantum=quantum, ode=ode, blocks=2, **SMALL)).eval()
    review, other = [2, 17, 9, 33, 5, 3], [2] + list(range(4, 50)) + [3]
    short = model(torch.stack([_padded(review, 64), _padded(other, 64)]))
    long = model(torch.stack([_padded(review, 512), _padded(other, 512)]))
    alone = model(_padded(review, 512)[None])
    assert torch.allclose(short, long, atol=1e-6) and torch.allclose(alone[0], long[0], atol=1e-6)
    assert not torch.allclose(short[0], short[1])


def test_thesis_presets_count_as_derived():
    classical = TextTransformer(text_config("imdb"))
    # Embeddings 12·(20000 + 512); attention 4·(12·12 + 12); MLP (12·6 + 6) + (6·12 + 12); two
    # LayerNorms in the block and one before the head; the head 12·2 + 2.
    assert sum(p.numel() for p in classical.parameters()) == 12 * 20512 + 624 + 162 + 3 * 24 + 26
    quantum = TextTransformer(text_config("imdb-quantum", quantum=QuantumSpec()))
    report = resource_report(quantum, torch.ones(1, 512, dtype=torch.int64))
    # One F runs Q, K, V and output circuits of 6 qubits and a 4-qubit QMLP; rk4_enh runs F 4 times.
    assert report.qubit_total == 4 * (4 * 6 + 4) and report.quantum_weights == 4 * 6 + 4


def test_mistakes_are_one_sentence():
    with pytest.raises(ValueError, match=r"dim=12 must be a positive multiple of heads=5"):
        TextConfig(heads=5)
    with pytest.raises(ValueError, match=r"unknown model 'sst2'; choose one of: imdb, imdb-quantum"):
        text_config("sst2")
    with pytest.raises(ValueError, match=r"unknown ode 'rk5'; choose one of: "):
        TextConfig(ode="rk5")
    with pytest.raises(ValueError, match=r"unknown norm 'post'; choose one of: pre, entry"):
        TextConfig(norm="post")
    with pytest.raises(ValueError, match=r"pad_id=9 is not a token id of a vocabulary of 9"):
        TextConfig(vocab_size=9, pad_id=9)
    model = TextTransformer(TextConfig(vocab_size=20, max_length=8))
    with pytest.raises(ValueError, match=r"expected token ids of shape \(B, T\) with T <= 8, got \(2, 9\)"):
        model(torch.ones(2, 9, dtype=torch.int64))
    assert ODE_METHODS  # the same methods as the vision model's


def test_learns_synthetic_sentiment_well_above_chance(tmp_path):
    """The sentiment words decide the label; the rest is neutral filler."""
    config = TrainConfig(dataset="imdb", data_root=str(write_csv(tmp_path / "data", 600, 200)), quantum=False,
                         epochs=5, batch_size=32, lr=1e-2, max_length=32, vocab_size=1000)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["test_accuracy"] > 0.85 and summary["test_auc"] > 0.9  # chance: 0.5
    assert (tmp_path / "run" / "tokenizer.json").is_file()


def test_a_text_run_resumes_and_loads_with_its_saved_tokenizer(tmp_path):
    from qrkt_qiskit.training import load_model
    from qrkt_qiskit.training.runs import load_data

    config = TrainConfig(dataset="imdb", data_root=str(write_csv(tmp_path / "data", 100, 20)), quantum=True,
                         epochs=2, batch_size=32, max_length=24, vocab_size=300)

    def stop(step):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False, on_step=stop)
    saved = (tmp_path / "run" / "tokenizer.json").read_text()
    train(config, tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "tokenizer.json").read_text() == saved  # reloaded, not retrained
    _, model = load_model(tmp_path / "run")
    x, y = load_data(config, tmp_path / "run").test
    assert model(x).shape == (20, 2) and len(y) == 20
