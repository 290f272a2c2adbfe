"""Noise studies: one trained model evaluated across backends, shot counts and noise scales.

The native engine's exact result is the reference row; every other row is the same weights
on a backend profile with per-call overrides (``shots=``, ``noise_scale=``, ``seed=``). The
table goes to a CSV and a markdown file, the curves to a PNG, all in ``out_dir``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from . import backends as registry
from .backends.progress import circuit_progress
from .errors import Interrupted
from .layers import backends_kept, quantum_layers, running_natively, to_backend
from .levels import by_level
from .output import ProgressBar, figure, markdown_table, save_figure, write_csv, write_text

__all__ = ["NoiseStudyRow", "accuracy", "noise_study"]

_DEVICES = ("fake", "ibm")  # the kinds with a device, hence with Runtime's resilience levels


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy of logits ``(N, classes)`` against integer labels ``(N,)``."""
    return (outputs.argmax(dim=-1) == targets).float().mean().item()


@dataclass(frozen=True)
class NoiseStudyRow:
    """One evaluation: a backend at a shot count and noise scale, with or without a calibration.

    Attributes:
        backend, kind: the profile evaluated (``native`` is the exact reference).
        simulator: who ran a device profile (``native``, ``aer``, ``runtime``; ``None`` otherwise).
        shots: samples per expectation value (``None``: exact).
        noise_scale: the fake device's error-rate factor (``None`` where the kind has none).
        resilience: the error-mitigation level of an ``ibm`` profile (``None``: Runtime's default)
            or of a device simulated natively at the levels asked for (``None`` elsewhere).
        calibration: the images a calibration was fitted on at this row's setting
            (`qrkt_qiskit.calibration`; ``None``: no calibration); calibration_file: where it is.
        metric: the metric on all samples; delta: metric minus the native reference's.
        output_error: mean absolute difference of the model's outputs from the native ones.
        samples, seconds: how many samples, and the wall time of their evaluation.
        aer_check: for a row the native noisy engine ran, the largest difference of the
            model's outputs from Aer's (same profile, ``simulator="aer"``, exact values) on a
            random subset of the samples; ``None`` where not checked.
    """

    backend: str
    kind: str
    simulator: str | None
    shots: int | None
    noise_scale: float | None
    resilience: int | None
    metric: float
    delta: float
    output_error: float
    samples: int
    seconds: float
    aer_check: float | None = None
    calibration: int | None = None
    calibration_file: str | None = None


