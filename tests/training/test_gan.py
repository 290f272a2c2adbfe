"""GAN training: the WGAN-GP-ε objective, the n_critic schedule, DiffAugment, EMA and exact resumption."""

import csv
import json
import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from qrkt_qiskit.models import QuantumSpec
from qrkt_qiskit.models.gan import gan_config
from qrkt_qiskit.training import augment, gan, gan_losses, load_checkpoint, save_checkpoint
from qrkt_qiskit.training.augment import diff_augment, parse_policy
from qrkt_qiskit.training.gan import GANTrainConfig, ema_decay, ema_update, extended, load_generator, train_gan
from qrkt_qiskit.training.gan_losses import critic_loss, gradient_penalty


def tiny_model(quantum=None, **overrides):
    """8×8 images from 4×4 tokens: two stages, widths 8 and 2."""
    return gan_config("small", quantum=quantum, **{**dict(image_size=8, bottom=4, depths=(1, 1), dim=8, heads=2,
                                                          latent_dim=8, mlp_ratio=1, d_dim=8, d_patch=2), **overrides})


def tiny_run(quantum=None, **overrides):
    """The thesis recipe (WGAN-GP, n_critic 5), which these tests were written for; the cpu recipe's are in
    test_gan_recipes.py."""
    return GANTrainConfig(**{**dict(model=tiny_model(quantum), recipe="thesis", dataset="digits", limit=48,
                                    batch_size=8, epochs=2, grid=4), **overrides})


class LinearCritic(nn.Module):
    def __init__(self, weight, bias=0.0):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight.flatten()), nn.Parameter(torch.tensor(bias))

    def forward(self, x):
        return (x.flatten(1) @ self.weight + self.bias).unsqueeze(1)


def test_gradient_penalty_of_a_linear_critic_is_the_squared_distance_of_its_norm_to_phi():
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])  # ‖w‖ = 5 whatever the point: GP = (5 − φ)²
    critic, real, fake = LinearCritic(w), torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(critic, real, fake, phi=2.0).item() == pytest.approx(9.0)
    gradient_penalty(critic, real, fake).backward()  # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖
    assert torch.allclose(critic.weight.grad, 2 * 4 * w.flatten() / 5)


def test_gradient_penalty_is_taken_at_the_interpolate():
    """D(x) = ½‖x‖²: ∇D(x̂) = x̂, so GP = mean((‖α·real + (1−α)·fake‖ − 1)²), computed by hand."""
    real, fake, alpha = torch.tensor([[3.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, -2.0]]), torch.tensor([0.5, 0.25])
    critic = lambda x: 0.5 * x.square().sum(1, keepdim=True)  # noqa: E731
    by_hand = ((1.5 - 1) ** 2 + (1.0 - 1) ** 2) / 2  # x̂ = (1.5, 0) and (0, −1)
    assert gradient_penalty(critic, real, fake, alpha=alpha).item() == pytest.approx(by_hand)


def test_critic_loss_has_the_drift_term_on_the_squared_mean_real_score():
    w = torch.tensor([3.0, 4.0])
    critic = LinearCritic(w, bias=1.0)
    real, fake = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    d_real, d_fake = (7 + 1 + 6 + 1) / 2, (0 + 1 + 3 + 1) / 2  # E[D(x)] = 7.5, E[D(G(z))] = 2.5
    loss, parts = critic_loss(critic, real, fake, gp_weight=10.0, drift=1e-3)
    assert loss.item() == pytest.approx(d_fake - d_real + 10 * 16 + 1e-3 * d_real**2)
    assert parts["wasserstein"] == pytest.approx(5.0) and parts["gp"] == pytest.approx(16.0)
    no_drift, _ = critic_loss(critic, real, fake, gp_weight=10.0, drift=0.0)
    assert (loss - no_drift).item() == pytest.approx(1e-3 * 7.5**2, rel=1e-3)  # float32 cancellation


