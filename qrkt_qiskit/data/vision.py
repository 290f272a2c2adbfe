"""Image datasets as standardized tensors, split as the thesis splits them.

Every loader returns `ImageSplits`: train/validation/test tensors ``(N, C, H, W)`` float32,
standardized per channel with the training split's mean and std, and int64 labels. Whole
datasets fit in memory (MNIST is 190 MB as float32), which makes batching a tensor index,
exact to resume, and free of DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..catalog import IMAGE_DATASETS
from .cifar import read_batches

__all__ = ["IMAGE_DATASETS", "ImageSplits", "load_images"]


# A tenth of each official training set becomes validation: the thesis' MNIST 54k/6k/10k and
# CIFAR-10 45k/5k/10k (Fashion-MNIST as MNIST). Digits has no official split: 70/10/20.
VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class Splits:
    """Train, validation and test inputs with labels ``(N,)``, and the number of classes."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    n_classes: int

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One split by name: ``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; choose one of: train, val, test")
        return getattr(self, name)


@dataclass(frozen=True)
class ImageSplits(Splits):
    """Train, validation and test images ``(N, C, H, W)`` with labels ``(N,)``."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train[0].shape[1:])


def load_images(name: str, root: str | Path | None = None, *, seed: int = 0, download: bool = False) -> ImageSplits:
    """Load dataset ``name`` with the thesis split drawn by ``seed``.

    Args:
        name: ``"digits"`` (scikit-learn's bundled 8×8 digits, no files needed), ``"mnist"``,
            ``"fashion-mnist"`` (torchvision's ``MNIST/raw``, ``FashionMNIST/raw`` layouts) or
            ``"cifar10"`` (the ``cifar-10-batches-py`` folder).
        root: the folder holding those layouts.
        seed: draws which official training images become the validation split.
        download: let torchvision fetch MNIST/Fashion-MNIST/CIFAR-10 into ``root`` when absent.

    Raises:
        ValueError: for an unknown dataset or a missing ``root``.
        FileNotFoundError: when the files are not under ``root``; the message names them.
    """
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose one of: {', '.join(IMAGE_DATASETS)}")
    if name == "digits":
        return _digits(seed)
    if root is None:
        raise ValueError(f"dataset {name!r} needs a data root (--data-root) holding its files")
    root = Path(root)
    (x_train, y_train), test = _cifar10(root, download) if name == "cifar10" else read_mnist_like(name, root, download)
    perm = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(seed))
    n_val = round(VALIDATION_FRACTION * len(y_train))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    return _standardized((x_train[train_idx], y_train[train_idx]), (x_train[val_idx], y_train[val_idx]), test, 10)


def _digits(seed: int) -> ImageSplits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test, n_val = round(0.2 * len(y)), round(0.1 * len(y))
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return _standardized((x[train], y[train]), (x[val], y[val]), (x[test], y[test]), 10)


def _offline(name: str, root: Path, exc: OSError) -> str:
    reason = getattr(exc, "reason", None) or exc
    return (f"{name} could not be downloaded into {root} ({type(exc).__name__}: {reason}); fetch its files on a "
            "machine with network access and copy them there")


def read_mnist_like(name: str, root: Path, download: bool):
    """MNIST or Fashion-MNIST as torchvision reads them: ``[(x_train, y_train), (x_test, y_test)]``, pixels in [0, 1]."""
    from torchvision import datasets

    cls, folder = (datasets.MNIST, "MNIST") if name == "mnist" else (datasets.FashionMNIST, "FashionMNIST")
    try:
        parts = [cls(str(root), train=train, download=download) for train in (True, False)]
    except OSError as exc:  # no network: urllib's URLError, a refused connection
        raise FileNotFoundError(_offline(name, root, exc)) from None
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
        raise FileNotFoundError(
            f"{name} not found under {root}: expected {root / folder / 'raw'} holding train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte"
            + ("" if download else " (pass --download to fetch them)")) from exc
    return [(p.data.unsqueeze(1).float() / 255.0, p.targets.long()) for p in parts]


def _cifar10(root: Path, download: bool):
    folder = root / "cifar-10-batches-py"
    if download and not folder.is_dir():
        from torchvision import datasets

        try:
            datasets.CIFAR10(str(root), train=True, download=True)
        except OSError as exc:
            raise FileNotFoundError(_offline("cifar10", root, exc)) from None
    names = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]
    missing = [n for group in names for n in group if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"cifar10 not found: {folder} lacks {', '.join(missing)}"
                                + ("" if download else " (pass --download to fetch them)"))
    return [read_batches(folder, group) for group in names]


def _standardized(train, val, test, n_classes: int) -> ImageSplits:
    # Per-channel statistics of the training split only, so validation and test stay unseen.
    mean = train[0].mean(dim=(0, 2, 3), keepdim=True)
    std = train[0].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    norm = lambda part: ((part[0] - mean) / std, part[1])  # noqa: E731
    return ImageSplits(norm(train), norm(val), norm(test), n_classes)
