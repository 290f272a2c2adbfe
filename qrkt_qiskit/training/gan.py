"""GAN training: WGAN-GP with the ε drift term, n_critic critic steps per generator step, EMA.

The losses (TransGAN's, thesis §5.4), with ``x`` real and ``G(z)`` generated images, both
passed through the same DiffAugment policy before the critic ``D`` sees them::

    d_loss = −E[D(x)] + E[D(G(z))] + λ·GP/φ² + ε·(E[D(x)])²      GP = E[(‖∇D(x̂)‖ − φ)²]
    g_loss = −E[D(G(z))]

``x̂`` interpolates between the augmented real and augmented generated images the critic
just scored, so the penalty sees exactly the augmentation the loss saw. One training step
is one critic step; every ``n_critic``-th step also takes one generator step (the counter
really counts). Exact resumption works as in `qrkt_qiskit.training.loop`: epoch ``e``'s
data order is drawn from ``seed + e`` and the checkpoint carries both networks, the EMA,
both optimisers and schedules, torch's RNG and the position reached.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from ..data.gan import GAN_DATASETS, load_gan_images
from ..models.gan import GAN_PRESETS, GANConfig, Generator, discriminator, gan_summary
from .augment import diff_augment, parse_policy
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import check_device
from .loop import sigterm_as_interrupt
from .report import write_csv, write_text

__all__ = ["GANTrainConfig", "critic_loss", "ema_decay", "ema_update", "gradient_penalty", "load_generator", "train_gan"]

SUMS = ("d_loss", "wasserstein", "gp", "g_loss", "g_count")  # per-epoch sums of the step losses


@dataclass(frozen=True)
class GANTrainConfig:
    """A GAN run: data, the two networks (`GANConfig`), the WGAN-GP-ε objective and its optimiser."""

    model: GANConfig = GAN_PRESETS["small"]
    dataset: str = "digits"
    data_root: str | None = None
    limit: int | None = None  # train on the first `limit` images only
    epochs: int = 10
    batch_size: int = 32  # the thesis' (generator and critic alike)
    lr_g: float = 1e-4  # TransGAN's
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.99)  # the thesis' Adam(0, 0.99)
    weight_decay: float = 1e-3  # the thesis' list; Adam's L2 penalty on generator and critic
    lr_decay: bool = True  # linear decay to 0 over the run, as TransGAN
    n_critic: int = 5
    gp_weight: float = 10.0  # λ
    drift: float = 1e-3  # ε
    phi: float = 1.0  # φ, the gradient norm the penalty aims at
    diff_aug: str = "color,translation,cutout"
    ema: float = 0.999  # generator EMA decay per generator step, after a warm-up (`ema_decay`)
    grid: int = 64  # samples in each epoch's grid
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 0  # also checkpoint every this many steps (0: at epoch ends only)

    def __post_init__(self):
        if isinstance(self.model, dict):  # from a run directory's config.json
            object.__setattr__(self, "model", GANConfig(**self.model))
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.dataset not in GAN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(GAN_DATASETS)}")
        for name in ("epochs", "batch_size", "n_critic", "grid"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if min(self.lr_g, self.lr_d, self.phi) <= 0 or min(self.gp_weight, self.drift, self.checkpoint_every) < 0:
            raise ValueError("lr_g, lr_d and phi must be positive; gp_weight, drift and checkpoint_every not negative")
        parse_policy(self.diff_aug)
        check_device(self.device)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GANTrainConfig:
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown GAN training option(s) {', '.join(unknown)}")
        return cls(**values)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, phi: float = 1.0,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """``E[(‖∇D(x̂)‖₂ − φ)²]`` at ``x̂ = α·real + (1−α)·fake``, differentiable in the critic's weights.

    Args:
        critic: images ``(B, ...)`` to scores ``(B, 1)``.
        real, fake: the images the critic scored (``fake`` is detached here).
        phi: the target gradient norm.
        alpha: ``(B,)`` mixing weights; ``None`` draws them uniformly from torch's RNG.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], dtype=real.dtype, device=real.device)
    alpha = alpha.view(-1, *([1] * (real.dim() - 1)))
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    # Fused CPU attention kernels have no double backward; the reference kernel has one.
    with sdpa_kernel([SDPBackend.MATH]):
        scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - phi).square().mean()


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, gp_weight: float = 10.0,
                drift: float = 1e-3, phi: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The WGAN-GP-ε critic loss on (already augmented) ``real`` and ``fake`` images.

    Returns:
        The loss, and its parts as floats: ``wasserstein`` (E[D(x)] − E[D(G(z))]) and ``gp``.
    """
    real_score, fake_score = critic(real).mean(), critic(fake.detach()).mean()
    gp = gradient_penalty(critic, real, fake, phi=phi)
    loss = fake_score - real_score + gp_weight * gp / phi**2 + drift * real_score.square()
    return loss, {"d_loss": loss.item(), "wasserstein": (real_score - fake_score).item(), "gp": gp.item()}


def ema_decay(decay: float, step: int) -> float:
    """The decay at generator step ``step`` (1, 2, …): ``min(decay, (1 + step) / (10 + step))``.

    The warm-up (TensorFlow's ``ExponentialMovingAverage(num_updates=…)``) lets the average
    leave the random initial weights in a short run, where a fixed 0.999 would keep them.
    """
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``θ_ema ← decay·θ_ema + (1 − decay)·θ`` for every parameter; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def train_gan(config: GANTrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
              on_step: Callable[[int], None] | None = None) -> dict:
    """Train ``config`` into ``run_dir`` (created if needed) and return the run's summary.

    Args:
        config: the run.
        run_dir: where ``config.json``, ``metrics.csv`` (one row per epoch), ``curves.png``,
            ``samples/epoch_NNN.png`` (EMA generator, fixed noise), ``last.pt`` and
            ``summary.json`` go.
        resume: continue the run in ``run_dir`` from its ``last.pt``; the weights reached are
            those of an uninterrupted run (bit-identical on CPU).
        progress: show tqdm progress bars.
        on_step: called with the number of critic steps taken, after each step.

    Raises:
        FileExistsError: ``run_dir`` already holds a run and ``resume`` is False.
        ValueError: ``resume`` with a config that differs from the run's.

    On Ctrl-C or SIGTERM the position reached is checkpointed before the interrupt propagates.
    """
    run_dir, device = Path(run_dir), torch.device(config.device)
    images, steps_per_epoch, parts = _build(config, device)
    generator, critic, ema = parts["generator"], parts["critic"], parts["ema"]
    state = {"epoch": 0, "step": 0, "d_steps": 0, "g_steps": 0, "train_seconds": 0.0, "history": [],
             "sums": dict.fromkeys(SUMS, 0.0)}
    if resume:
        ckpt = load_checkpoint(run_dir / "last.pt", map_location=device)
        if ckpt["config"] != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if ckpt["config"].get(k) != v)
            raise ValueError(f"cannot resume {run_dir} with a different configuration (changed: {', '.join(changed)})")
        for name, part in parts.items():
            part.load_state_dict(ckpt[name])
        torch.set_rng_state(ckpt["rng"])
        state = ckpt["state"]
    elif (run_dir / "last.pt").exists():
        raise FileExistsError(f"{run_dir} already holds a run; resume it (--resume) or choose another directory")
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

    def checkpoint() -> None:
        save_checkpoint({"config": config.to_dict(), "rng": torch.get_rng_state(), "state": state,
                         **{name: part.state_dict() for name, part in parts.items()}}, run_dir / "last.pt")

    safe = True
    with sigterm_as_interrupt():
        try:
            while state["epoch"] < config.epochs:
                epoch = state["epoch"]
                order = torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed + epoch))
                batches = order[:steps_per_epoch * config.batch_size].split(config.batch_size)
                generator.train(), critic.train()
                bar = tqdm(total=steps_per_epoch, initial=state["step"], desc=f"epoch {epoch + 1}/{config.epochs}",
                           disable=not progress, leave=False)
                start = time.perf_counter()
                for batch in batches[state["step"]:]:
                    safe = False
                    losses = _step(config, parts, images[batch].to(device), state)
                    state["step"] += 1
                    safe = True
                    for k, v in losses.items():
                        state["sums"][k] += v
                    bar.update()
                    bar.set_postfix(d=f"{losses['d_loss']:.3f}", w=f"{losses['wasserstein']:.3f}")
                    if config.checkpoint_every and state["d_steps"] % config.checkpoint_every == 0:
                        state["train_seconds"] += time.perf_counter() - start
                        start = time.perf_counter()
                        checkpoint()
                    if on_step is not None:
                        on_step(state["d_steps"])
                bar.close()
                state["train_seconds"] += time.perf_counter() - start
                _end_epoch(state, steps_per_epoch, parts)
                save_sample_grid(ema, config.grid, run_dir / "samples" / f"epoch_{epoch + 1:03d}.png", seed=config.seed)
                checkpoint()
                _write_history(state["history"], run_dir)
        except KeyboardInterrupt:
            if safe:
                checkpoint()
            raise
    summary = {**gan_summary(config.model), "dataset": config.dataset, "images": len(images), "epochs": state["epoch"],
               "critic_steps": state["d_steps"], "generator_steps": state["g_steps"],
               "train_seconds": round(state["train_seconds"], 2),
               "seconds_per_critic_step": round(state["train_seconds"] / max(1, state["d_steps"]), 4)}
    write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _build(config: GANTrainConfig, device: torch.device) -> tuple[torch.Tensor, int, dict]:
    """A fresh run's images, critic steps per epoch, and its parts: networks, EMA, optimisers, schedules."""
    torch.manual_seed(config.seed)
    images = load_gan_images(config.dataset, config.data_root, image_size=config.model.image_size, limit=config.limit)
    if images.shape[1] != config.model.channels:
        raise ValueError(f"{config.dataset} has {images.shape[1]} channel(s) but the model makes {config.model.channels}")
    generator, critic = Generator(config.model).to(device), discriminator(config.model).to(device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas, weight_decay=config.weight_decay)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr_d, betas=config.betas, weight_decay=config.weight_decay)
    steps_per_epoch = len(images) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {len(images)} training images")
    total = config.epochs * steps_per_epoch
    decay = (lambda n: lambda s: max(0.0, 1.0 - s / n)) if config.lr_decay else (lambda n: lambda s: 1.0)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, decay(total))
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, decay(max(1, total // config.n_critic)))
    return images, steps_per_epoch, {"generator": generator, "critic": critic, "ema": ema, "opt_g": opt_g,
                                     "opt_d": opt_d, "sched_g": sched_g, "sched_d": sched_d}


def _step(config: GANTrainConfig, parts: dict, real: torch.Tensor, state: dict) -> dict:
    """One critic step and, every ``n_critic``-th, one generator step; returns the losses to average."""
    generator, critic = parts["generator"], parts["critic"]
    opt_g, opt_d = parts["opt_g"], parts["opt_d"]
    z = torch.randn(real.shape[0], config.model.latent_dim, device=real.device)
    with torch.no_grad():
        fake = generator(z)
    d_loss, losses = critic_loss(critic, diff_augment(real, config.diff_aug), diff_augment(fake, config.diff_aug),
                                 gp_weight=config.gp_weight, drift=config.drift, phi=config.phi)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    parts["sched_d"].step()
    state["d_steps"] += 1
    if state["d_steps"] % config.n_critic == 0:
        critic.requires_grad_(False)  # the generator step needs no critic gradients
        z = torch.randn(real.shape[0], config.model.latent_dim, device=real.device)
        g_loss = -critic(diff_augment(generator(z), config.diff_aug)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        parts["sched_g"].step()
        critic.requires_grad_(True)
        state["g_steps"] += 1
        ema_update(parts["ema"], generator, ema_decay(config.ema, state["g_steps"]))
        losses.update(g_loss=g_loss.item(), g_count=1)
    return losses


def _end_epoch(state: dict, steps: int, parts: dict) -> None:
    sums = state["sums"]
    row = {"epoch": state["epoch"] + 1, **{k: sums[k] / steps for k in ("d_loss", "wasserstein", "gp")},
           "g_loss": sums["g_loss"] / max(1, sums["g_count"]),
           "lr_g": parts["opt_g"].param_groups[0]["lr"], "lr_d": parts["opt_d"].param_groups[0]["lr"],
           "critic_steps": state["d_steps"], "generator_steps": state["g_steps"],
           "train_seconds": round(state["train_seconds"], 3)}
    state["history"].append(row)
    state["epoch"] += 1
    state["step"] = 0
    state["sums"] = dict.fromkeys(SUMS, 0.0)


@torch.no_grad()
def save_sample_grid(generator: Generator, n: int, path: Path, *, seed: int = 0) -> None:
    """A grid of ``n`` samples from fixed noise (drawn from ``seed``), written atomically as PNG."""
    from torchvision.utils import save_image

    was_training = generator.training
    generator.eval()
    images = generator.sample(n, generator=torch.Generator().manual_seed(seed))
    generator.train(was_training)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    save_image(images.float().cpu(), tmp, nrow=max(1, round(n**0.5)), normalize=True, value_range=(-1, 1))
    os.replace(tmp, path)


def _write_history(history: list[dict], run_dir: Path) -> None:
    write_csv(history, run_dir / "metrics.csv")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("d_loss", "critic loss"), ("g_loss", "generator loss"), ("wasserstein", "E[D(x)] − E[D(G(z))]")):
        ax.plot(epochs, [row[key] for row in history], marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = run_dir / ".curves.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, run_dir / "curves.png")



def load_generator(run_dir: str | Path, *, ema: bool = True) -> tuple[GANTrainConfig, Generator]:
    """A GAN run's generator (its EMA weights unless ``ema=False``) from ``last.pt``, in eval mode.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no GAN run.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a GAN run directory: it has no config.json")
    config = GANTrainConfig.from_dict(json.loads(path.read_text()))
    state = load_checkpoint(Path(run_dir) / "last.pt")
    generator = Generator(config.model)
    generator.load_state_dict(state["ema" if ema else "generator"])
    return config, generator.eval()
