"""The GAN training loop: n_critic critic steps per generator step, DiffAugment, a generator EMA, exact resume.

One training step is one critic step; every ``n_critic``-th step also takes one generator step
(the counter really counts). The objectives are `qrkt_qiskit.training.gan_losses`'; the run's
options `qrkt_qiskit.training.gan_config`'s; what it saves is read back by
`qrkt_qiskit.training.gan_snapshots`. The run machinery (`qrkt_qiskit.training.run`) resumes it
exactly: ``last.pt`` carries both networks, the EMA, both optimisers and schedules, torch's
RNG and the `GANState`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data.gan import load_gan_images
from ..models.gan import Generator, discriminator
from ..output import write_csv, write_text
from .augment import diff_augment
from .distributed import check_device
from .gan_config import GANTrainConfig, extended
from .gan_losses import critic_loss, generator_loss, ns_critic_loss
from .gan_report import gan_summary, plot_losses, save_sample_grid
from .gan_snapshots import SNAPSHOT_KEYS, load_generator, read_gan_config, snapshot_path
from .run import RunDirectory, RunState, epoch_batches, preparing, run_epochs

__all__ = ["GANParts", "GANState", "GANTrainConfig", "build_gan", "ema_decay", "ema_update", "extended", "gan_step",
           "load_generator", "read_gan_config", "train_gan"]

SUMS = ("d_loss", "wasserstein", "gp", "g_loss", "g_count")  # per-epoch sums of the step losses


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
    """A GAN run's position: critic and generator steps taken, the CPU time they took, and the epoch's running
    loss sums. ``cpu_seconds`` (this process's CPU time in training steps, all threads) is the budget issue 35
    compares arms by; checkpoints from before it existed start it at 0."""

    d_steps: int = 0
    g_steps: int = 0
    cpu_seconds: float = 0.0
    sums: dict = field(default_factory=lambda: dict.fromkeys(SUMS, 0.0))

    def steps(self) -> dict:
        """The step counts and CPU time under the names of ``metrics.csv``, snapshots and ``fid.json``."""
        return {"critic_steps": self.d_steps, "generator_steps": self.g_steps, "cpu_seconds": round(self.cpu_seconds, 1)}


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

    On Ctrl-C or SIGTERM the position reached is checkpointed before the interrupt propagates; one
    before the first step (loading the images, building the networks) says that nothing was trained,
    or that ``last.pt`` is as it was.
    A run that ends without a generator step (fewer critic steps than ``n_critic``) warns.
    """
    check_device(config.device)
    with RunDirectory(run_dir, config, resume=resume) as run:
        with preparing(run):  # an interrupt while the data load or the networks build says what was kept
            images, parts = build_gan(config, torch.device(config.device))
            task = _GANTraining(config, parts, images, run)
            if resume:
                ckpt = run.load(map_location=config.device, may_differ=("epochs",) if config.extensible else ())
                parts.load(ckpt)
                torch.set_rng_state(ckpt["rng"])
                task.state = GANState.from_dict(ckpt["state"])
                if task.state.epoch > config.epochs:
                    raise ValueError(f"{run_dir} has trained {task.state.epoch} epochs already; a run cannot be "
                                     f"shortened to {config.epochs}")
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
                   "seconds_per_critic_step": round(state.train_seconds / max(1, state.d_steps), 4),
                   "seconds_per_generator_step": round(state.train_seconds / max(1, state.g_steps), 4),
                   "cpu_seconds": round(state.cpu_seconds, 1), "recipe": config.recipe}
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
        g_loss = generator_loss(critic(diff_augment(generator(z), config.diff_aug)), config.loss)
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
        start = time.process_time()
        losses = gan_step(self.config, self.parts, self.images[batch].to(self.device), self.state)
        self.state.cpu_seconds += time.process_time() - start
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
            self.run.save(snapshot_path(".", row["epoch"]).as_posix(),
                          {"ema": self.parts.ema.state_dict(), **{k: row[k] for k in SNAPSHOT_KEYS}})
        save_sample_grid(self.parts.ema, self.config.grid, self.run.path / "samples" / f"epoch_{row['epoch']:03d}.png",
                         seed=self.config.seed, title=f"{self.run.path.name}: EMA generator after epoch {row['epoch']}, "
                         f"{self.config.grid} samples of fixed noise")

    def write_history(self, history: list[dict]) -> None:
        columns = dict.fromkeys(k for row in history for k in row)  # rows from before cpu_seconds was kept lack it
        write_csv(history, self.run.path / "metrics.csv", fieldnames=list(columns))
        plot_losses(history, self.run.path / "curves.png", self.run.path.name)

    def checkpoint(self) -> dict:
        return self.parts.state_dicts()
