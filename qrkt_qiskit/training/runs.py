"""A run's parts from its configuration, and a run directory read back: data, model, tokenizer."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data import ImageSplits, TextSplits, load_images, load_text, load_tokenizer
from ..models import TextConfig, text_model, vision_model
from ..output import atomic_path
from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig
from .distributed import World
from .stored import read_stored_config

__all__ = ["TOKENIZER", "build_model", "example_input", "load_data", "load_model", "read_config"]

CHECKPOINTS = ("best", "last")
TOKENIZER = "tokenizer.json"  # a text run's tokenizer, in its run directory


def build_model(config: TrainConfig) -> nn.Module:
    """The untrained model of ``config``: its text model (`text_model`) for a text dataset, else its vision model (`vision_model`)."""
    return text_model(config.model_config()) if config.is_text else vision_model(config.model_config())


def load_data(config: TrainConfig, run_dir: str | Path | None = None, *, fresh: bool = False,
              world: World = World()) -> ImageSplits | TextSplits:
    """The data of ``config``: images, or token ids encoded by the run's tokenizer.

    Args:
        config: the run.
        run_dir: a text run keeps its tokenizer there as ``tokenizer.json``.
        fresh: a new text run: train the tokenizer on the training split and save it into
            ``run_dir`` (replacing any left there); otherwise load the one saved there. Under
            torchrun the main process trains it and the others load it.
        world: this process's place among torchrun's processes.
    """
    if not config.is_text:
        return load_images(config.dataset, config.data_root, seed=config.seed, download=config.download)
    if run_dir is None:
        raise ValueError(f"a {config.dataset} run needs its run directory for the tokenizer")
    path = Path(run_dir) / TOKENIZER
    kw = dict(seed=config.seed, max_length=config.max_length, vocab_size=config.vocab_size)
    if fresh and world.main:
        data = load_text(config.dataset, config.data_root, **kw)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            data.tokenizer.save(str(tmp))
    if fresh:
        world.barrier()
    if not (fresh and world.main):
        data = load_text(config.dataset, config.data_root, tokenizer=load_tokenizer(path), **kw)
    return data


def read_config(run_dir: str | Path) -> TrainConfig:
    """The `TrainConfig` a run directory was trained with."""
    return read_stored_config(run_dir, "classification", TrainConfig.from_dict)


def load_model(run_dir: str | Path, checkpoint: str = "best") -> tuple[TrainConfig, nn.Module]:
    """The run's model with the weights of its ``"best"`` (validation AUC) or ``"last"`` checkpoint, in eval mode."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; choose one of: {', '.join(CHECKPOINTS)}")
    config = read_config(run_dir)
    path = Path(run_dir) / f"{checkpoint}.pt"
    state = load_checkpoint(path)
    model = build_model(config)
    load_weights(model, state["model"], path)
    return config, model.eval()


def load_weights(model: nn.Module, weights: dict, path: Path) -> None:
    """``model.load_state_dict(weights)``, with a mismatch said in one sentence naming ``path``.

    Raises:
        CheckpointError: when the checkpoint holds another model than ``model``.
    """
    mine = model.state_dict()
    missing, unexpected = sorted(set(mine) - set(weights)), sorted(set(weights) - set(mine))
    reshaped = sorted(k for k in set(mine) & set(weights) if tuple(mine[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or reshaped:
        counts = ", ".join(f"{len(v)} {what}" for what, v in (("missing", missing), ("unexpected", unexpected),
                                                            ("of another shape", reshaped)) if v)
        first = (missing or unexpected or reshaped)[0]
        raise CheckpointError(f"{path} holds another model than its run's config.json describes ({counts} weights, "
                              f"e.g. {first!r}): was it copied from another run?")
    model.load_state_dict(weights)


def example_input(model: nn.Module) -> torch.Tensor:
    """One sample for a model `build_model` makes: a blank image, or a review of ``max_length`` real tokens."""
    c = model.config
    if isinstance(c, TextConfig):  # [UNK] (id 1) everywhere: no padding, every position runs its circuits
        return torch.ones(1, c.max_length, dtype=torch.int64)
    return torch.zeros(1, c.channels, c.image_size, c.image_size)