def noise_study(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, backends: Sequence[str],
                shots: Sequence[int | None] = (1024,), noise_scales: Sequence[float] = (1.0,),
                out_dir: str | Path, metric: Callable[[torch.Tensor, torch.Tensor], float] = accuracy,
                metric_name: str = "accuracy", batch_size: int = 256, seed: int | None = 1234,
                resilience_levels: Sequence[int] | None = None, aer_check: int = 0,
                calibration_inputs: torch.Tensor | None = None, uncalibrated: bool = True,
                backends_dir: str | Path | None = None, options: dict | None = None) -> list[NoiseStudyRow]:
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
        batch_size: samples per forward pass (one primitive job per dependency level of its calls).
        seed: sampling seed of every backend (``None``: fresh randomness per row); the layout
            is fixed by each profile's ``layout_seed``, so noise scales differ only in noise.
        resilience_levels: Runtime's error-mitigation levels tried on device profiles: ``ibm``
            ones through Runtime (or natively with ``simulator="native"``), ``fake-<device>``
            ones in the native noisy engine, which computes what Runtime's Estimator returns
            at each level (`backends.mitigation`); ``None``: each profile's own.
        aer_check: for every row the native noisy engine runs, this many random samples are
            also run through Aer (exact values, same device, noise scale and ISA circuits; once
            per device and noise scale, whatever the shots) and the largest output difference
            is recorded (0: no check).
        calibration_inputs: ``(K, ...)`` images (training images, never ``inputs``): every
            device row is also evaluated with a calibration fitted on them at that row's
            setting (`qrkt_qiskit.calibration.fit_calibration`), saved in
            ``out_dir/calibrations/``; ``None``: no calibrated rows.
        uncalibrated: whether device rows are also evaluated without a calibration (a model
            with ``post_norm`` then uses its batch statistics).
        backends_dir: one more directory of user profiles.
        options: profile keys set on every backend of the study (``{"layout_seed": 7}``, …).

    Returns:
        The rows, the native reference first. The model is returned to its backends after.

    Raises:
        ValueError: for an unknown backend, an invalid option, or inputs and targets of
            different lengths.
        Interrupted: on Ctrl-C (or a signal the caller turns into one): the rows finished
            so far are written, and the message says where.

    A row that fails writes the rows finished before it too; its exception carries a note
    saying where they are.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
    if not uncalibrated and calibration_inputs is None:
        raise ValueError("uncalibrated=False leaves only calibrated rows, so it needs calibration_inputs")
    plan = _plan(backends, shots, noise_scales, seed, resilience_levels, backends_dir, options or {})
    was_training = model.training
    model.eval()
    rows: list[NoiseStudyRow] = []
    out_dir = Path(out_dir)
    try:
        with backends_kept(model):  # the model leaves on the backends it came with
            with running_natively(model):
                reference, seconds = _evaluate(model, inputs, batch_size, "native")
            ref = NoiseStudyRow("native", "native", None, None, None, None, metric(reference, targets), 0.0, 0.0,
                                len(inputs), seconds)
            rows.append(ref)
            subset = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(seed or 0))[:aer_check]
            checked: dict = {}

            def row(profile, noise_scale, outputs, seconds, **extra) -> NoiseStudyRow:
                value = metric(outputs, targets)
                simulators = "/".join(sorted({str(m.simulator) for m in quantum_layers(model)}))
                return NoiseStudyRow(profile.name, profile.kind, simulators if registry.simulator(profile) else None,
                                     profile.shots, noise_scale, _resilience(profile), value, value - ref.metric,
                                     (outputs - reference).abs().mean().item(), len(inputs), seconds, **extra)

            for profile, noise_scale in ProgressBar(plan, desc="noise study", unit="row"):
                to_backend(model, profile)
                label = f"{profile.name} ({_describe(profile)})"
                if uncalibrated or profile.kind not in _DEVICES:
                    check = None
                    # exact vs exact, once per device and noise scale; Aer models fake devices only
                    if aer_check and _natively(model) and profile.kind == "fake":
                        key = registry.get_profile(profile, shots=None)
                        if key not in checked:
                            checked[key] = _aer_check(model, profile, inputs[subset], batch_size, label)
                        check = checked[key]
                    rows.append(row(profile, noise_scale, *_evaluate(model, inputs, batch_size, label), aer_check=check))
                if calibration_inputs is not None and profile.kind in _DEVICES:
                    path = out_dir / "calibrations" / f"{_stem(profile, len(calibration_inputs))}.json"
                    with _calibrated(model, calibration_inputs, path):
                        outputs, seconds = _evaluate(model, inputs, batch_size, f"{label}, calibrated")
                    rows.append(row(profile, noise_scale, outputs, seconds, calibration=len(calibration_inputs),
                                    calibration_file=str(path)))
    except BaseException as exc:  # a row that fails or is interrupted keeps the rows finished before it
        if not rows:
            raise
        _write(rows, out_dir, metric_name)
        total = 1 + sum(1 if p.kind not in _DEVICES else uncalibrated + (calibration_inputs is not None)
                        for p, _ in plan)
        kept = f"the {len(rows)} finished row(s) of {total} are in {out_dir}"
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(kept) from exc
        exc.add_note(kept)
        raise
    finally:
        model.train(was_training)
    _write(rows, out_dir, metric_name)
    return rows


def _natively(model) -> bool:
    return {m.simulator for m in quantum_layers(model)} == {"native"}