def test_r1_of_a_linear_critic_is_its_squared_weight_norm_and_the_ns_loss_is_by_hand():
    w = torch.tensor([3.0, 4.0])
    critic = LinearCritic(w, bias=1.0)
    real, fake = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    assert gan_losses.r1_penalty(critic, real).item() == pytest.approx(25.0)  # ∇D = w everywhere
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    d_real, d_fake = (8.0, 7.0), (1.0, 4.0)
    by_hand = sum(softplus(v) for v in d_fake) / 2 + sum(softplus(-v) for v in d_real) / 2
    loss, parts = gan_losses.ns_critic_loss(critic, real, fake, r1_weight=0.5)
    assert loss.item() == pytest.approx(by_hand + 0.5 * 25.0, rel=1e-5)
    assert parts["gp"] == pytest.approx(25.0) and parts["wasserstein"] == pytest.approx(5.0)
    lazy, parts = gan_losses.ns_critic_loss(critic, real, fake, r1_weight=0.0)
    assert lazy.item() == pytest.approx(by_hand, rel=1e-5) and parts["gp"] == 0.0


def test_an_ns_r1_run_applies_r1_lazily_and_trains(tmp_path):
    config = tiny_run(epochs=1, limit=64, loss="ns-r1", n_critic=1, r1_every=4)  # 8 critic steps
    seen = []
    original = gan.ns_critic_loss

    def spy(critic, real, fake, *, r1_weight):
        seen.append(r1_weight)
        return original(critic, real, fake, r1_weight=r1_weight)

    gan.ns_critic_loss = spy
    try:
        summary = train_gan(config, tmp_path / "run", progress=False)
    finally:
        gan.ns_critic_loss = original
    assert seen == [0.0, 0.0, 0.0, 2.0] * 2  # γ/2 · every = 1/2 · 4 on steps 4 and 8
    assert summary["critic_steps"] == summary["generator_steps"] == 8
    with pytest.raises(ValueError, match="unknown loss 'hinge'; choose one of: wgan-gp, ns-r1"):
        tiny_run(loss="hinge")


def test_n_critic_really_alternates_five_critic_steps_per_generator_step(tmp_path):
    steps = []
    config = tiny_run(epochs=2, limit=64)  # 8 critic steps per epoch: 16 in all

    first = (16 * 8, 8)  # the generator's first parameter: to_tokens, latent 8 -> 4×4 tokens of width 8

    def count(optimizer, args, kwargs):
        steps.append("G" if optimizer.param_groups[0]["params"][0].shape == first else "D")

    handle = register_optimizer_step_post_hook(count)
    try:
        summary = train_gan(config, tmp_path / "run", progress=False)
    finally:
        handle.remove()
    assert "".join(steps) == "DDDDDG" * 3 + "D"
    assert (summary["critic_steps"], summary["generator_steps"]) == (16, 3)


def test_every_augmentation_keeps_shapes_and_passes_gradients():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 8, 8, requires_grad=True)
    for policy in ("color", "translation", "cutout", "color,translation,cutout"):
        y = diff_augment(x, policy)
        assert y.shape == x.shape
        (grad,) = torch.autograd.grad(y.square().sum(), x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, policy
    assert diff_augment(x, "none") is x


def test_translation_and_cutout_move_and_blank_pixels():
    torch.manual_seed(1)
    x = torch.ones(64, 1, 8, 8)
    shifted = diff_augment(x, "translation")  # shifts up to 1 pixel, zero-filled
    assert set(shifted.unique().tolist()) <= {0.0, 1.0} and (shifted == 0).any()
    assert (shifted.flatten(1).sum(1) >= 49).all()  # at most one row and one column lost
    cut = diff_augment(x, "cutout")  # a 4×4 square, clipped at the border
    blanked = (cut == 0).flatten(1).sum(1)
    assert (blanked <= 16).all() and (blanked >= 4).all()


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match=r"unknown DiffAugment 'rotate'; choose from: color, translation, cutout"):
        parse_policy("color,rotate")


