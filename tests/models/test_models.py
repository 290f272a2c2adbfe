"""Every model the project builds, at a small size: the output has its shape and is finite, and every named
parameter gets a finite, non-zero gradient (timm's ``test_model_backward``).

One test catches an unregistered module, a dead branch or a parameter no path reads, in any model.
"""

import pytest
import torch

from qrkt_qiskit.evaluation.classifier_score import DigitClassifier
from qrkt_qiskit.models import (GAN_PRESETS, ODE_METHODS, QuantumSpec, Generator, discriminator, gan_config,
                                text_config, text_model, vision_model, vit_config)
from qrkt_qiskit.models.quantum import DiagonalSpec

QUANTUM = QuantumSpec()
QUANTUMS = {"classical": None, "quantum": QUANTUM}
# Each GAN preset's structure (stage depths, windows, heads, ratios) at a width a test can afford.
TINY_GAN = {"small": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
            "thesis": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1),
            "cpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
            "gpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1)}
TINY_TEXT = dict(vocab_size=30, max_length=16)


def _images(channels: int, size: int):
    return lambda: torch.randn(3, channels, size, size)


def _ids():
    return torch.randint(1, TINY_TEXT["vocab_size"], (3, TINY_TEXT["max_length"]))


def _vision(name: str, quantum, **overrides):
    return pytest.param(lambda: vision_model(vit_config("digits", quantum=quantum, **overrides)), _images(1, 8),
                        (3, 10), id=f"vit-{name}")


def _text(name: str, preset: str, quantum, **overrides):
    return pytest.param(lambda: text_model(text_config(preset, quantum=quantum, **TINY_TEXT, **overrides)), _ids,
                        (3, 2), id=f"text-{name}")


def _gan(preset: str, kind: str, quantum):
    config = gan_config(preset, quantum=quantum, dropout=0.0, **TINY_GAN[preset])
    return [pytest.param(lambda: Generator(config), lambda: torch.randn(3, config.latent_dim), (3, 1, 32, 32),
                         id=f"generator-{preset}-{kind}"),
            pytest.param(lambda: discriminator(config), _images(1, 32), (3, 1), id=f"critic-{preset}-{kind}")]


MODELS = [_vision(f"{ode}-{kind}", q, ode=ode, blocks=2)
          for ode in ODE_METHODS + ("none",) for kind, q in QUANTUMS.items()]
MODELS += [_vision("mean-pool-basic-2-layers-split", QuantumSpec(ansatz="basic", layers=2, max_qubits=4), pool="mean",
                   blocks=2),
           _vision("mean-pool-classical", None, ode="rk2", pool="mean", blocks=2),
           _vision("circuit-options", QuantumSpec(ansatz="qrkt-reupload", post_norm=True, output_scale=True), blocks=1),
           _vision("elementwise", DiagonalSpec(), blocks=1)]
MODELS += [_vision(f"thesis-{kind}", q, arch="thesis", ode="rk4") for kind, q in QUANTUMS.items()]
MODELS += [_text(f"{ode}-{kind}", "imdb", q, ode=ode)
           for ode in ("rk1", "rk4_enh", "none") for kind, q in QUANTUMS.items()]
MODELS += [_text(f"thesis-{kind}", "imdb-quantum", q, arch="thesis", decoders=2) for kind, q in QUANTUMS.items()]
MODELS += [p for preset in GAN_PRESETS for kind, q in (("transgan", None), ("qrkt", QuantumSpec(max_qubits=8)))
           for p in _gan(preset, kind, q)]
MODELS += [pytest.param(lambda: DigitClassifier(channels=1, size=8), _images(1, 8), (3, 10), id="digit-classifier")]


@pytest.mark.parametrize(("build", "make_input", "shape"), MODELS)
def test_model_backward(build, make_input, shape):
    torch.manual_seed(0)
    model = build()
    out = model(make_input())
    assert out.shape == shape and torch.isfinite(out).all()
    out.square().sum().backward()
    parameters = dict(model.named_parameters())
    assert parameters
    for name, p in parameters.items():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