@contextlib.contextmanager
def _calibrated(model, images, path: Path):
    """Inside, ``model`` runs with a calibration fitted on ``images`` where its layers are now; saved to ``path``."""
    from .calibration import fit_calibration

    calibration = fit_calibration(model, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(path)
    with calibration.apply(model):
        yield calibration


def _stem(profile, samples: int) -> str:
    """A calibration file's name: ``fake-lagos-256shots-ns1-rl2-k32``."""
    parts = [profile.name, "exact" if profile.shots is None else f"{profile.shots}shots"]
    if profile.option("noise_scale") is not None:
        parts.append(f"ns{profile.option('noise_scale'):g}")
    if profile.option("resilience_level") is not None:
        parts.append(f"rl{profile.option('resilience_level')}")
    return "-".join([*parts, f"k{samples}"]).replace("/", "_").replace(" ", "_")


def _plan(names, shots, noise_scales, seed, resilience_levels, backends_dir, options):
    """Every (profile, noise scale) to evaluate, resolved up front so a typo fails before any work."""
    plan = []
    bases = [registry.get_profile(name, backends_dir=backends_dir, **options) for name in names]
    if resilience_levels and not any(b.kind in _DEVICES for b in bases):
        raise ValueError("resilience levels apply to device profiles only (fake-<device> in the native noisy engine, "
                         "ibm through Qiskit Runtime or natively); add one, e.g. --backends fake-lagos")
    for base in bases:
        samples = shots if base.kind in ("aer", "fake", "ibm") else [base.shots]
        scales = noise_scales if base.kind == "fake" else [None]
        levels = resilience_levels if base.kind in _DEVICES and resilience_levels else [None]
        for s, scale, level in itertools.product(samples, scales, levels):
            overrides = {"shots": s} if base.kind in ("aer", "fake", "ibm") else {}
            if scale is not None:
                overrides["noise_scale"] = scale
            if level is not None:
                overrides["resilience_level"] = level
                if base.kind == "fake" and registry.simulator(base) == "auto":
                    overrides["simulator"] = "native"  # Runtime's levels are simulated natively, never on Aer
            if seed is not None and base.kind in ("aer", "fake", "ibm"):
                overrides["seed"] = seed if base.kind != "ibm" else max(seed, 1)  # Runtime ignores seed 0
            profile = registry.get_profile(base, **overrides)
            registry.ensure_available(profile)
            plan.append((profile, scale))
    return plan


def _resilience(profile) -> int | None:
    """The row's resilience level: an ``ibm`` profile's (``None``: Runtime's default), a native device's if set."""
    return profile.option("resilience_level") if profile.kind in _DEVICES else None


def _describe(profile) -> str:
    parts = ["exact" if profile.shots is None else f"{profile.shots} shots"]
    if profile.option("noise_scale") is not None:
        parts.append(f"noise ×{profile.option('noise_scale'):g}")
    if profile.kind == "ibm" or profile.option("resilience_level") is not None:
        parts.append(f"resilience {profile.option('resilience_level', 1)}")
    return ", ".join(parts)


def _aer_check(model, profile, inputs, batch_size, label) -> float:
    """The largest output difference between the native noisy engine and Aer, both exact, on ``inputs``."""
    to_backend(model, profile, shots=None)
    native, _ = _evaluate(model, inputs, batch_size, f"{label}: native, exact")
    to_backend(model, profile, shots=None, simulator="aer")
    aer, _ = _evaluate(model, inputs, batch_size, f"{label}: Aer check on {len(inputs)} samples")
    to_backend(model, profile)
    return (native - aer).abs().max().item()


def _evaluate(model, inputs, batch_size, label):
    start, outputs = time.perf_counter(), []
    with torch.no_grad(), circuit_progress(f"{label}: circuits"):
        for batch in ProgressBar(inputs.split(batch_size), desc=label, unit="batch", leave=False):
            outputs.append(by_level(model, batch))  # on a backend: one job per dependency level
    return torch.cat(outputs), time.perf_counter() - start


def _write(rows: list[NoiseStudyRow], out_dir: Path, metric_name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [n if n != "metric" else metric_name for n in (f.name for f in fields(NoiseStudyRow))]
    write_csv([dict(zip(names, asdict(row).values())) for row in rows], out_dir / "noise_study.csv", names)
    head = ["backend", "kind", "simulator", "shots", "noise scale", "resilience", "calibration", metric_name,
            f"Δ {metric_name}", "mean |Δ output|", "samples", "seconds", "max |native − Aer|"]
    dash = "—"
    cells = [[r.backend, r.kind, r.simulator or dash, "exact" if r.shots is None else r.shots,
              dash if r.noise_scale is None else f"{r.noise_scale:g}", dash if r.resilience is None else r.resilience,
              dash if r.calibration is None else f"{r.calibration} images", f"{r.metric:.4f}", f"{r.delta:+.4f}", f"{r.output_error:.2e}", r.samples, f"{r.seconds:.2f}",
              dash if r.aer_check is None else f"{r.aer_check:.1e}"] for r in rows]
    write_text(out_dir / "noise_study.md", markdown_table(head, cells, numeric=len(head) - 3) + "\n")
    _plot(rows, out_dir / "noise_study.png", metric_name)


def _plot(rows: list[NoiseStudyRow], path: Path, metric_name: str) -> None:
    """Left: metric vs noise scale, one line per backend and shot count (where several scales were run).
    Right: metric vs shots, one line per backend and noise scale. Every row appears in both where it can."""
    fig, (by_scale, by_shots) = figure(figsize=(11, 4.5), ncols=2)
    reference = rows[0].metric
    shown = lambda shots: "exact" if shots is None else f"{shots} shots"  # noqa: E731
    for backend, level, calibration in dict.fromkeys((r.backend, r.resilience, r.calibration) for r in rows[1:]):
        mine = [r for r in rows[1:] if (r.backend, r.resilience, r.calibration) == (backend, level, calibration)]
        name = (backend + ("" if level is None else f", resilience {level}")
                + ("" if calibration is None else f", calibrated on {calibration}"))
        for shots in dict.fromkeys(r.shots for r in mine if r.noise_scale is not None):
            line = sorted((r.noise_scale, r.metric) for r in mine if r.noise_scale is not None and r.shots == shots)
            if len(line) > 1:  # one noise scale: the right panel shows the point
                by_scale.plot(*zip(*line), marker="o", label=f"{name}, {shown(shots)}")
        for scale in dict.fromkeys(r.noise_scale for r in mine):
            line = sorted((r.shots, r.metric) for r in mine if r.shots is not None and r.noise_scale == scale)
            if line:
                by_shots.plot(*zip(*line), marker="o", label=name if scale is None else f"{name}, noise × {scale:g}")
    for ax, xlabel in ((by_scale, "noise scale (× the device's error rates)"), (by_shots, "shots per circuit")):
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label="native engine, exact")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    by_shots.set_xscale("log")
    by_scale.set_title(f"{metric_name} vs noise scale ({rows[0].samples} samples)")
    by_shots.set_title(f"{metric_name} vs shots ({rows[0].samples} samples)")
    save_figure(fig, path, dpi=120)
