"""A classifier score for generated images: how many it accepts as the dataset's, and which classes.

FID at ~220 ranks nothing; a classifier trained on the dataset itself says plainly whether
samples look like digits and whether the generator covers every class (the histogram of its
predictions: mode collapse shows there). It has one class more than the dataset, a reject
class trained on synthetic non-digits (`non_digits`: blocks, checkerboards, noise, scattered
strokes): without it, "classified with confidence ≥ 0.9" passed 14–24 % of GAN samples that
were plainly blocks (issue 35). A sample is accepted when its most likely class is one of the
dataset's with probability ≥ 0.9. The classifier is a small CNN this project trains on the
dataset's training split and checks on its test split; `load_classifier` trains it once and
caches its weights.
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
from .non_digits import non_digits

__all__ = ["ClassifierScore", "DigitClassifier", "accepted_labels", "cache_folder", "classifier_score", "load_classifier",
           "train_classifier"]

CACHE_ENV = "QRKT_CACHE"  # where trained classifiers are kept (default ~/.cache/qrkt)


def cache_folder() -> Path:
    """Where trained classifiers and real-image FID statistics are kept: ``$QRKT_CACHE``, else ``~/.cache/qrkt``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "qrkt")


class DigitClassifier(nn.Module):
    """Two 3×3 convolutions (``width`` and 2·``width`` channels) with max-pooling, a hidden layer, then ``classes``
    logits (`train_classifier` makes the last one the reject class): images in [-1, 1] ``(N, C, S, S)``, S % 4 == 0."""

    def __init__(self, channels: int = 1, size: int = 32, classes: int = 10, width: int = 32):
        super().__init__()
        self.channels, self.size, self.classes, self.width = channels, size, classes, width
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


@dataclass(frozen=True)
class ClassifierScore:
    """What the classifier made of ``samples`` images.

    Attributes:
        confident: the fraction accepted: most likely one of the dataset's classes (not the
            reject class), with probability ≥ ``threshold``.
        histogram: predicted images per dataset class (all samples, accepted or not).
        rejected: the fraction whose most likely class is the reject class.
        samples, threshold: what was scored, and the confidence bar.
        classifier_accuracy: the classifier's own accuracy on the dataset's test split.
    """

    confident: float
    histogram: tuple[int, ...]
    samples: int
    threshold: float
    classifier_accuracy: float
    rejected: float = 0.0

    def __str__(self) -> str:
        return (f"{self.confident:.1%} of {self.samples} samples accepted (a digit class with probability ≥ "
                f"{self.threshold:g}), {self.rejected:.1%} put in the reject class (classifier: "
                f"{self.classifier_accuracy:.2%} on real test images); per class: "
                + " ".join(f"{k}:{n}" for k, n in enumerate(self.histogram)))


@torch.no_grad()
def classifier_score(classifier: DigitClassifier, images: torch.Tensor, *, threshold: float = 0.9,
                     classifier_accuracy: float = float("nan"), batch_size: int = 500) -> ClassifierScore:
    """Score ``images`` ``(N, C, S, S)`` in [-1, 1] with ``classifier`` (whose last class is the reject class)."""
    best, label = accepted_labels(classifier, images, batch_size=batch_size)
    reject = classifier.classes - 1
    histogram = torch.bincount(label[label != reject], minlength=reject)
    accepted = (label != reject) & (best >= threshold)
    return ClassifierScore(float(accepted.float().mean()), tuple(int(n) for n in histogram), len(images), threshold,
                           classifier_accuracy, float((label == reject).float().mean()))


@torch.no_grad()
def accepted_labels(classifier: DigitClassifier, images: torch.Tensor, *, batch_size: int = 500
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The most likely class of each image and its probability: ``(probability, label)``, each ``(N,)``."""
    classifier.eval()
    probs = torch.cat([F.softmax(classifier(b.float().clamp(-1, 1)), dim=1) for b in images.split(batch_size)])
    return probs.max(dim=1)


def train_classifier(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                     epochs: int = 5, batch_size: int = 128, lr: float = 1e-3, seed: int = 0, width: int = 32,
                     rejects: float = 0.25, progress: bool = False) -> tuple[DigitClassifier, float]:
    """A `DigitClassifier` trained on ``train`` (images in [-1, 1], labels) and on synthetic non-digits (the reject
    class, ``rejects`` times as many as the real images), and its accuracy on ``test``'s real images."""
    (real, real_y), (x_test, y_test) = train, test
    torch.manual_seed(seed)
    reject = int(real_y.max()) + 1
    model = DigitClassifier(real.shape[1], real.shape[-1], reject + 1, width)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-(len(real_y) + round(rejects * len(real))) // batch_size)
    bar = ProgressBar(total=steps, desc="training the classifier score's CNN", unit="step", leave=False, disable=not progress)
    fakes = non_digits(round(rejects * len(real)), size=real.shape[-1], channels=real.shape[1], seed=seed)
    x, y = torch.cat([real, fakes]), torch.cat([real_y, torch.full((len(fakes),), reject, dtype=real_y.dtype)])
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
    """The classifier (with its reject class) for dataset ``key`` (e.g. ``"mnist-32"``) from the cache, else trained
    on ``data()`` and cached.

    ``data`` returns ``((x, y), (x_test, y_test))`` (`data.gan.load_gan_labelled`). The weights
    are written atomically and read back with ``weights_only=True``.
    """
    folder = Path(cache_dir) if cache_dir is not None else cache_folder()
    path = folder / f"classifier-{key}-e{epochs}-reject.pt"  # with the reject class (files without it are not read)
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitClassifier(**json.loads(saved["shape"]))
        model.load_state_dict(saved["state"])
        return model.eval(), float(saved["accuracy"])
    model, accuracy = train_classifier(*data(), epochs=epochs, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    shape = json.dumps({"channels": model.channels, "size": model.size, "classes": model.classes, "width": model.width})
    with atomic_path(path) as tmp:
        torch.save({"state": model.state_dict(), "accuracy": accuracy, "shape": shape}, tmp)
    return model, accuracy
