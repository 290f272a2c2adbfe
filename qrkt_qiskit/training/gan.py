"""GAN training: WGAN-GP with the ε drift term, n_critic critic steps per generator step, EMA.

The losses (TransGAN's, thesis §5.4), with ``x`` real and ``G(z)`` generated images, both
passed through the same DiffAugment policy before the critic ``D`` sees them::

    d_loss = −E[D(x)] + E[D(G(z))] + λ·GP/φ² + ε·(E[D(x)])²      GP = E[(‖∇D(x̂)‖ − φ)²]
    g_loss = −E[D(G(z))]

``x̂`` interpolates between the augmented real and augmented generated images the critic
just scored, so the penalty sees exactly the augmentation the loss saw. One training step
is one critic step; every ``n_critic``-th step also takes one generator step (the counter
really counts). The run machinery (`qrkt_qiskit.training.run`) resumes it exactly:
``last.pt`` carries both networks, the EMA, both optimisers and schedules, torch's RNG and
the `GANState`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..data.gan import GAN_DATASETS, load_gan_images
from ..models.gan import GAN_PRESETS, GANConfig, Generator, discriminator, gan_summary
from ..output import figure, save_figure, write_csv, write_text
from .augment import diff_augment, parse_policy
from .checkpoint import load_checkpoint
from .config import check_numbers, from_data, option
from .distributed import check_device
from .run import RunDirectory, RunState, epoch_batches, read_stored_config, run_epochs
from .runs import load_weights

__all__ = ["GANParts", "GANState", "GANTrainConfig", "build_gan", "critic_loss", "ema_decay", "ema_update", "extended",
           "gan_step", "gradient_penalty", "load_generator", "load_last", "load_snapshot", "load_snapshots",
           "ns_critic_loss", "r1_penalty", "read_gan_config", "train_gan"]

SUMS = ("d_loss", "wasserstein", "gp", "g_loss", "g_count")  # per-epoch sums of the step losses
LR_DECAYS = ("none", "linear")
LOSSES = ("wgan-gp", "ns-r1")


@dataclass(frozen=True)
class GANTrainConfig:
    """A GAN run: data, the two networks (`GANConfig`), the WGAN-GP-ε objective and its optimiser."""

    model: GANConfig = GAN_PRESETS["cpu"]
    dataset: str = option("digits", "digits needs no files (resized to the model's size); the others read "
                          "torchvision's layouts under --data-root", group="data", choices=GAN_DATASETS)
    data_root: str | None = option(None, "folder holding MNIST/raw, FashionMNIST/raw or cifar-10-batches-py",
                                   group="data", metavar="DIR")
    limit: int | None = option(None, "train on the first N images only", group="data", metavar="N",
                               default_help="all")
    epochs: int = option(10, "passes of the critic over the data", group="optimisation")
    batch_size: int = option(32, "images per critic and generator step (the thesis')", group="optimisation")
    lr_g: float = option(1e-4, "generator learning rate (TransGAN's)", group="optimisation")
    lr_d: float = option(1e-4, "critic learning rate", group="optimisation")
    betas: tuple[float, float] = (0.0, 0.99)  # the thesis' Adam(0, 0.99)
    weight_decay: float = option(0.0, "Adam's L2 penalty on generator and critic (the thesis: 1e-3)", group="optimisation")
    lr_decay: str = option("none", "none: constant learning rates, as the references effectively are (they decay "
                           "over 500k iterations); linear: to 0 over the run", group="optimisation",
                           choices=LR_DECAYS)
    loss: str = option("wgan-gp", "wgan-gp: the thesis' WGAN-GP with the drift term; ns-r1: an ablation off the "
                       "thesis, the non-saturating loss with a lazy R1 penalty on real images (ViTGAN's, StyleGAN2's; "
                       "use --n-critic 1)", group="optimisation", choices=LOSSES)
    r1_gamma: float = option(1.0, "ns-r1: γ, the R1 penalty's weight (γ/2 · E‖∇D(x)‖²)", group="optimisation")
    r1_every: int = option(16, "ns-r1: apply R1 every N critic steps, scaled by N (lazy regularisation)",
                           group="optimisation", metavar="N")
    n_critic: int = option(5, "critic steps per generator step", group="optimisation")
    gp_weight: float = option(10.0, "λ, the gradient penalty's weight", group="optimisation")
    drift: float = option(1e-3, "ε, the drift term's weight", group="optimisation")
    phi: float = option(1.0, "φ, the gradient norm the penalty aims at", group="optimisation")
    diff_aug: str = option("translation", "DiffAugment policy (color, translation, cutout, comma-separated), or none; "
                           "the thesis: all three", group="optimisation", metavar="POLICY")
    ema: float = option(0.999, "generator EMA decay per generator step, after a warm-up", group="optimisation")
    grid: int = option(64, "samples in each epoch's grid", group="run", metavar="N")
    seed: int = option(0, "seeds weights, data order and noise", group="optimisation")
    device: str = option("cpu", "cpu, cuda or cuda:N", group="optimisation")
    checkpoint_every: int = option(0, "also checkpoint every STEPS critic steps, not only at epoch ends", group="run",
                                   metavar="STEPS")
    snapshot_every: int = option(0, "keep the EMA generator of every N-th epoch in snapshots/, for the FID curve of "
                                 "`qrkt gan fid --curve`", group="run", metavar="N")

    def __post_init__(self):
        if isinstance(self.model, dict):  # from a run directory's config.json
            object.__setattr__(self, "model", GANConfig(**self.model))
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.r1_gamma < 0 or self.r1_every < 1:
            raise ValueError(f"r1_gamma must not be negative and r1_every at least 1, got {self.r1_gamma}, {self.r1_every}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"unknown lr_decay {self.lr_decay!r}; choose one of: {', '.join(LR_DECAYS)}")
        object.__setattr__(self, "betas", tuple(self.betas))
        check_numbers(self)
        if self.dataset not in GAN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(GAN_DATASETS)}")
        for name in ("epochs", "batch_size", "n_critic", "grid", "limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if min(self.lr_g, self.lr_d, self.phi) <= 0 or min(self.gp_weight, self.drift, self.checkpoint_every,
                                                            self.snapshot_every, self.weight_decay) < 0:
            raise ValueError("lr_g, lr_d and phi must be positive; gp_weight, drift, weight_decay, checkpoint_every "
                             "and snapshot_every not negative")
        parse_policy(self.diff_aug)
        check_device(self.device)

    @property
    def extensible(self) -> bool:
        """Whether nothing but the run's length depends on ``epochs``: constant learning rates, not a linear decay
        whose schedule spans the run (see `extended`)."""
        return self.lr_decay != "linear"

    def to_dict(self) -> dict:
        """The config as JSON-ready data, as ``config.json`` and checkpoints store it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GANTrainConfig:
        """A config from `to_dict`'s data; options it lacks (added since it was saved) take their defaults.

        Raises:
            ValueError: for an option this version does not know, or a value of the wrong type (`from_data`).
        """
        if isinstance(values, dict) and isinstance(values.get("lr_decay"), bool):  # from before it named a schedule
            values = {**values, "lr_decay": "linear" if values["lr_decay"] else "none"}
        return from_data(cls, values, "GAN training")


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


