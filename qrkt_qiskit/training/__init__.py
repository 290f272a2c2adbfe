"""Training: the classification loop, its configuration, checkpoints and reports."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .loop import evaluate, train, train_step
from .report import results_table
from .runs import load_model, read_config

__all__ = ["CheckpointError", "TrainConfig", "evaluate", "load_checkpoint", "load_model", "read_config", "results_table", "save_checkpoint",
           "train", "train_step"]
