"""The classification training loop: `train`, the run machinery (`qrkt_qiskit.training.run`) plus one step.

``last.pt`` carries the model, optimiser, schedule, the epoch's running metrics, torch's RNG, the training
noise's generators (`TrainingNoise`) and the `ClassifierState`; ``best.pt`` the model of the best validation
ROC-AUC.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..backends.progress import circuit_progress
from ..data import ImageSplits, TextSplits
from ..levels import by_level
from ..output import ProgressBar
from .config import TrainConfig
from .distributed import World
from .metrics import EpochMetrics
from .noise import TrainingNoise
from .report import write_history, write_summary
from .run import RunDirectory, RunState, epoch_batches, preparing, run_epochs
from .runs import build_model, load_data
from .schedule import warmup_cosine

__all__ = ["ClassifierState", "evaluate", "train", "train_step"]

EVAL_BATCH = 1024


@dataclass
class ClassifierState(RunState):
    """A classification run's position, and its best validation ROC-AUC so far (``best.pt``'s epoch)."""

    best_auc: float = -1.0
    best_epoch: int = 0


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          on_step: Callable[[int], None] | None = None, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train ``config`` into ``run_dir`` (created if needed) and return the run's summary.

    Args:
        config: the run.
        run_dir: where ``config.json``, ``metrics.csv``, ``curves.png``, ``last.pt``, ``best.pt``
            (best validation AUC) and ``summary.json`` go; a text run's ``tokenizer.json``,
            trained on a fresh run's training split, too.
        resume: continue the run in ``run_dir`` from its ``last.pt``; the result is what an
            uninterrupted run would have given (bit-identical on CPU).
        progress: show tqdm progress bars.
        on_step: called with the global step after each optimiser step.
        on_epoch: called with the epoch's metrics row (``val_auc``, …) once it is checkpointed;
            an exception it raises (a search pruning the trial) stops the run there.

    Raises:
        FileExistsError: ``run_dir`` already holds a run and ``resume`` is False.
        ValueError: ``resume`` with a config that differs from the run's, or a dataset that
            needs files without a ``data_root``.

    On Ctrl-C or SIGTERM the position reached is checkpointed before the interrupt propagates;
    one before the first step (building the model, loading data, training the tokenizer) says
    that nothing was trained.
    """
    config.check_data_root()
    world = World.from_env(config.device)
    status = _status if progress and world.main else (lambda message: None)
    with RunDirectory(run_dir, config, resume=resume, main=world.main) as run:
        with preparing(run):  # an interrupt before the first step says that nothing was trained
            torch.manual_seed(config.seed)
            status(f"building the {'quantum' if config.quantum else 'classical'} {config.preset} model ({config.ode})")
            model = build_model(config).to(config.device)  # first: a bad model configuration fails before any data work
            # noise-aware: every step through a drawn device's noise, every evaluation through the first's
            noise = TrainingNoise.from_config(model, config, status)
            tokenizer = config.is_text and not resume
            status(f"loading {config.dataset}" + (f" and training a {config.vocab_size:,}-piece WordPiece tokenizer "
                                                  "on its training split" if tokenizer else ""))
            data = load_data(config, run.path, fresh=not resume, world=world)
            task = _Classification(config, model, data, world, run, progress, noise)
            if resume:
                ckpt = run.load(map_location=config.device)
                task.load(ckpt)
                torch.set_rng_state(ckpt["rng"])
                task.state = ClassifierState.from_dict(ckpt["state"])
            run.write_config({"train": config.to_dict(), "model": dataclasses.asdict(config.model_config())})
        run_epochs(task, run, task.state, task.batches, epochs=config.epochs, checkpoint_every=config.checkpoint_every,
                   progress=progress, on_step=on_step, on_epoch=on_epoch)
        summary = write_summary(config, model, task.state, run.path) if world.main else {}
    world.barrier()
    return summary


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, scheduler, x: torch.Tensor, y: torch.Tensor, *,
               clip_norm: float, batch_total: int | None = None, world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One classification step as `train` takes it: cross-entropy, backward, clipping, AdamW, schedule.

    Args:
        net: the model (or its DistributedDataParallel wrapper).
        x, y: this process's share of the batch.
        batch_total: the global batch size (default: ``len(y)``).
        world_size: torchrun's process count.

    Returns:
        The logits and the loss as summed over this share, scaled to the global batch.
    """
    # Sum over this process's share / global batch size, times the world size that DDP's
    # gradient averaging divides by: every process count gives the same gradient.
    logits = net(x)
    loss = F.cross_entropy(logits, y, reduction="sum") * (world_size / (batch_total or len(y)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
    optimizer.step()
    scheduler.step()
    return logits, loss


class _Classification:
    """The classifier's `Task`: its model, optimiser, schedule and the epoch's running metrics."""

    def __init__(self, config: TrainConfig, model: nn.Module, data: ImageSplits | TextSplits, world: World,
                 run: RunDirectory, progress: bool, noise: TrainingNoise):
        self.config, self.model, self.data, self.world, self.run, self.progress = config, model, data, world, run, progress
        self.noise = noise
        self.device = torch.device(config.device)
        self.net = nn.parallel.DistributedDataParallel(model) if world.size > 1 else model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        total_steps = config.epochs * math.ceil(len(data.train[1]) / config.batch_size)
        self.scheduler = warmup_cosine(self.optimizer, config.warmup(total_steps), total_steps)
        self.train_metrics = EpochMetrics(data.n_classes, self.device)
        self.state = ClassifierState()

    def batches(self, epoch: int):
        return epoch_batches(len(self.data.train[1]), self.config.batch_size, self.config.seed, epoch)

    def step(self, batch: torch.Tensor) -> dict[str, float]:
        idx = self.world.shard(batch)
        x_train, y_train = self.data.train
        x, y = x_train[idx].to(self.device), y_train[idx].to(self.device)
        with self.noise.step():
            logits, loss = train_step(self.net, self.optimizer, self.scheduler, x, y, clip_norm=self.config.clip_norm,
                                      batch_total=len(batch), world_size=self.world.size)
        self.train_metrics.update(logits, y, loss / self.world.size * len(batch) / max(1, len(idx)))
        return {"loss": loss.item() / self.world.size}

    def end_epoch(self) -> dict:
        row = {"lr": self.optimizer.param_groups[0]["lr"], **self.noise.epoch_draws()}
        row.update({f"train_{k}": v for k, v in self.train_metrics.compute().items()})
        for split in ("val", "test"):
            row.update({f"{split}_{k}": v for k, v in evaluate(self.model, *self.data.split(split),
                                                               n_classes=self.data.n_classes, world=self.world,
                                                               progress=self.progress, desc=split).items()})
        self.train_metrics = EpochMetrics(self.data.n_classes, self.device)
        return row

    def save_epoch(self, row: dict) -> None:
        if row["val_auc"] > self.state.best_auc:
            self.state.best_auc, self.state.best_epoch = row["val_auc"], row["epoch"]
            self.run.save("best.pt", {"model": self.model.state_dict(), "epoch": row["epoch"]})

    def write_history(self, history: list[dict]) -> None:
        write_history(history, self.run.path)

    def checkpoint(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "train_metrics": self.train_metrics.state_dict(),
                "noise": self.noise.state_dict()}

    def load(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.train_metrics.load_state_dict(ckpt["train_metrics"])
        if "noise" in ckpt:  # a run checkpointed before training noise had a state drew nothing, sampled nothing
            self.noise.load_state_dict(ckpt["noise"])


def _status(message: str) -> None:
    """One line on stderr for a step that shows no bar (building, loading), above any bar."""
    tqdm.write(message + " ...", file=sys.stderr)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_classes: int, world: World = World(),
             batch_size: int = EVAL_BATCH, progress: bool = False, desc: str = "evaluate") -> dict[str, float]:
    """Loss, accuracy, macro F1 and macro ROC-AUC of ``model`` on ``(x, y)``, in eval mode.

    Under ``torchrun`` each process evaluates its share and the metrics gather them.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    metrics = EpochMetrics(n_classes, device)
    mine = world.shard(torch.arange(len(y)))
    show = progress and world.main
    bar = ProgressBar(total=len(mine), desc=desc, unit="sample", leave=False, disable=not show)
    with circuit_progress(f"{desc}: circuits", enabled=show):  # moves within a slow batch, off the exact engine
        for idx in mine.split(batch_size):
            xb, yb = x[idx].to(device), y[idx].to(device)
            logits = by_level(model, xb)  # on a backend: one job per dependency level, not one per layer call
            metrics.update(logits, yb, F.cross_entropy(logits, yb))
            bar.update(len(idx))
    bar.close()
    model.train(was_training)
    return metrics.compute()
