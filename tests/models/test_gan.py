"""TransGAN and QRKT-GAN: both presets build, every parameter trains, sizes count as documented."""

import pytest
import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models import ODEBlock, QuantumSpec, TransformerLayer, VisionTransformer
from qrkt_qiskit.models.gan import GAN_PRESETS, GANConfig, Generator, discriminator, gan_config, gan_summary

# Both presets' structure (stage depths, heads, ratios, dropout) at a width a test can afford.
TINY = {"small": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
        "thesis": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1)}


@pytest.mark.parametrize("preset", list(GAN_PRESETS))
@pytest.mark.parametrize("quantum", [None, QuantumSpec(max_qubits=8)], ids=["transgan", "qrkt"])
def test_every_parameter_of_both_networks_gets_a_gradient(preset, quantum):
    torch.manual_seed(0)
    config = gan_config(preset, quantum=quantum, dropout=0.0, **TINY[preset])
    generator, critic = Generator(config), discriminator(config)
    images = generator(torch.randn(2, config.latent_dim))
    assert images.shape == (2, 1, 32, 32) and images.abs().max() <= 1
    scores = critic(images)
    assert scores.shape == (2, 1) and torch.isfinite(scores).all()
    scores.square().sum().backward()
    for net in (generator, critic):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_qrkt_gan_is_transgan_with_circuits_and_an_rk4_enh_last_stage():
    transgan, qrkt = gan_config("small"), gan_config("small", quantum=QuantumSpec())
    assert (transgan.kind, qrkt.kind, qrkt.ode) == ("TransGAN", "QRKT-GAN", "rk4_enh")
    generator = Generator(qrkt)
    assert all(isinstance(b, TransformerLayer) for stage in generator.stages[:-1] for b in stage)
    assert all(isinstance(b, ODEBlock) and b.method == "rk4_enh" for b in generator.stages[-1])
    critic = discriminator(qrkt)
    assert isinstance(critic, VisionTransformer) and critic.config.ode == "none" and critic.config.pool == "cls"
    assert any(isinstance(m, QuantumLayer) for m in critic.modules())
    assert not any(isinstance(m, QuantumLayer) for m in Generator(transgan).modules())


def test_thesis_preset_has_the_thesis_settings():
    c = GAN_PRESETS["thesis"]
    assert (c.dim, c.depths, c.heads, c.mlp_ratio, c.dropout, c.latent_dim) == (384, (5, 4, 2), 4, 4, 0.5, 1024)
    assert c.widths == (384, 96, 24) and c.image_size == 32 and c.d_patch == 4


def test_three_channel_images_and_the_stage_widths():
    config = gan_config("small", channels=3, dim=32, heads=2, latent_dim=4, d_dim=4)
    assert Generator(config)(torch.randn(3, 4)).shape == (3, 3, 32, 32)
    assert discriminator(config)(torch.zeros(3, 3, 32, 32)).shape == (3, 1)


def test_qubit_totals_count_every_circuit_call():
    """Generator: 8-wide layer (4 maps × 8 + QMLP 8) + rk4_enh at width 2 (4 stages × (4 × 2 + 2)); critic: 40."""
    config = gan_config("small", quantum=QuantumSpec(), image_size=8, bottom=4, depths=(1, 1), dim=8, heads=2,
                        latent_dim=4, mlp_ratio=1, d_dim=8, d_patch=2)
    summary = gan_summary(config)
    assert (summary["generator_qubits"], summary["critic_qubits"], summary["widest_circuit"]) == (40 + 40, 40, 8)
    classical = gan_summary(gan_config("small", quantum=None, **{k: getattr(config, k) for k in
                                                                ("image_size", "bottom", "depths", "dim", "heads",
                                                                 "latent_dim", "mlp_ratio", "d_dim", "d_patch")}))
    assert "generator_qubits" not in classical
    assert summary["generator_parameters"] < classical["generator_parameters"]  # an n-qubit circuit has n weights


@pytest.mark.parametrize(("overrides", "match"), [
    (dict(image_size=16), r"image_size=16 must be bottom·2\^\(stages-1\) = 8·2\^2 = 32"),
    (dict(dim=40), r"dim=40 must be a multiple of 4\^\(stages-1\)·heads = 64"),
    (dict(depths=(2, 0, 1)), r"depths must be one or more positive block counts"),
    (dict(ode="euler"), r"unknown ode 'euler'; choose one of: rk1, rk2"),
    (dict(channels=2), r"channels must be 1 or 3, got 2"),
    (dict(d_patch=5), r"image_size=32 is not a multiple of d_patch=5"),
    (dict(d_dim=30), r"d_dim=30 must be a multiple of heads=4"),
])
def test_bad_configurations_are_refused_in_one_sentence(overrides, match):
    with pytest.raises(ValueError, match=match):
        gan_config("small", **overrides)


def test_unknown_preset_and_bad_noise_are_refused():
    with pytest.raises(ValueError, match=r"unknown GAN preset 'huge'; choose one of: thesis, small"):
        gan_config("huge")
    with pytest.raises(ValueError, match=r"expected noise of shape \(B, 64\), got \(2, 3\)"):
        Generator(GAN_PRESETS["small"])(torch.zeros(2, 3))


def test_config_round_trips_through_a_dict():
    import dataclasses

    config = gan_config("small", quantum=QuantumSpec(max_qubits=16))
    assert GANConfig(**dataclasses.asdict(config)) == config
