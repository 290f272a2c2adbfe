"""Noise studies: one trained model evaluated across backends, shot counts and noise scales.

The native engine's exact result is the reference row; every other row is the same weights
on a backend profile with per-call overrides (``shots=``, ``noise_scale=``, ``seed=``). The
table goes to a CSV and a markdown file, the curves to a PNG, all in ``out_dir``.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from . import backends as registry
from .layers import QuantumLayer, to_backend

__all__ = ["NoiseStudyRow", "accuracy", "noise_study"]


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy of logits ``(N, classes)`` against integer labels ``(N,)``."""
    return (outputs.argmax(dim=-1) == targets).float().mean().item()


@dataclass(frozen=True)
class NoiseStudyRow:
    """One evaluation: a backend at a shot count and noise scale.

    Attributes:
        backend, kind: the profile evaluated (``native`` is the exact reference).
        shots: samples per expectation value (``None``: exact).
        noise_scale: the fake device's error-rate factor (``None`` where the kind has none).
        metric: the metric on all samples; delta: metric minus the native reference's.
        output_error: mean absolute difference of the model's outputs from the native ones.
        samples, seconds: how many samples, and the wall time of their evaluation.
    """

    backend: str
    kind: str
    shots: int | None
    noise_scale: float | None
    metric: float
    delta: float
    output_error: float
    samples: int
    seconds: float


