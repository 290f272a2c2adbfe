"""Per-epoch classification metrics through torchmetrics: loss, accuracy, macro F1, macro ROC-AUC.

Under ``torchrun`` torchmetrics gathers every process's state when computing, so each
process feeds only its own samples. States are persistent: a mid-epoch checkpoint carries
the epoch's metrics so far, and a resumed epoch reports what an uninterrupted one would.
"""

from __future__ import annotations

import torch
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

__all__ = ["METRIC_NAMES", "EpochMetrics"]

METRIC_NAMES = ("loss", "accuracy", "f1", "auc")


class EpochMetrics:
    """Accumulates one split's logits and labels over an epoch."""

    def __init__(self, n_classes: int, device: torch.device | str = "cpu"):
        self.scores = MetricCollection({
            "accuracy": MulticlassAccuracy(n_classes, average="micro"),
            "f1": MulticlassF1Score(n_classes, average="macro"),
            "auc": MulticlassAUROC(n_classes, average="macro"),
        }).to(device)
        self.loss = MeanMetric().to(device)
        for m in (self.scores, self.loss):
            m.persistent(True)

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> None:
        """``loss`` is the mean loss over ``targets``."""
        logits = logits.detach().float()
        self.scores.update(logits, targets)
        self.loss.update(loss.detach().float(), weight=len(targets))

    def compute(self) -> dict[str, float]:
        """The epoch's mean loss, accuracy, macro F1 and macro ROC-AUC so far."""
        values = {name: float(v) for name, v in self.scores.compute().items()}
        return {"loss": float(self.loss.compute()), **values}

    def state_dict(self) -> dict:
        """The running sums, for a mid-epoch checkpoint."""
        return {"scores": self.scores.state_dict(), "loss": self.loss.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the running sums saved by `state_dict`."""
        self.scores.load_state_dict(state["scores"])
        self.loss.load_state_dict(state["loss"])
