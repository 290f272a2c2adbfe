"""Issue 35: the recipes and presets run, runs saved before them resume, an interrupt while preparing says so."""

import dataclasses
import json

import pytest
import torch

from qrkt_qiskit.errors import Interrupted
from qrkt_qiskit.models import QuantumSpec
from qrkt_qiskit.models.gan import GAN_PRESETS, gan_config
from qrkt_qiskit.training import gan, load_checkpoint, save_checkpoint
from qrkt_qiskit.training.gan import GANState, build_gan, gan_step, train_gan
from qrkt_qiskit.training.gan_config import DIFF_AUGMENTATIONS, GAN_DATASETS, GAN_RECIPES, GANTrainConfig

from .test_gan import tiny_model

# Each preset's structure (stages, depths, decoder, windows, tanh) at a width a test can afford.
TINY = {"cpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8), "small": dict(dim=32, heads=2, latent_dim=8, d_dim=8),
        "thesis": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1),
        "gpu": dict(dim=32, heads=2, latent_dim=8, d_dim=8, d_depth=2, mlp_ratio=1)}


@pytest.mark.parametrize("recipe", list(GAN_RECIPES))
@pytest.mark.parametrize("preset, quantum", [(p, None) for p in GAN_PRESETS] + [(p, QuantumSpec(max_qubits=8))
                                                                               for p in ("cpu", "small")],
                         ids=[f"transgan-{p}" for p in GAN_PRESETS] + ["qrkt-cpu", "qrkt-small"])
def test_every_preset_and_recipe_takes_a_critic_and_a_generator_step(preset, quantum, recipe):
    """Quantum maps at the two CPU presets (thesis and gpu have full attention at 32×32 or four times the blocks:
    tens of seconds of double backward under WGAN-GP; test_models.py gives every preset's quantum networks a
    gradient)."""
    config = GANTrainConfig(model=gan_config(preset, quantum=quantum, **TINY[preset]), recipe=recipe, limit=32)
    _, parts = build_gan(config, torch.device("cpu"))
    state = GANState(d_steps=config.n_critic - 1)  # the next critic step is followed by a generator step
    before = [p.detach().clone() for net in (parts.generator, parts.critic) for p in net.parameters()]
    losses = gan_step(config, parts, torch.rand(2, 1, 32, 32) * 2 - 1, state)
    after = [p.detach() for net in (parts.generator, parts.critic) for p in net.parameters()]
    assert (state.d_steps, state.g_steps) == (config.n_critic, 1) and "g_loss" in losses
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) > 0.9 * len(before)  # both networks moved


def test_recipes_fill_in_what_a_run_does_not_give():
    cpu, thesis = GANTrainConfig(), GANTrainConfig(recipe="thesis")
    assert (cpu.recipe, cpu.loss, cpu.n_critic, cpu.lr_g, cpu.lr_d) == ("cpu", "ns-r1", 1, 2e-4, 2e-4)
    assert (thesis.loss, thesis.n_critic, thesis.lr_g, thesis.lr_d) == ("wgan-gp", 5, 1e-4, 1e-4)
    mixed = GANTrainConfig(recipe="thesis", n_critic=2, lr_g=3e-4)
    assert (mixed.loss, mixed.n_critic, mixed.lr_g, mixed.lr_d) == ("wgan-gp", 2, 3e-4, 1e-4)
    assert GANTrainConfig.from_dict(cpu.to_dict()) == cpu
    with pytest.raises(ValueError, match=r"^option recipe must be one of: cpu, thesis; got 'gpu'$"):
        GANTrainConfig.from_dict({**cpu.to_dict(), "recipe": "gpu"})


def test_the_light_config_names_match_the_modules_that_implement_them():
    from qrkt_qiskit.data.gan import GAN_DATASETS as LOADED
    from qrkt_qiskit.training.augment import AUGMENTATIONS

    assert GAN_DATASETS == LOADED and DIFF_AUGMENTATIONS == tuple(AUGMENTATIONS)


def _as_before_issue_35(run_dir):
    """Strip what issue 35 added (recipe, decoder, cpu_seconds) from a run's config.json and last.pt, so it reads as a
    run saved before (its config then held loss, n_critic and learning rates)."""
    data = json.loads((run_dir / "config.json").read_text())
    del data["recipe"], data["model"]["decoder"]
    (run_dir / "config.json").write_text(json.dumps(data))
    ckpt = load_checkpoint(run_dir / "last.pt")
    ckpt["config"] = data
    del ckpt["state"]["cpu_seconds"]
    save_checkpoint(ckpt, run_dir / "last.pt")


def test_a_run_saved_before_recipes_and_decoders_resumes(tmp_path):
    config = GANTrainConfig(model=tiny_model(), recipe="thesis", dataset="digits", limit=32, batch_size=8, epochs=1,
                            grid=4, n_critic=2)
    train_gan(config, tmp_path / "run", progress=False)
    _as_before_issue_35(tmp_path / "run")
    old = gan.read_gan_config(tmp_path / "run")
    assert (old.recipe, old.loss, old.n_critic, old.model.decoder) == ("thesis", "wgan-gp", 2, "conv1x1")
    summary = train_gan(gan.extended(old, 2), tmp_path / "run", resume=True, progress=False)
    assert (summary["epochs"], summary["critic_steps"], summary["generator_steps"]) == (2, 8, 4)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].endswith("cpu_seconds") and float(rows[2].split(",")[-1]) > 0


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resumed"])
def test_an_interrupt_while_loading_the_images_says_what_was_kept(tmp_path, monkeypatch, resume):
    config = GANTrainConfig(model=tiny_model(), dataset="digits", limit=16, batch_size=8, epochs=1, grid=4)
    if resume:
        train_gan(config, tmp_path / "run", progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gan, "load_gan_images", interrupted)
    kept = (f"{tmp_path / 'run' / 'last.pt'} is as it was; continue with --resume --run-dir {tmp_path / 'run'}"
            if resume else "nothing was trained, so start the run again")
    with pytest.raises(Interrupted, match=f"^while preparing the run, before its first step: {kept}$"):
        train_gan(dataclasses.replace(config, epochs=2) if resume else config, tmp_path / "run", resume=resume,
                  progress=False)
    assert (tmp_path / "run").exists() == resume  # a new run leaves no directory behind