def noise_study(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, backends: Sequence[str],
                shots: Sequence[int | None] = (1024,), noise_scales: Sequence[float] = (1.0,),
                out_dir: str | Path, metric: Callable[[torch.Tensor, torch.Tensor], float] = accuracy,
                metric_name: str = "accuracy", batch_size: int = 256, seed: int | None = 1234,
                backends_dir: str | Path | None = None) -> list[NoiseStudyRow]:
    """Evaluate ``model`` natively and on every backend × shots × noise scale; write the results.

    Args:
        model: a trained model containing `QuantumLayer`s; evaluated in ``eval()`` mode.
        inputs, targets: the evaluation set (``model(inputs)`` is compared with ``targets``).
        backends: profile names, e.g. ``["aer-shots", "fake-manila", "fake-brisbane"]``.
        shots: shot counts tried on every kind that samples (``aer``, ``fake``, ``ibm``);
            ``None`` asks ``aer``/``fake`` for exact expectation values.
        noise_scales: error-rate factors tried on ``fake`` kinds (0 is noiseless).
        out_dir: where ``noise_study.csv``, ``noise_study.md`` and ``noise_study.png`` go.
        metric: ``metric(outputs, targets) -> float``; ``metric_name`` labels it.
        batch_size: samples per forward pass (one primitive job per quantum layer call).
        seed: transpiler and simulator seed for every backend, so that noise scales differ
            only in noise (``None``: fresh randomness per row).
        backends_dir: one more directory of user profiles.

    Returns:
        The rows, the native reference first. The model is returned to its backends after.

    Raises:
        ValueError: for an unknown backend, an invalid option, or inputs and targets of
            different lengths.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
    plan = _plan(backends, shots, noise_scales, seed, backends_dir)
    layers = [m for m in model.modules() if isinstance(m, QuantumLayer)]
    saved = [(m, m.profile or "native") for m in layers]
    was_training = model.training
    model.eval()
    rows: list[NoiseStudyRow] = []
    try:
        to_backend(model, "native")
        reference, seconds = _evaluate(model, inputs, batch_size, "native")
        ref_metric = metric(reference, targets)
        rows.append(NoiseStudyRow("native", "native", None, None, ref_metric, 0.0, 0.0, len(inputs), seconds))
        for profile, noise_scale in plan:
            to_backend(model, profile)
            outputs, seconds = _evaluate(model, inputs, batch_size, profile.name)
            value = metric(outputs, targets)
            rows.append(NoiseStudyRow(profile.name, profile.kind, profile.shots, noise_scale, value, value - ref_metric,
                                      (outputs - reference).abs().mean().item(), len(inputs), seconds))
    finally:
        for layer, profile in saved:
            layer.to_backend(profile)
        model.train(was_training)
    _write(rows, Path(out_dir), metric_name)
    return rows


def _plan(names, shots, noise_scales, seed, backends_dir):
    """Every (profile, noise scale) to evaluate, resolved up front so a typo fails before any work."""
    plan = []
    for name in names:
        base = registry.get_profile(name, backends_dir=backends_dir)
        samples = shots if base.kind in ("aer", "fake", "ibm") else [base.shots]
        scales = noise_scales if base.kind == "fake" else [None]
        for s in samples:
            for scale in scales:
                overrides = {"shots": s} if base.kind in ("aer", "fake", "ibm") else {}
                if scale is not None:
                    overrides["noise_scale"] = scale
                if seed is not None and base.kind in ("aer", "fake", "ibm"):
                    overrides["seed"] = seed
                profile = registry.get_profile(base, **overrides)
                registry.ensure_available(profile)
                plan.append((profile, scale))
    return plan


def _evaluate(model, inputs, batch_size, label):
    start, outputs = time.perf_counter(), []
    with torch.no_grad():
        for batch in tqdm(inputs.split(batch_size), desc=label, unit="batch", leave=False,
                          disable=len(inputs) <= batch_size):
            outputs.append(model(batch))
    return torch.cat(outputs), time.perf_counter() - start


def _write(rows: list[NoiseStudyRow], out_dir: Path, metric_name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(NoiseStudyRow)]
    with open(out_dir / "noise_study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[n if n != "metric" else metric_name for n in names])
        writer.writeheader()
        for row in rows:
            writer.writerow({(k if k != "metric" else metric_name): v for k, v in asdict(row).items()})
    head = ["backend", "kind", "shots", "noise scale", metric_name, f"Δ {metric_name}", "mean |Δ output|",
            "samples", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r.backend, r.kind, "exact" if r.shots is None else r.shots,
                 "—" if r.noise_scale is None else f"{r.noise_scale:g}", f"{r.metric:.4f}", f"{r.delta:+.4f}",
                 f"{r.output_error:.2e}", r.samples, f"{r.seconds:.2f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    (out_dir / "noise_study.md").write_text("\n".join(lines) + "\n")
    _plot(rows, out_dir / "noise_study.png", metric_name)


def _plot(rows: list[NoiseStudyRow], path: Path, metric_name: str) -> None:
    """Left: metric vs noise scale, one line per fake device (at its largest shots).
    Right: metric vs shots, one line per backend (noise scale 1 where it has one)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    fig = Figure(figsize=(10, 4), layout="constrained")
    by_scale, by_shots = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    reference = rows[0].metric
    for name in dict.fromkeys(r.backend for r in rows[1:]):
        mine = [r for r in rows if r.backend == name]
        scaled = [r for r in mine if r.noise_scale is not None]
        if scaled:
            top = max((r.shots for r in scaled), key=lambda s: math.inf if s is None else s)
            line = sorted((r.noise_scale, r.metric) for r in scaled if r.shots == top)
            by_scale.plot(*zip(*line), marker="o", label=f"{name} ({'exact' if top is None else top} shots)")
        sampled = sorted((r.shots, r.metric) for r in mine if r.shots is not None
                         and (r.noise_scale is None or r.noise_scale == 1.0))
        if sampled:
            by_shots.plot(*zip(*sampled), marker="o", label=name)
    for ax, xlabel in ((by_scale, "noise scale (× the device's error rates)"), (by_shots, "shots")):
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label="native (exact)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    by_shots.set_xscale("log")
    by_scale.set_title(f"{metric_name} vs noise scale")
    by_shots.set_title(f"{metric_name} vs shots")
    fig.savefig(path, dpi=120)