def r1_penalty(critic: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """``E[‖∇D(x)‖²]`` at the real images, differentiable in the critic's weights (Mescheder et al.'s R1)."""
    real = real.detach().requires_grad_(True)
    with sdpa_kernel([SDPBackend.MATH]):  # as `gradient_penalty`: a double backward through attention
        scores = critic(real)
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.flatten(1).square().sum(dim=1).mean()


def ns_critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, r1_weight: float
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """The non-saturating critic loss ``softplus(D(G(z))) + softplus(−D(x))``, plus ``r1_weight · R1`` when it is not 0.

    Returns:
        The loss, and its parts as floats: ``wasserstein`` (the score gap E[D(x)] − E[D(G(z))],
        for the same curve as WGAN-GP's) and ``gp`` (the R1 term, 0 on the lazy steps without it).
    """
    real_scores, fake_scores = critic(real), critic(fake.detach())
    loss = F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()
    r1 = r1_penalty(critic, real) if r1_weight else torch.zeros((), device=real.device)
    loss = loss + r1_weight * r1
    gap = real_scores.mean() - fake_scores.mean()
    return loss, {"d_loss": loss.item(), "wasserstein": gap.item(), "gp": r1.item()}


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


@dataclass
class GANState(RunState):
    """A GAN run's position: critic and generator steps taken, and the epoch's running loss sums."""

    d_steps: int = 0
    g_steps: int = 0
    sums: dict = field(default_factory=lambda: dict.fromkeys(SUMS, 0.0))

    def steps(self) -> dict:
        """The step counts under the names of ``metrics.csv``, snapshots and ``fid.json``."""
        return {"critic_steps": self.d_steps, "generator_steps": self.g_steps}


@dataclass
class GANParts:
    """Everything a GAN run trains and checkpoints: both networks, the EMA, optimisers and schedules."""

    generator: Generator
    critic: nn.Module
    ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler

    def state_dicts(self) -> dict:
        """Every part's ``state_dict``, by field name: what ``last.pt`` stores."""
        return {f.name: getattr(self, f.name).state_dict() for f in dataclasses.fields(self)}

    def load(self, ckpt: dict) -> None:
        """Load every part from a checkpoint written with `state_dicts`."""
        for f in dataclasses.fields(self):
            getattr(self, f.name).load_state_dict(ckpt[f.name])


def train_gan(config: GANTrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
              on_step: Callable[[int], None] | None = None, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train ``config`` into ``run_dir`` (created if needed) and return the run's summary.

    Args:
        config: the run.
        run_dir: where ``config.json``, ``metrics.csv`` (one row per epoch), ``curves.png``,
            ``samples/epoch_NNN.png`` (EMA generator, fixed noise), ``last.pt`` and
            ``summary.json`` go.
        resume: continue the run in ``run_dir`` from its ``last.pt``; the weights reached are
            those of an uninterrupted run (bit-identical on CPU). ``config.epochs`` may exceed
            the run's where nothing else depends on the run's length (`extended`).
        progress: show tqdm progress bars.
        on_step: called with the number of critic steps taken, after each step.
        on_epoch: called with the epoch's metrics row once it is checkpointed.

    Raises:
        FileExistsError: ``run_dir`` already holds a run and ``resume`` is False.
        ValueError: ``resume`` with a config that differs from the run's, or with fewer epochs
            than the run has trained.

    On Ctrl-C or SIGTERM the position reached is checkpointed before the interrupt propagates.
    A run that ends without a generator step (fewer critic steps than ``n_critic``) warns.
    """
    with RunDirectory(run_dir, config, resume=resume) as run:
        images, parts = build_gan(config, torch.device(config.device))
        task = _GANTraining(config, parts, images, run)
        if resume:
            ckpt = run.load(map_location=config.device, may_differ=("epochs",) if config.extensible else ())
            parts.load(ckpt)
            torch.set_rng_state(ckpt["rng"])
            task.state = GANState.from_dict(ckpt["state"])
            if task.state.epoch > config.epochs:
                raise ValueError(f"{run_dir} has trained {task.state.epoch} epochs already; a run cannot be shortened "
                                 f"to {config.epochs}")
        run.write_config(config.to_dict())
        (run.path / "samples").mkdir(exist_ok=True)
        if config.snapshot_every:
            (run.path / "snapshots").mkdir(exist_ok=True)
        run_epochs(task, run, task.state, task.batches, epochs=config.epochs, checkpoint_every=config.checkpoint_every,
                   progress=progress, on_step=on_step, on_epoch=on_epoch)
        state = task.state
        if state.g_steps == 0:
            warnings.warn(f"the run took {state.d_steps} critic step(s) and not one generator step (one comes every "
                          f"n_critic = {config.n_critic} critic steps), so its generator is untrained; train on more "
                          "images or epochs, or lower --n-critic", stacklevel=2)
        summary = {**gan_summary(config.model), "dataset": config.dataset, "images": len(images), "epochs": state.epoch,
                   "critic_steps": state.d_steps, "generator_steps": state.g_steps,
                   "train_seconds": round(state.train_seconds, 2),
                   "seconds_per_critic_step": round(state.train_seconds / max(1, state.d_steps), 4)}
        write_text(run.path / "summary.json", json.dumps(summary, indent=2))
    return summary


def build_gan(config: GANTrainConfig, device: torch.device) -> tuple[torch.Tensor, GANParts]:
    """A fresh run's training images and its parts, seeded by ``config.seed``.

    Raises:
        ValueError: if the dataset's channels differ from the model's, or ``batch_size`` exceeds the images.
    """
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
    decay = (lambda n: lambda s: max(0.0, 1.0 - s / n)) if config.lr_decay == "linear" else (lambda n: lambda s: 1.0)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, decay(total))
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, decay(max(1, total // config.n_critic)))
    return images, GANParts(generator, critic, ema, opt_g, opt_d, sched_g, sched_d)


def gan_step(config: GANTrainConfig, parts: GANParts, real: torch.Tensor, state: GANState) -> dict[str, float]:
    """One critic step and, every ``n_critic``-th, one generator step; returns the losses to average."""
    generator, critic = parts.generator, parts.critic
    z = torch.randn(real.shape[0], config.model.latent_dim, device=real.device)
    with torch.no_grad():
        fake = generator(z)
    real, fake = diff_augment(real, config.diff_aug), diff_augment(fake, config.diff_aug)
    if config.loss == "ns-r1":  # R1 every r1_every-th step, scaled up by r1_every (StyleGAN2's lazy regularisation)
        lazy = (state.d_steps + 1) % config.r1_every == 0
        d_loss, losses = ns_critic_loss(critic, real, fake, r1_weight=config.r1_gamma / 2 * config.r1_every * lazy)
    else:
        d_loss, losses = critic_loss(critic, real, fake, gp_weight=config.gp_weight, drift=config.drift, phi=config.phi)
    parts.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    parts.opt_d.step()
    parts.sched_d.step()
    state.d_steps += 1
    if state.d_steps % config.n_critic == 0:
        critic.requires_grad_(False)  # the generator step needs no critic gradients
        z = torch.randn(real.shape[0], config.model.latent_dim, device=real.device)
        scores = critic(diff_augment(generator(z), config.diff_aug))
        g_loss = F.softplus(-scores).mean() if config.loss == "ns-r1" else -scores.mean()
        parts.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        parts.opt_g.step()
        parts.sched_g.step()
        critic.requires_grad_(True)
        state.g_steps += 1
        ema_update(parts.ema, generator, ema_decay(config.ema, state.g_steps))
        losses.update(g_loss=g_loss.item(), g_count=1)
    return losses


class _GANTraining:
    """The GAN's `Task`: its parts, its images and the epoch's loss sums."""

    def __init__(self, config: GANTrainConfig, parts: GANParts, images: torch.Tensor, run: RunDirectory):
        self.config, self.parts, self.images, self.run = config, parts, images, run
        self.device = torch.device(config.device)
        self.state = GANState()

    def batches(self, epoch: int):
        return epoch_batches(len(self.images), self.config.batch_size, self.config.seed, epoch, drop_last=True)

    def step(self, batch: torch.Tensor) -> dict[str, float]:
        losses = gan_step(self.config, self.parts, self.images[batch].to(self.device), self.state)
        for k, v in losses.items():
            self.state.sums[k] += v
        return {"d": losses["d_loss"], "w": losses["wasserstein"]}

    def end_epoch(self) -> dict:
        sums, steps, parts = self.state.sums, len(self.images) // self.config.batch_size, self.parts
        row = {**{k: sums[k] / steps for k in ("d_loss", "wasserstein", "gp")},
               "g_loss": sums["g_loss"] / max(1, sums["g_count"]),
               "lr_g": parts.opt_g.param_groups[0]["lr"], "lr_d": parts.opt_d.param_groups[0]["lr"],
               **self.state.steps()}
        self.state.sums = dict.fromkeys(SUMS, 0.0)
        return row

    def save_epoch(self, row: dict) -> None:
        every = self.config.snapshot_every
        if every and row["epoch"] % every == 0:
            self.run.save(f"snapshots/epoch_{row['epoch']:03d}.pt",
                          {"ema": self.parts.ema.state_dict(), **{k: row[k] for k in SNAPSHOT_KEYS}})
        save_sample_grid(self.parts.ema, self.config.grid, self.run.path / "samples" / f"epoch_{row['epoch']:03d}.png",
                         seed=self.config.seed, title=f"{self.run.path.name}: EMA generator after epoch {row['epoch']}, "
                         f"{self.config.grid} samples of fixed noise")

    def write_history(self, history: list[dict]) -> None:
        write_csv(history, self.run.path / "metrics.csv")
        epochs = [row["epoch"] for row in history]
        fig, ax = figure(figsize=(6, 4))
        for key, label in (("d_loss", "critic loss"), ("g_loss", "generator loss"),
                           ("wasserstein", "E[D(x)] − E[D(G(z))]")):
            ax.plot(epochs, [row[key] for row in history], marker=".", label=label)
        from matplotlib.ticker import MaxNLocator

        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("per critic step, averaged over the epoch")
        ax.set_title(self.run.path.name)
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, self.run.path / "curves.png")

    def checkpoint(self) -> dict:
        return self.parts.state_dicts()


@torch.no_grad()
def save_sample_grid(generator: Generator, n: int, path: Path, *, seed: int = 0, title: str = "") -> None:
    """A grid of ``n`` samples from fixed noise (drawn from ``seed``), titled, pixels enlarged, written atomically."""
    from torchvision.utils import make_grid

    was_training = generator.training
    generator.eval()
    images = generator.sample(n, generator=torch.Generator().manual_seed(seed))
    generator.train(was_training)
    grid = make_grid(images.float().cpu(), nrow=max(1, round(n**0.5)), normalize=True, value_range=(-1, 1))
    fig, ax = figure(figsize=(6, 6.4))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")  # sharp pixels, not a blur
    ax.set_axis_off()
    ax.set_title(title or f"{n} samples, fixed noise (seed {seed})", fontsize=10)
    save_figure(fig, path, dpi=110)


def extended(config: GANTrainConfig, epochs: int) -> GANTrainConfig:
    """``config`` trained for ``epochs`` epochs in all: a finished run resumed goes on to there.

    With constant learning rates nothing else depends on the run's length (data order and
    noise are seeded per epoch and step), so the run reaches what one started with
    ``epochs`` would have.

    Raises:
        ValueError: with a linear learning-rate decay, whose schedule spans the run's length.
    """
    if not config.extensible:
        raise ValueError(f"the run's learning rates decay linearly to 0 over its {config.epochs} epochs, so more "
                         "epochs would change its schedule; start a new run instead")
    return dataclasses.replace(config, epochs=epochs)


def read_gan_config(run_dir: str | Path) -> GANTrainConfig:
    """The `GANTrainConfig` a GAN run directory was trained with.

    Raises:
        FileNotFoundError: if it has no ``config.json``.
        ValueError: if it holds another kind of run.
    """
    return read_stored_config(run_dir, "gan", GANTrainConfig.from_dict)


SNAPSHOT_KEYS = ("epoch", "critic_steps", "generator_steps")


def load_snapshots(run_dir: str | Path) -> tuple[GANTrainConfig, list[tuple[dict, Generator]]]:
    """A GAN run's EMA generators kept by ``snapshot_every``, oldest first, each with its epoch and step counts.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no GAN run, or no snapshots.
    """
    config = read_gan_config(run_dir)
    return config, [_snapshot(config, path) for path in _snapshot_paths(run_dir)]


def load_snapshot(run_dir: str | Path, epoch: int) -> tuple[GANTrainConfig, dict, Generator]:
    """A GAN run's EMA generator after ``epoch`` (kept by ``snapshot_every``), with its epoch and step counts:
    runs trained to different lengths compared at one budget.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no GAN run, or no snapshot of that epoch.
    """
    config, paths = read_gan_config(run_dir), _snapshot_paths(run_dir)
    path = Path(run_dir) / "snapshots" / f"epoch_{epoch:03d}.pt"
    if path not in paths:
        kept = ", ".join(p.stem.removeprefix("epoch_").lstrip("0") for p in paths)
        raise FileNotFoundError(f"{run_dir} kept no generator snapshot of epoch {epoch}, only of epochs {kept}")
    return config, *_snapshot(config, path)


def _snapshot_paths(run_dir: str | Path) -> list[Path]:
    """The run's snapshot files, oldest first."""
    paths = sorted((Path(run_dir) / "snapshots").glob("epoch_*.pt"))
    if not paths:
        raise FileNotFoundError(f"{run_dir} holds no generator snapshots: train it with --snapshot-every N")
    return paths


def _snapshot(config: GANTrainConfig, path: Path) -> tuple[dict, Generator]:
    state = load_checkpoint(path)
    return {k: state[k] for k in SNAPSHOT_KEYS}, _generator(config, state["ema"], path)


def load_generator(run_dir: str | Path, *, ema: bool = True) -> tuple[GANTrainConfig, Generator]:
    """A GAN run's generator (its EMA weights unless ``ema=False``) from ``last.pt``, in eval mode.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no GAN run.
    """
    config, _, generator = load_last(run_dir, ema=ema)
    return config, generator


def load_last(run_dir: str | Path, *, ema: bool = True) -> tuple[GANTrainConfig, dict, Generator]:
    """`load_generator` with the epoch and step counts ``last.pt`` was written at (as `load_snapshot`'s).

    Raises:
        FileNotFoundError: when ``run_dir`` holds no GAN run.
    """
    config = read_gan_config(run_dir)
    path = Path(run_dir) / "last.pt"
    checkpoint = load_checkpoint(path)
    state = GANState.from_dict(checkpoint["state"])
    return config, {"epoch": state.epoch, **state.steps()}, _generator(config, checkpoint["ema" if ema else "generator"], path)


def _generator(config: GANTrainConfig, weights: dict, path: Path) -> Generator:
    """``config``'s generator with ``weights`` (read from ``path``), in eval mode."""
    generator = Generator(config.model)
    load_weights(generator, weights, path)
    return generator.eval()
