"""Image loaders on files the tests write themselves, in the standard layouts."""

import pickle

import numpy as np
import pytest
import torch

from qrkt_qiskit.data import load_images


def _write_idx(path, array: np.ndarray):
    magic = {1: 0x801, 3: 0x803}[array.ndim]
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_layout_is_read_and_split_a_tenth_for_validation(tmp_path, name, folder):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    images = rng.integers(0, 256, (50, 28, 28))
    _write_idx(raw / "train-images-idx3-ubyte", images)
    _write_idx(raw / "train-labels-idx1-ubyte", np.arange(50) % 10)
    _write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(20) % 10)
    data = load_images(name, tmp_path, seed=3)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [45, 5, 20]
    assert data.image_shape == (1, 28, 28)
    # The split is a seeded permutation; standardization uses the training split's statistics.
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    raw = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255
    train = raw[perm[5:]]
    want = (raw[perm[:5]] - train.mean()) / train.std()
    assert torch.allclose(data.val[0], want, atol=1e-5)
    assert torch.equal(data.val[1], perm[:5] % 10)
    assert torch.equal(load_images(name, tmp_path, seed=3).val[0], data.val[0])


def test_cifar10_batches_are_read(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch))
    data = load_images("cifar10", tmp_path)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [18, 2, 4]
    assert data.image_shape == (3, 32, 32)


def test_digits_needs_no_files_and_is_split_70_10_20():
    data = load_images("digits", seed=0)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [1258, 180, 359]
    assert data.image_shape == (1, 8, 8)
    assert not torch.equal(load_images("digits", seed=1).test[1], data.test[1])


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist not found under .*: expected .*MNIST/raw holding "
                                                r"train-images-idx3-ubyte, .*\(pass --download to fetch them\)"):
        load_images("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"cifar10 not found: .*cifar-10-batches-py lacks data_batch_1, "):
        load_images("cifar10", tmp_path)
    with pytest.raises(ValueError, match=r"dataset 'mnist' needs a data root \(--data-root\) holding its files"):
        load_images("mnist")
    with pytest.raises(ValueError, match=r"unknown image dataset 'svhn'; choose one of: digits, mnist, fashion-mnist, cifar10"):
        load_images("svhn")
