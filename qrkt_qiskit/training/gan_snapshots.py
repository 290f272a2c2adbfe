"""A GAN run's saved generators: its config, the EMA generator of ``last.pt`` and of each kept snapshot.

What `qrkt gan fid` and the Python API read back from a run directory (``config.json``,
``last.pt``, ``snapshots/epoch_NNN.pt``), every generator with the epoch and step counts it was
saved at, so scores say which generator they scored.
"""

from __future__ import annotations

from pathlib import Path

from ..models.gan import Generator
from .checkpoint import load_checkpoint
from .gan_config import GANTrainConfig
from .stored import read_stored_config
from .runs import load_weights

__all__ = ["SNAPSHOT_KEYS", "load_generator", "load_last", "load_snapshot", "load_snapshots", "read_gan_config",
           "snapshot_path"]


# What a snapshot records beside its weights; cpu_seconds is None in snapshots from before it was kept.
SNAPSHOT_KEYS = ("epoch", "critic_steps", "generator_steps", "cpu_seconds")


def snapshot_path(run_dir: str | Path, epoch: int) -> Path:
    """Where a run keeps its EMA generator of ``epoch`` (`GANTrainConfig.snapshot_every`)."""
    return Path(run_dir) / "snapshots" / f"epoch_{epoch:03d}.pt"


def read_gan_config(run_dir: str | Path) -> GANTrainConfig:
    """The `GANTrainConfig` a GAN run directory was trained with.

    Raises:
        FileNotFoundError: if it has no ``config.json``.
        ValueError: if it holds another kind of run.
    """
    return read_stored_config(run_dir, "gan", GANTrainConfig.from_dict)


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
    path = snapshot_path(run_dir, epoch)
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
    return {k: state.get(k) for k in SNAPSHOT_KEYS}, _generator(config, state["ema"], path)


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
    state = checkpoint["state"]
    position = {"epoch": state["epoch"], "critic_steps": state["d_steps"], "generator_steps": state["g_steps"],
                "cpu_seconds": None if state.get("cpu_seconds") is None else round(state["cpu_seconds"], 1)}
    return config, position, _generator(config, checkpoint["ema" if ema else "generator"], path)


def _generator(config: GANTrainConfig, weights: dict, path: Path) -> Generator:
    """``config``'s generator with ``weights`` (read from ``path``), in eval mode."""
    generator = Generator(config.model)
    load_weights(generator, weights, path)
    return generator.eval()
