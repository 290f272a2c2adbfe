"""Reading a run directory back: its configuration and its trained model."""

from __future__ import annotations

import json
from pathlib import Path

from ..models import VisionTransformer
from .checkpoint import load_checkpoint
from .config import TrainConfig

__all__ = ["load_model", "read_config"]

CHECKPOINTS = ("best", "last")


def read_config(run_dir: str | Path) -> TrainConfig:
    """The `TrainConfig` a run directory was trained with."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.json")
    return TrainConfig.from_dict(json.loads(path.read_text())["train"])


def load_model(run_dir: str | Path, checkpoint: str = "best") -> tuple[TrainConfig, VisionTransformer]:
    """The run's model with the weights of its ``"best"`` (validation AUC) or ``"last"`` checkpoint, in eval mode."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; choose one of: {', '.join(CHECKPOINTS)}")
    config = read_config(run_dir)
    state = load_checkpoint(Path(run_dir) / f"{checkpoint}.pt")
    model = VisionTransformer(config.model_config())
    model.load_state_dict(state["model"])
    return config, model.eval()
