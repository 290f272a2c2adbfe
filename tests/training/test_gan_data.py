"""GAN images: [-1, 1], 28×28 padded to 32×32, from files the tests write themselves."""

import gzip
import pickle

import numpy as np
import pytest
import torch

from qrkt_qiskit.data import gan as gan_data
from qrkt_qiskit.data.gan import load_gan_images


def _idx_bytes(images: np.ndarray) -> bytes:
    return np.array([0x803, *images.shape], dtype=">i4").tobytes() + images.astype(np.uint8).tobytes()


def test_digits_are_in_minus_one_to_one_and_can_be_resized():
    x = load_gan_images("digits")
    assert x.shape == (1797, 1, 8, 8) and x.min() == -1 and x.max() == 1
    assert load_gan_images("digits", image_size=32, limit=5).shape == (5, 1, 32, 32)


@pytest.mark.parametrize(("name", "folder", "packed"), [("mnist", "MNIST", False), ("fashion-mnist", "FashionMNIST", True)])
def test_mnist_layouts_are_padded_to_32_with_background(tmp_path, name, folder, packed):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    images = np.full((6, 28, 28), 255)
    data = _idx_bytes(images)
    if packed:
        (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    else:
        (raw / "train-images-idx3-ubyte").write_bytes(data)
    x = load_gan_images(name, tmp_path, limit=4)
    assert x.shape == (4, 1, 32, 32)
    assert (x[:, :, 2:30, 2:30] == 1).all() and x[:, :, :2].eq(-1).all() and x[:, :, :, 30:].eq(-1).all()


def test_debian_fashion_mnist_is_found_without_a_root(tmp_path, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros((3, 28, 28)))))
    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST", tmp_path)
    assert load_gan_images("fashion-mnist").shape == (3, 1, 32, 32)


def test_cifar10_batches_are_read_as_three_channels(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]}, f)
    x = load_gan_images("cifar10", tmp_path)
    assert x.shape == (10, 3, 32, 32) and torch.all(x == -1)


def test_missing_or_bad_files_are_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    with pytest.raises(FileNotFoundError, match=r"mnist not found: no train-images-idx3-ubyte\[\.gz\] in .*MNIST/raw$"):
        load_gan_images("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"fashion-mnist not found: .* \(Debian: apt-get install dataset-fashion-mnist\)"):
        load_gan_images("fashion-mnist")
    with pytest.raises(FileNotFoundError, match=r"cifar10 not found: .*cifar-10-batches-py lacks data_batch_1"):
        load_gan_images("cifar10", tmp_path)
    with pytest.raises(ValueError, match=r"dataset 'mnist' needs a data root \(--data-root\)"):
        load_gan_images("mnist")
    with pytest.raises(ValueError, match=r"unknown GAN dataset 'svhn'; choose one of: digits, mnist"):
        load_gan_images("svhn")
    with pytest.raises(ValueError, match=r"limit must be a positive number of images, got 0"):
        load_gan_images("digits", limit=0)
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\0" * 20)
    with pytest.raises(ValueError, match=r"is not an IDX file of uint8 images"):
        load_gan_images("mnist", tmp_path)
