"""TransGAN and QRKT-GAN: every preset builds and draws, sizes count as documented."""

import dataclasses

import pytest
import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models import ODEBlock, QuantumSpec, TransformerLayer, VisionTransformer
from qrkt_qiskit.models.gan import GAN_PRESETS, GANConfig, Generator, UpConv, discriminator, gan_config
from qrkt_qiskit.training.gan_report import gan_summary

# Both presets' structure (stage depths, heads, ratios, dropout) at a width a test can afford.
TINY = {"small": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
        "thesis": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1),
        "cpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
        "gpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1)}


@pytest.mark.parametrize("preset", list(GAN_PRESETS))
@pytest.mark.parametrize("quantum", [None, QuantumSpec(max_qubits=8)], ids=["transgan", "qrkt"])
def test_every_preset_draws_images_in_range_and_its_critic_scores_them(preset, quantum):
    # every parameter's gradient: tests/models/test_models.py, over every model
    torch.manual_seed(0)
    config = gan_config(preset, quantum=quantum, dropout=0.0, **TINY[preset])
    generator, critic = Generator(config), discriminator(config)
    with torch.no_grad():
        images = generator(torch.randn(2, config.latent_dim))
        scores = critic(images)
    assert images.shape == (2, 1, 32, 32) and (images.abs().max() <= 1 or not config.output_tanh)
    assert config.output_tanh or preset == "gpu"  # cpu has tanh since issue 35
    assert scores.shape == (2, 1) and torch.isfinite(scores).all()


def test_qrkt_gan_is_transgan_with_circuits_and_an_rk4_enh_last_stage():
    transgan, qrkt = gan_config("small"), gan_config("small", quantum=QuantumSpec())
    assert (transgan.kind, qrkt.kind, qrkt.ode) == ("TransGAN", "QRKT-GAN", "rk4_enh")
    generator = Generator(qrkt)
    assert all(isinstance(b, TransformerLayer) for stage in generator.stages[:-1] for b in stage)
    assert [type(b) for b in generator.stages[-1]] == [ODEBlock] and generator.stages[-1][0].method == "rk4_enh"
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
    (dict(decoder="upconv"), r"image_size=32 must be bottom·2\^\(stages-1\) = 8·2\^2·2 \(the upconv decoder\) = 64"),
    (dict(decoder="deconv"), r"unknown decoder 'deconv'; choose one of: conv1x1, upconv"),
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

    config = gan_config("small", quantum=QuantumSpec(max_qubits=16))
    assert GANConfig(**dataclasses.asdict(config)) == config


def test_only_the_last_block_is_an_ode_block_when_the_last_stage_has_several():
    generator = Generator(gan_config("thesis", quantum=QuantumSpec(max_qubits=8), **TINY["thesis"]))
    blocks = [b for stage in generator.stages for b in stage]
    assert [isinstance(b, ODEBlock) for b in blocks] == [False] * (len(blocks) - 1) + [True]  # depths 5/4/2


def _transformer_layer(d: int, ratio: int) -> int:
    # two LayerNorms (4d), Q/K/V/output maps with biases 4(d² + d), MLP d -> rd -> d: 2r·d² + (r + 1)d
    return 4 * d + 4 * (d * d + d) + 2 * ratio * d * d + (ratio + 1) * d


def test_the_cpu_preset_has_its_hand_derived_parameter_counts():
    c = GAN_PRESETS["cpu"]
    assert (c.latent_dim, c.widths, c.depths, c.heads, c.mlp_ratio, c.decoder) == (128, (128, 32), (2, 2), 4, 2, "upconv")
    generator = (128 * 64 * 128 + 64 * 128  # latent -> 8×8 tokens of width 128
                 + 64 * 128 + 256 * 32  # positional embeddings of the two stages
                 + 2 * _transformer_layer(128, 2) + 2 * _transformer_layer(32, 2)
                 + (32 * 16 * 9 + 16) + (16 * 9 + 1))  # upconv: 3×3 convolutions 32 -> 16 -> 1 channel
    critic = (16 * 96 + 96 + 96 + 65 * 96  # 4×4 patches -> 96, CLS token, 64 + 1 positions
              + 2 * _transformer_layer(96, 2) + 2 * 96 + 96 + 1)  # blocks, final LayerNorm, one-logit head
    assert (generator, critic) == (1_359_969, 157_825)
    assert sum(p.numel() for p in Generator(c).parameters()) == generator
    assert sum(p.numel() for p in discriminator(c).parameters()) == critic


def test_qrkt_gan_cpu_has_one_rk4_enh_block_the_last_of_its_last_stage_and_quantum_maps():
    generator = Generator(gan_config("cpu", quantum=QuantumSpec()))
    last = [getattr(b, "block", b) for b in generator.stages[-1]]  # Windowed wraps the 16×16 stage's blocks
    odes = [b for stage in generator.stages for b in stage for b in [getattr(b, "block", b)] if isinstance(b, ODEBlock)]
    assert odes == [last[-1]] and last[-1].method == "rk4_enh" and isinstance(last[0], TransformerLayer)
    assert any(isinstance(m, QuantumLayer) for m in last[-1].modules())
    assert isinstance(generator.to_image, UpConv)


def test_the_upconv_decoder_draws_no_checkerboard_from_a_constant_grid():
    """Every output pixel of a constant token grid gets the same value away from the border: no 2×2 pattern."""
    torch.manual_seed(0)
    out = UpConv(8, 1)(torch.ones(1, 8, 6, 6))
    inner = out[0, 0, 2:-2, 2:-2]  # two 3×3 convolutions: the zero padding reaches 2 pixels in
    assert torch.allclose(inner, inner[0, 0].expand_as(inner), atol=1e-6)


def test_runs_saved_before_the_decoder_existed_build_the_old_generator():
    old = {k: v for k, v in dataclasses.asdict(gan_config("small")).items() if k != "decoder"}
    generator = Generator(GANConfig(**old))
    assert isinstance(generator.to_image, torch.nn.Conv2d) and generator.to_image.kernel_size == (1, 1)


def test_the_cpu_preset_windows_the_wide_stages_and_starts_as_transgan():
    from qrkt_qiskit.models.windowed import Windowed

    generator = Generator(GAN_PRESETS["cpu"])
    assert [[isinstance(b, Windowed) for b in stage] for stage in generator.stages] == [[False, False], [True, True]]
    weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, torch.nn.Linear)])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001  # normal(0, 0.02), cut at ±2
    assert all((m.bias == 0).all() for m in generator.modules() if isinstance(m, torch.nn.Linear))