def test_the_penalty_sees_the_augmented_images_the_loss_saw(tmp_path, monkeypatch):
    augmented, seen = [], []
    real_augment, real_penalty = augment.diff_augment, gan_losses.gradient_penalty
    monkeypatch.setattr(gan, "diff_augment", lambda x, policy: augmented.append(real_augment(x, policy)) or augmented[-1])
    monkeypatch.setattr(gan_losses, "gradient_penalty",
                        lambda critic, real, fake, **kw: seen.append((real, fake)) or real_penalty(critic, real, fake, **kw))
    train_gan(tiny_run(epochs=1, limit=8), tmp_path / "run", progress=False)
    (real, fake), = seen  # one critic step
    assert real is augmented[0] and fake is augmented[1]


def test_ema_update_follows_its_formula_and_warms_up():
    torch.manual_seed(0)
    model, ema = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in ema.parameters()]
    ema_update(ema, model, 0.9)
    for e, b, p in zip(ema.parameters(), before, model.parameters()):
        assert torch.allclose(e, 0.9 * b + 0.1 * p)
    assert [ema_decay(0.999, s) for s in (1, 10, 10_000)] == [2 / 11, 11 / 20, 0.999]


@pytest.mark.parametrize("exc, checkpoint_every, stop_at, kept", [(KeyboardInterrupt, 0, 4, 4), (RuntimeError, 2, 9, 8)],
                         ids=["ctrl-c", "crash"])
def test_resume_after_an_interrupt_or_a_crash_reproduces_the_uninterrupted_run(tmp_path, exc, checkpoint_every,
                                                                               stop_at, kept):
    """Ctrl-C checkpoints where it stops (mid-epoch, between two generator steps); a crash writes nothing, so
    the run falls back to the last periodic checkpoint and replays the steps lost with it."""
    config = tiny_run(QuantumSpec(), epochs=2, limit=48, checkpoint_every=checkpoint_every)  # 6 steps an epoch
    train_gan(config, tmp_path / "whole", progress=False)

    def stop(step):
        if step == stop_at:
            raise exc

    with pytest.raises(exc):
        train_gan(config, tmp_path / "split", progress=False, on_step=stop)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["state"]["d_steps"] == kept
    train_gan(config, tmp_path / "split", resume=True, progress=False)
    whole, split = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "split"))
    for part in ("generator", "critic", "ema", "opt_g", "opt_d"):
        assert torch.equal(torch.cat([t.flatten() for t in _tensors(whole[part])]),
                           torch.cat([t.flatten() for t in _tensors(split[part])])), part
    for a, b in zip(whole["state"]["history"], split["state"]["history"], strict=True):
        timings = ("train_seconds", "cpu_seconds")
        assert {k: v for k, v in a.items() if k not in timings} == {k: v for k, v in b.items() if k not in timings}


