"""A classifier score for generated images: how many it recognises with confidence, and which classes.

FID at ~220 ranks nothing; a classifier trained on the dataset itself says plainly whether
samples look like digits (the fraction it classifies with confidence ≥ 0.9) and whether the
generator covers every class (the histogram of its predictions: mode collapse shows there).
The classifier is a small CNN this project trains on the dataset's training split and checks
on its test split (≥ 99 % on MNIST); `load_classifier` trains it once and caches its weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..output import ProgressBar, atomic_path

__all__ = ["ClassifierScore", "DigitClassifier", "cache_folder", "classifier_score", "load_classifier", "train_classifier"]

CACHE_ENV = "QRKT_CACHE"  # where trained classifiers are kept (default ~/.cache/qrkt)


def cache_folder() -> Path:
    """Where trained classifiers and real-image FID statistics are kept: ``$QRKT_CACHE``, else ``~/.cache/qrkt``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "qrkt")


class DigitClassifier(nn.Module):
    """Two 3×3 convolutions with max-pooling, a hidden layer, 10 logits: images in [-1, 1] ``(N, C, S, S)``, S % 4 == 0."""

    def __init__(self, channels: int = 1, size: int = 32, classes: int = 10):
        super().__init__()
        self.channels, self.size, self.classes = channels, size, classes
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


@dataclass(frozen=True)
class ClassifierScore:
    """What the classifier made of ``samples`` images.

    Attributes:
        confident: the fraction classified with probability ≥ ``threshold``.
        histogram: predicted images per class (all samples, confident or not).
        samples, threshold: what was scored, and the confidence bar.
        classifier_accuracy: the classifier's own accuracy on the dataset's test split.
    """

    confident: float
    histogram: tuple[int, ...]
    samples: int
    threshold: float
    classifier_accuracy: float

    def __str__(self) -> str:
        return (f"{self.confident:.1%} of {self.samples} samples classified with confidence ≥ {self.threshold:g} "
                f"(classifier: {self.classifier_accuracy:.2%} on real test images); per class: "
                + " ".join(f"{k}:{n}" for k, n in enumerate(self.histogram)))


@torch.no_grad()
def classifier_score(classifier: DigitClassifier, images: torch.Tensor, *, threshold: float = 0.9,
                     classifier_accuracy: float = float("nan"), batch_size: int = 500) -> ClassifierScore:
    """Score ``images`` ``(N, C, S, S)`` in [-1, 1] with ``classifier``."""
    classifier.eval()
    probs = torch.cat([F.softmax(classifier(b.float().clamp(-1, 1)), dim=1) for b in images.split(batch_size)])
    best, label = probs.max(dim=1)
    histogram = torch.bincount(label, minlength=classifier.classes)
    return ClassifierScore(float((best >= threshold).float().mean()), tuple(int(n) for n in histogram), len(images),
                           threshold, classifier_accuracy)


def train_classifier(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                     epochs: int = 5, batch_size: int = 128, seed: int = 0,
                     progress: bool = False) -> tuple[DigitClassifier, float]:
    """A `DigitClassifier` trained on ``train`` (images in [-1, 1], labels), and its accuracy on ``test``."""
    (x, y), (x_test, y_test) = train, test
    torch.manual_seed(seed)
    model = DigitClassifier(x.shape[1], x.shape[-1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * -(-len(y) // batch_size)
    bar = ProgressBar(total=steps, desc="training the classifier score's CNN", unit="step", leave=False, disable=not progress)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.update()
    bar.close()
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(b).argmax(1) for b in x_test.split(1000)])
    return model, float((predicted == y_test).float().mean())


def load_classifier(key: str, data: Callable[[], tuple], *, epochs: int = 5, cache_dir: str | Path | None = None,
                    progress: bool = False) -> tuple[DigitClassifier, float]:
    """The classifier for dataset ``key`` (e.g. ``"mnist-32"``) from the cache, else trained on ``data()`` and cached.

    ``data`` returns ``((x, y), (x_test, y_test))`` (`data.gan.load_gan_labelled`). The weights
    are written atomically and read back with ``weights_only=True``.
    """
    folder = Path(cache_dir) if cache_dir is not None else cache_folder()
    path = folder / f"classifier-{key}-e{epochs}.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitClassifier(**json.loads(saved["shape"]))
        model.load_state_dict(saved["state"])
        return model.eval(), float(saved["accuracy"])
    model, accuracy = train_classifier(*data(), epochs=epochs, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    shape = json.dumps({"channels": model.channels, "size": model.size, "classes": model.classes})
    with atomic_path(path) as tmp:
        torch.save({"state": model.state_dict(), "accuracy": accuracy, "shape": shape}, tmp)
    return model, accuracy
