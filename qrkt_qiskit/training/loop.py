"""The classification training loop: one function, `train`, that a run directory can resume.

Exact resumption rests on three things: the data order of epoch ``e`` is a permutation drawn
from ``seed + e`` (so position ``(epoch, step)`` fixes every batch), the checkpoint carries
model, optimiser, scheduler, RNG and the epoch's metrics so far, and nothing else is random.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import ImageSplits, TextSplits
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import World
from .metrics import EpochMetrics
from .report import write_history, write_summary
from .runs import build_model, load_data, use_training_noise
from .schedule import warmup_cosine

__all__ = ["evaluate", "sigterm_as_interrupt", "train"]

EVAL_BATCH = 1024


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
        ValueError: ``resume`` with a config that differs from the run's.

    On Ctrl-C or SIGTERM the position reached is checkpointed before the interrupt propagates.
    """
    run_dir = Path(run_dir)
    if not resume and (run_dir / "last.pt").exists():
        raise FileExistsError(f"{run_dir} already holds a run; resume it (--resume) or choose another directory")
    world = World.from_env(config.device)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)  # first: a bad model configuration fails before any data work
    if config.noise is not None:  # noise-aware: every step and every evaluation through the device's noise
        use_training_noise(model, config)
    data = load_data(config, run_dir, fresh=not resume, world=world)
    net = nn.parallel.DistributedDataParallel(model) if world.size > 1 else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_train = len(data.train[1])
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    scheduler = warmup_cosine(optimizer, config.warmup(total_steps), total_steps)
    train_metrics = EpochMetrics(data.n_classes, device)
    state = {"epoch": 0, "step": 0, "train_seconds": 0.0, "history": [], "best_auc": -1.0, "best_epoch": 0}

    if resume:
        ckpt = load_checkpoint(run_dir / "last.pt", map_location=device)
        saved = TrainConfig.from_dict(ckpt["config"]).to_dict()  # options added since it was saved take defaults
        if saved != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if saved.get(k) != v)
            raise ValueError(f"cannot resume {run_dir} with a different configuration (changed: {', '.join(changed)})")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        train_metrics.load_state_dict(ckpt["train_metrics"])
        torch.set_rng_state(ckpt["rng"])
        state = ckpt["state"]
    if world.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"train": config.to_dict(),
                                                         "model": dataclasses.asdict(config.model_config())}, indent=2))

    def checkpoint(name: str = "last.pt") -> None:
        if world.main:
            save_checkpoint({"config": config.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "train_metrics": train_metrics.state_dict(),
                             "rng": torch.get_rng_state(), "state": state}, run_dir / name)

    x_train, y_train = data.train
    safe = True  # False while the weights are being updated: an interrupt there is not checkpointed
    with sigterm_as_interrupt():
        try:
            while state["epoch"] < config.epochs:
                epoch = state["epoch"]
                order = torch.randperm(n_train, generator=torch.Generator().manual_seed(config.seed + epoch))
                batches = order.split(config.batch_size)
                net.train()
                bar = tqdm(total=len(batches), initial=state["step"], desc=f"epoch {epoch + 1}/{config.epochs}",
                           disable=not (progress and world.main), leave=False)
                start = time.perf_counter()
                for batch in batches[state["step"]:]:
                    idx = world.shard(batch)
                    x, y = x_train[idx].to(device), y_train[idx].to(device)
                    safe = False
                    logits = net(x)
                    # Sum over this process's share / global batch size, times the world size that DDP's
                    # gradient averaging divides by: every process count gives the same gradient.
                    loss = F.cross_entropy(logits, y, reduction="sum") * (world.size / len(batch))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
                    optimizer.step()
                    scheduler.step()
                    state["step"] += 1
                    safe = True
                    train_metrics.update(logits, y, loss / world.size * len(batch) / max(1, len(idx)))
                    bar.update()
                    bar.set_postfix(loss=f"{loss.item() / world.size:.4f}")
                    global_step = epoch * steps_per_epoch + state["step"]
                    if config.checkpoint_every and global_step % config.checkpoint_every == 0:
                        state["train_seconds"] += time.perf_counter() - start
                        start = time.perf_counter()
                        checkpoint()
                    if on_step is not None:
                        on_step(global_step)
                bar.close()
                state["train_seconds"] += time.perf_counter() - start
                _end_epoch(state, model, data, train_metrics, world, optimizer, progress)
                train_metrics = EpochMetrics(data.n_classes, device)
                if world.main and state["history"][-1]["val_auc"] > state["best_auc"]:
                    state["best_auc"], state["best_epoch"] = state["history"][-1]["val_auc"], epoch + 1
                    save_checkpoint({"config": config.to_dict(), "model": model.state_dict(), "epoch": epoch + 1},
                                    run_dir / "best.pt")
                checkpoint()
                if world.main:
                    write_history(state["history"], run_dir)
                if on_epoch is not None:
                    on_epoch(state["history"][-1])
        except KeyboardInterrupt:
            if safe:
                checkpoint()
            raise
    summary = write_summary(config, model, state, run_dir) if world.main else {}
    world.barrier()
    return summary


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Inside, SIGTERM (a scheduler's preemption, ``kill``) raises KeyboardInterrupt, so it checkpoints like Ctrl-C.

    Signal handlers belong to the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_epoch(state: dict, model: nn.Module, data: ImageSplits | TextSplits, train_metrics: EpochMetrics,
               world: World, optimizer: torch.optim.Optimizer, progress: bool) -> None:
    row = {"epoch": state["epoch"] + 1, "lr": optimizer.param_groups[0]["lr"],
           "train_seconds": round(state["train_seconds"], 3)}
    row.update({f"train_{k}": v for k, v in train_metrics.compute().items()})
    for split in ("val", "test"):
        row.update({f"{split}_{k}": v for k, v in evaluate(model, *data.split(split), n_classes=data.n_classes,
                                                           world=world, progress=progress, desc=split).items()})
    state["history"].append(row)
    state["epoch"] += 1
    state["step"] = 0


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
    for idx in tqdm(world.shard(torch.arange(len(y))).split(batch_size), desc=desc, leave=False,
                    disable=not (progress and world.main)):
        xb, yb = x[idx].to(device), y[idx].to(device)
        logits = model(xb)
        metrics.update(logits, yb, F.cross_entropy(logits, yb))
    model.train(was_training)
    return metrics.compute()