def _tensors(tree):
    """Every tensor in a state dict, optimiser states included, in a fixed order."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for key in sorted(tree, key=str) for t in _tensors(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [t for item in tree for t in _tensors(item)]
    return []


def test_a_finished_run_taken_further_reaches_the_run_started_that_long(tmp_path):
    train_gan(tiny_run(QuantumSpec(), epochs=3, limit=32), tmp_path / "whole", progress=False)  # 4 steps an epoch
    train_gan(tiny_run(QuantumSpec(), epochs=1, limit=32), tmp_path / "longer", progress=False)
    summary = train_gan(extended(tiny_run(QuantumSpec(), epochs=1, limit=32), 3), tmp_path / "longer", resume=True,
                        progress=False)
    assert (summary["epochs"], summary["critic_steps"]) == (3, 12)
    whole, longer = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "longer"))
    for part in ("generator", "critic", "ema"):
        assert all(torch.equal(v, longer[part][k]) for k, v in whole[part].items()), part
    assert json.loads((tmp_path / "longer" / "config.json").read_text())["epochs"] == 3
    assert len((tmp_path / "longer" / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_a_run_is_not_shortened_nor_a_decaying_one_extended(tmp_path):
    train_gan(tiny_run(epochs=2, limit=16), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"run has trained 2 epochs already; a run cannot be shortened to 1$"):
        train_gan(extended(tiny_run(epochs=2, limit=16), 1), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(ValueError, match="^the run's learning rates decay linearly to 0 over its 2 epochs, so more "
                                         "epochs would change its schedule; start a new run instead$"):
        extended(tiny_run(epochs=2, lr_decay="linear"), 4)
    train_gan(tiny_run(epochs=1, limit=16, lr_decay="linear"), tmp_path / "decaying", progress=False)
    with pytest.raises(ValueError, match=r"with a different configuration \(changed: epochs\)$"):  # its schedule spans 1
        train_gan(tiny_run(epochs=2, limit=16, lr_decay="linear"), tmp_path / "decaying", resume=True, progress=False)


def test_a_run_directory_holds_config_metrics_curves_samples_and_summary(tmp_path):
    summary = train_gan(tiny_run(epochs=2, limit=16), tmp_path / "run", progress=False)
    files = {p.relative_to(tmp_path / "run").as_posix() for p in (tmp_path / "run").rglob("*")}
    assert {"config.json", "metrics.csv", "curves.png", "last.pt", "summary.json", "samples/epoch_001.png",
            "samples/epoch_002.png"} <= files
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary
    config, generator = load_generator(tmp_path / "run")
    assert config == tiny_run(epochs=2, limit=16) and not generator.training
    assert generator.sample(3).shape == (3, 1, 8, 8)


def test_a_run_saved_before_an_option_existed_resumes_with_its_default(tmp_path):
    # An older qrkt wrote config.json and last.pt without today's options: resuming must read them
    # through from_dict (missing options take their defaults), not compare raw dicts.
    config = tiny_run(epochs=2, limit=32)  # 4 steps an epoch
    train_gan(config, tmp_path / "whole", progress=False)

    def interrupt(step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(config, tmp_path / "old", progress=False, on_step=interrupt)
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    for newer in ("checkpoint_every", "phi"):
        del ckpt["config"][newer]
    save_checkpoint(ckpt, tmp_path / "old" / "last.pt")
    saved = json.loads((tmp_path / "old" / "config.json").read_text())
    saved = {k: v for k, v in saved.items() if k != "phi"}
    saved["lr_decay"] = saved["lr_decay"] == "linear"  # once a flag, now a schedule's name
    saved["model"] = {k: v for k, v in saved["model"].items() if k not in ("window", "output_tanh", "init")}
    (tmp_path / "old" / "config.json").write_text(json.dumps(saved))
    resumed = GANTrainConfig.from_dict(json.loads((tmp_path / "old" / "config.json").read_text()))
    assert resumed == config
    train_gan(resumed, tmp_path / "old", resume=True, progress=False)
    whole, old = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "old"))
    assert all(torch.equal(v, old["generator"][k]) for k, v in whole["generator"].items())


@pytest.mark.parametrize("decay, expected", [("linear", (1e-4 * 0.5, 0.0)), ("none", (1e-4, 1e-4))])
def test_learning_rates_decay_linearly_to_zero_or_stay(tmp_path, decay, expected):
    train_gan(tiny_run(epochs=2, limit=80, lr_decay=decay), tmp_path / "run", progress=False)  # 10 critic steps an epoch
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    lr_g, lr_d = zip(*[(float(r["lr_g"]), float(r["lr_d"])) for r in rows])
    assert lr_d == pytest.approx(expected) and lr_g == pytest.approx(expected)


def test_an_unknown_lr_decay_is_one_sentence():
    with pytest.raises(ValueError, match="unknown lr_decay 'cosine'; choose one of: none, linear"):
        tiny_run(lr_decay="cosine")


def test_starting_over_a_run_or_resuming_with_another_config_is_refused(tmp_path):
    train_gan(tiny_run(epochs=1, limit=8), tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match=r"already holds a run; resume it \(--resume\)"):
        train_gan(tiny_run(epochs=1, limit=8), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"cannot resume .* with a different configuration \(changed: lr_g\)"):
        train_gan(tiny_run(epochs=3, limit=8, lr_g=3e-4), tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize(("overrides", "match"), [
    (dict(dataset="svhn"), r"unknown dataset 'svhn'; choose one of: digits, mnist"),
    (dict(n_critic=0), r"n_critic must be at least 1, got 0"),
    (dict(ema=1.0), r"ema must be in \[0, 1\), got 1.0"),
    (dict(drift=-1.0), r"gp_weight, drift, weight_decay, checkpoint_every and snapshot_every not negative"),
    (dict(snapshot_every=-1), r"checkpoint_every and snapshot_every not negative"),
    (dict(diff_aug="flip"), r"unknown DiffAugment 'flip'"),
    (dict(device="tpu9"), r"unknown device 'tpu9'; use cpu, cuda or cuda:N"),
])
def test_bad_training_options_are_refused(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny_run(**overrides)


def test_too_large_a_batch_and_a_channel_mismatch_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"batch_size=32 exceeds the 8 training images"):
        train_gan(tiny_run(limit=8, batch_size=32), tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match=r"digits has 1 channel\(s\) but the model makes 3"):
        train_gan(tiny_run(model=tiny_model(channels=3)), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match=r"unknown GAN training option\(s\) colour"):
        GANTrainConfig.from_dict({"colour": 1})


def test_critic_loss_with_a_quantum_critic_reaches_every_critic_weight():
    from qrkt_qiskit.models.gan import discriminator

    torch.manual_seed(0)
    critic = discriminator(tiny_model(QuantumSpec()))
    loss, _ = critic_loss(critic, torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8))
    loss.backward()
    assert all(p.grad is not None and math.isfinite(p.grad.abs().sum().item()) for p in critic.parameters())


def test_a_tiny_gan_on_digits_lowers_its_fid_well_below_the_untrained_generators(tmp_path):
    """A small random-projection extractor stands in for Inception (same FID code path)."""
    from qrkt_qiskit.data.gan import load_gan_images
    from qrkt_qiskit.evaluation import FID, ImageFeatures
    from qrkt_qiskit.models.gan import Generator

    model = tiny_model(dim=16, d_dim=16, mlp_ratio=2)
    # No DiffAugment: on 8×8 images its 4×4 cutout would hide a quarter of every digit.
    config = GANTrainConfig(model=model, recipe="thesis", dataset="digits", batch_size=32, epochs=10, lr_g=2e-3,
                            lr_d=2e-3, diff_aug="none", grid=4)
    torch.manual_seed(0)
    features = ImageFeatures(nn.Sequential(nn.Flatten(), nn.Linear(64, 16)).requires_grad_(False), num_features=16,
                             name="random projection")
    fid = FID(features, load_gan_images("digits")[:512])
    torch.manual_seed(0)
    untrained = fid.score_generator(lambda k: Generator(model).eval()(torch.randn(k, 8)), 512).fid
    train_gan(config, tmp_path / "run", progress=False)
    _, generator = load_generator(tmp_path / "run")
    trained = fid.score_generator(lambda k: generator.sample(k), 512).fid
    assert trained < 0.5 * untrained, (trained, untrained)


def test_adam_carries_the_thesis_weight_decay():
    from qrkt_qiskit.training.gan import GANTrainConfig, build_gan

    _, parts = build_gan(GANTrainConfig(limit=64, weight_decay=1e-3), torch.device("cpu"))
    for opt in (parts.opt_g, parts.opt_d):
        group = opt.param_groups[0]
        assert (group["weight_decay"], group["betas"]) == (1e-3, (0.0, 0.99))


def test_a_run_that_ends_without_a_generator_step_warns(tmp_path):
    with pytest.warns(UserWarning, match=r"^the run took 2 critic step\(s\) and not one generator step \(one comes every "
                                         r"n_critic = 5 critic steps\), so its generator is untrained; train on more "
                                         "images or epochs, or lower --n-critic$"):
        summary = gan.train_gan(tiny_run(limit=16, epochs=1), tmp_path / "run", progress=False)
    assert (summary["critic_steps"], summary["generator_steps"]) == (2, 0)
