"""Training images for GANs: in [-1, 1] (the generator's tanh range), 32×32 unless asked otherwise.

The classifier loaders (`load_images`) standardise per channel; a GAN needs the raw range
instead, so this module reads the same files its own way. MNIST and Fashion-MNIST (28×28)
are padded with background to 32×32, as TransGAN pads them; CIFAR-10 is 32×32 already.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cifar import read_batches

__all__ = ["DEBIAN_FASHION_MNIST", "GAN_DATASETS", "load_gan_images", "load_gan_labelled"]

GAN_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")

# Where Debian's package `dataset-fashion-mnist` puts the four original .gz files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def load_gan_images(name: str, root: str | Path | None = None, *, image_size: int | None = None,
                    limit: int | None = None) -> torch.Tensor:
    """The training images of ``name`` as ``(N, C, S, S)`` float32 in [-1, 1].

    Args:
        name: ``"digits"`` (scikit-learn's bundled 8×8 digits, no files), ``"mnist"``,
            ``"fashion-mnist"`` (torchvision's ``MNIST/raw`` / ``FashionMNIST/raw`` under ``root``,
            raw or ``.gz``; Fashion-MNIST also from Debian's `DEBIAN_FASHION_MNIST`) or
            ``"cifar10"`` (``root/cifar-10-batches-py``).
        root: the data folder (not needed for digits, nor for Debian's Fashion-MNIST).
        image_size: side of the returned images; ``None``: 32, or 8 for digits. 28×28 images
            are padded to 32 with background; any other change of size is bilinear.
        limit: keep only the first ``limit`` training images (for short runs and tests).

    Raises:
        ValueError: for an unknown dataset, a bad ``limit`` or a missing ``root``.
        FileNotFoundError: when the files are absent; the message names where they were sought.
    """
    if name not in GAN_DATASETS:
        raise ValueError(f"unknown GAN dataset {name!r}; choose one of: {', '.join(GAN_DATASETS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit!r}")
    if name == "digits":
        from sklearn.datasets import load_digits

        x = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    elif name == "cifar10":
        x = _cifar10(_root(name, root))
    else:
        x = _idx_images(_mnist_file(name, root)).unsqueeze(1).float() / 255.0
    x = x[:limit] * 2.0 - 1.0
    return _resize(x, image_size or (8 if name == "digits" else 32))


def load_gan_labelled(name: str, root: str | Path | None = None, *, image_size: int | None = None, seed: int = 0):
    """Labelled train and test images in the GAN's range and size: ``((x, y), (x_test, y_test))``.

    What a classifier score is trained and checked on (`evaluation.classifier_score`). MNIST,
    Fashion-MNIST and CIFAR-10 use their own test splits; digits holds out 20 % (``seed``).

    Raises:
        ValueError: for an unknown dataset or a missing ``root``.
        FileNotFoundError: when the files are absent.
    """
    if name not in GAN_DATASETS:
        raise ValueError(f"unknown GAN dataset {name!r}; choose one of: {', '.join(GAN_DATASETS)}")
    size = image_size or (8 if name == "digits" else 32)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(digits.target, dtype=torch.int64)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        test, train = perm[: round(0.2 * len(y))], perm[round(0.2 * len(y)):]
        parts = [(x[train], y[train]), (x[test], y[test])]
    elif name == "cifar10":
        folder = _root(name, root) / "cifar-10-batches-py"
        parts = [read_batches(folder, [f"data_batch_{i}" for i in range(1, 6)]), read_batches(folder, ["test_batch"])]
    else:
        from .vision import read_mnist_like

        parts = read_mnist_like(name, _root(name, root), False)
    return tuple((_resize(x * 2.0 - 1.0, size), y) for x, y in parts)


def _root(name: str, root) -> Path:
    if root is None:
        raise ValueError(f"dataset {name!r} needs a data root (--data-root) holding its files")
    return Path(root)


def _mnist_file(name: str, root) -> Path:
    stem = "train-images-idx3-ubyte"
    places = [] if root is None else [Path(root) / _FOLDERS[name] / "raw"]
    places += [DEBIAN_FASHION_MNIST] if name == "fashion-mnist" else []
    if not places:
        _root(name, root)
    for place in places:
        for candidate in (place / stem, place / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    hint = " (Debian: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
    raise FileNotFoundError(f"{name} not found: no {stem}[.gz] in {' or '.join(map(str, places))}{hint}")


def _idx_images(path: Path) -> torch.Tensor:
    """An IDX3 file of uint8 images (raw or gzip) as ``(N, H, W)`` uint8."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, h, w = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051 or len(data) != 16 + n * h * w:
        raise ValueError(f"{path} is not an IDX file of uint8 images (magic {magic}, {len(data)} bytes)")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, h, w).copy())


def _cifar10(root: Path) -> torch.Tensor:
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"cifar10 not found: {folder} lacks {', '.join(missing)}")
    return read_batches(folder, names)[0]


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    side = x.shape[-1]
    if side == size:
        return x
    if side == 28 and size == 32:
        return F.pad(x, (2, 2, 2, 2), value=-1.0)  # background is black: -1 after scaling
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(-1.0, 1.0)
