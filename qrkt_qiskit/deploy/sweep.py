"""Deployment plans: which shots, resilience level and calibration keep a model's accuracy within a QPU budget.

For one device, every setting of shots × Runtime resilience level × calibration (off, or
fitted on K training images) gets two numbers:

- **predicted accuracy**: `noise_study` evaluates the trained weights on the whole test set in
  the native noisy engine at that setting, sampled as the device samples (at levels 1 and 2,
  what Runtime's client-side Estimator returns: `backends.mitigation`), with the calibration
  fitted at that same setting where it is on. The model uses no batch statistics (a
  ``post_norm`` model is planned with calibration only), so a batch's outputs are those of
  its images evaluated one at a time.
- **predicted QPU time**: the forward pass is planned once as `qrkt evaluate` sends it (one
  job per dependency level, batches of ``batch_size``), then each setting's jobs are priced by
  `backends.qpu_time.QPUTimeModel` for the device at those shots and that level (Runtime's
  own preparation: twirling randomizations, ZNE's noise factors, TREX's calibration circuit),
  plus the K calibration images where calibration is on.

The settings no other beats on both numbers form the Pareto front; the plan within a budget
is the cheapest whose accuracy is within one standard error of the best within it, and its
accuracy is then evaluated once more with fresh draws (`confirm`): picked as the best of many
noisy estimates, its sweep figure is biased upward.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import backends as registry
from ..backends import Cost
from ..backends.profiles import is_fake_device
from ..layers import quantum_layers
from ..levels import Plan
from ..noise_study import noise_study
from ..resources import resource_report
from . import LEVELS, SHOTS

__all__ = ["DeploymentPlan", "PlanRow", "choose", "confirm", "deploy_plan", "finish", "pareto_front",
           "pricing_profile", "setting_costs"]


@dataclass(frozen=True)
class PlanRow:
    """One setting on the device and what it is predicted to give and cost.

    Attributes:
        shots, resilience_level: as the Estimator is asked for them.
        calibration: the training images a calibration is fitted on (0: no calibration).
        accuracy: predicted test accuracy (native noisy engine, sampled, whole split).
        qpu_seconds, jobs, executions: predicted for the whole split, and the calibration's images.
        pareto: whether no other setting is at least as accurate for at most its QPU time.
        calibration_file: the calibration fitted in the prediction (``None`` without).
    """

    shots: int
    resilience_level: int
    calibration: int
    accuracy: float
    qpu_seconds: float
    jobs: int
    executions: int
    pareto: bool = False
    calibration_file: str | None = None

    @property
    def minutes(self) -> float:
        return self.qpu_seconds / 60

    def describe(self) -> str:
        """``128 shots, resilience level 1, calibrated on 32 images``."""
        calibrated = f"calibrated on {self.calibration} images" if self.calibration else "no calibration"
        return f"{self.shots} shots, resilience level {self.resilience_level}, {calibrated}"


@dataclass(frozen=True)
class DeploymentPlan:
    """Every setting's prediction on one device, its Pareto front, and the plan within the budget.

    Attributes:
        backend: the device's profile name; noise_scale: its error rates' factor in the prediction.
        rows: every setting, cheapest first.
        chosen: the plan (`choose`); ``None`` when none fits the budget.
        budget_minutes: the QPU-minute budget (``None``: none).
        exact_accuracy: the model's accuracy on the exact native engine.
        images: images evaluated; circuits_per_image: circuit executions one image needs.
        advice: one sentence when no setting fits the budget: what would.
        confirmed: the plan's accuracy evaluated afresh (`confirm`): the best of many noisy
            estimates is biased upward, a second evaluation of the one chosen is not.
        seed: the sampling seed of that evaluation (what ``qrkt evaluate --plan`` samples with).
    """

    backend: str
    noise_scale: float
    rows: tuple[PlanRow, ...]
    chosen: PlanRow | None
    budget_minutes: float | None
    exact_accuracy: float
    images: int
    circuits_per_image: int
    advice: str | None = None
    confirmed: float | None = None
    seed: int | None = None

    @property
    def front(self) -> list[PlanRow]:
        return [r for r in self.rows if r.pareto]


def deploy_plan(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, backend: str, out_dir: str | Path,
                shots: Sequence[int] = SHOTS, levels: Sequence[int] = LEVELS,
                calibration_inputs: torch.Tensor | None = None, uncalibrated: bool = True,
                noise_scale: float = 1.0, budget_minutes: float | None = None, seed: int = 1234,
                batch_size: int = 1024, backends_dir: str | Path | None = None) -> DeploymentPlan:
    """Predict accuracy and QPU time of ``model`` on device ``backend`` at every setting; choose within the budget.

    Args:
        model: a trained model with quantum layers.
        inputs, targets: the split the plan is for (the test set).
        backend: a device profile: ``fake-<device>``, or an ``ibm`` profile (its device's
            calibration is simulated natively; the QPU time is the device's).
        out_dir: where `noise_study` writes its table and the calibrations (``noise-study/``).
        shots, levels: the settings swept.
        calibration_inputs: ``(K, ...)`` training images: each setting also with a calibration
            fitted on them there; ``None``: calibration off only.
        uncalibrated: whether settings without calibration are plans (False for a model whose
            layers normalise over the batch, ``post_norm``).
        noise_scale: the device's error rates times this (a harsher device than its snapshot).
        budget_minutes: QPU minutes the split (and the calibration) may take; ``None``: no limit.
        seed: the sampling seed of every setting (as ``qrkt evaluate --seed``).
        batch_size: images per forward pass, as ``qrkt evaluate --batch-size`` sends them.
        backends_dir: one more directory of profiles.

    Raises:
        ValueError: for a profile without a device, a model whose layers normalise over the
            batch planned without calibration, or an invalid setting.
    """
    base = registry.get_profile(backend, backends_dir=backends_dir)
    if base.kind not in ("fake", "ibm"):
        raise ValueError(f"a deployment plan is for a device: {backend!r} is a profile of kind {base.kind!r}; "
                         "name fake-<device>, or an ibm profile for an IBM device")
    if uncalibrated and any(layer.post_norm for layer in quantum_layers(model)):
        raise ValueError("this model normalises its circuits' outputs over the batch (post_norm), which one image "
                         "at a time does not have: plan it with calibration only")
    options = {"simulator": "native", **({"noise_scale": noise_scale} if base.kind == "ibm" else {})}
    rows = noise_study(model, inputs, targets, backends=[base.name], shots=list(shots), noise_scales=[noise_scale],
                       out_dir=Path(out_dir) / "noise-study", batch_size=batch_size, seed=seed,
                       resilience_levels=list(levels), calibration_inputs=calibration_inputs,
                       uncalibrated=uncalibrated, backends_dir=backends_dir, options=options)
    costs = setting_costs(model, inputs, base, shots, levels, calibration=0 if calibration_inputs is None
                          else len(calibration_inputs), batch_size=batch_size, backends_dir=backends_dir)
    plan_rows = [PlanRow(r.shots, r.resilience, r.calibration or 0, r.metric, *costs[r.shots, r.resilience,
                                                                                     r.calibration or 0],
                         calibration_file=r.calibration_file) for r in rows[1:]]
    plan = finish(plan_rows, backend=base.name, noise_scale=noise_scale, budget_minutes=budget_minutes,
                  exact_accuracy=rows[0].metric, images=len(inputs),
                  circuits_per_image=resource_report(model, inputs[:1]).circuits_per_inference)
    if plan.chosen is None:
        return plan
    fresh = seed + 1  # not the sweep's draws
    return dataclasses.replace(plan, seed=fresh, confirmed=confirm(model, inputs, targets, base, plan.chosen,
                                                                   noise_scale=noise_scale, seed=fresh,
                                                                   batch_size=batch_size))


def confirm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, base, row: PlanRow, *,
            noise_scale: float, seed: int, batch_size: int) -> float:
    """``row``'s accuracy evaluated afresh at ``seed``, as ``qrkt evaluate --plan`` runs it (the same draws).

    The model is placed anew (fresh samplers), its calibration loaded from the file the plan
    names, and the split evaluated in batches of ``batch_size``; the model leaves as it came.
    """
    from ..calibration import Calibration
    from ..layers import backends_kept, to_backend
    from ..levels import by_level
    from ..noise_study import accuracy

    profile = registry.get_profile(base, simulator="native", shots=row.shots, resilience_level=row.resilience_level,
                                   noise_scale=noise_scale, seed=seed)
    with backends_kept(model), torch.no_grad():
        to_backend(model.eval(), profile)
        calibration = Calibration.load(row.calibration_file).apply(model) if row.calibration_file else None
        with calibration or contextlib.nullcontext():
            outputs = torch.cat([by_level(model, batch) for batch in inputs.split(batch_size)])
    return accuracy(outputs, targets)


def finish(rows: list[PlanRow], **fields) -> DeploymentPlan:
    """The `DeploymentPlan` of ``rows``: cheapest first, the front marked, the plan chosen, advice if none fits."""
    rows = sorted(rows, key=lambda r: (r.qpu_seconds, -r.accuracy))
    front = set(pareto_front(rows))
    rows = [dataclasses.replace(r, pareto=i in front) for i, r in enumerate(rows)]
    budget = fields["budget_minutes"]
    chosen = choose(rows, budget, fields["images"])
    advice = None if chosen is not None or not rows else _advice(rows[0], budget, fields["circuits_per_image"],
                                                                  fields["images"])
    return DeploymentPlan(rows=tuple(rows), chosen=chosen, advice=advice, **fields)


def setting_costs(model: nn.Module, inputs: torch.Tensor, base, shots: Sequence[int], levels: Sequence[int], *,
                  calibration: int, batch_size: int, backends_dir=None) -> dict[tuple, tuple[float, int, int]]:
    """``(shots, level, K) -> (QPU seconds, jobs, executions)`` of the split on ``base``'s device, K in {0, calibration}.

    The forward pass is planned once (its PUBs do not depend on shots or level); each setting's
    jobs are then split and priced by that setting's estimator, exactly as `resource_report`
    does for it (``tests/test_deploy_plan.py`` checks the equality).
    """
    first = pricing_profile(base, shots[0], levels[0], backends_dir)
    report = resource_report(model, inputs[:1], first, dataset_size=len(inputs), batch_size=batch_size)
    layer = quantum_layers(model)[0]
    costs = {}
    for s in shots:
        for level in levels:
            estimator = registry.prepare(pricing_profile(base, s, level, backends_dir), layer.ansatz).estimator
            priced = dataclasses.replace(report, plan=_repriced(report.plan, estimator), shots=s,
                                         resilience_level=level)
            for k in dict.fromkeys((0, calibration)):
                total = priced.dataset_cost() + (priced.cost(k) if k else Cost())
                costs[s, level, k] = (total.qpu_seconds, total.jobs, total.executions)
    return costs


def pricing_profile(base, shots: int, level: int, backends_dir=None):
    """The ``ibm`` profile that runs ``base``'s device through Runtime at ``shots`` and ``level`` (what is priced).

    A ``fake-<device>`` is priced as Runtime's local testing mode runs it: the fake device's
    Target, an IBM device's timings. The layout options are kept, so the ISA circuits are the
    ones predicted.
    """
    layout = {k: base.option(k) for k in ("optimization_level", "layout_seed") if base.option(k) is not None}
    if base.kind == "ibm":
        return registry.get_profile(base, simulator="runtime", shots=shots, resilience_level=level, **layout)
    device = base.option("device")
    device = device if is_fake_device(device) else f"fake-{device}"
    return registry.get_profile("ibm", backends_dir=backends_dir, device=device, simulator="runtime", shots=shots,
                                resilience_level=level, **layout)


def _repriced(plan: Plan, estimator) -> Plan:
    """``plan``'s PUBs, level by level, sent to ``estimator`` instead (same circuits, another setting)."""
    return Plan([{estimator: [pub for pubs in level.values() for pub in pubs]} for level in plan.levels], plan.calls)


def pareto_front(rows: Sequence[PlanRow]) -> list[int]:
    """Indices of the rows no other row dominates (at most its QPU time and at least its accuracy, better in one)."""
    def dominates(a: PlanRow, b: PlanRow) -> bool:
        return (a.qpu_seconds <= b.qpu_seconds and a.accuracy >= b.accuracy
                and (a.qpu_seconds < b.qpu_seconds or a.accuracy > b.accuracy))

    return [i for i, r in enumerate(rows) if not any(dominates(o, r) for o in rows)]


def choose(rows: Sequence[PlanRow], budget_minutes: float | None, images: int) -> PlanRow | None:
    """The cheapest row within the budget whose accuracy is within one standard error of the best within it.

    The standard error is the binomial one of the best accuracy over ``images``
    (``sqrt(a (1 - a) / n)``): accuracies closer than that are not told apart by one
    evaluation of the split, so the cheaper setting is taken. ``None`` when no row fits.
    """
    within = [r for r in rows if budget_minutes is None or r.minutes <= budget_minutes]
    if not within:
        return None
    best = max(r.accuracy for r in within)
    error = math.sqrt(best * (1 - best) / max(images, 1))
    return min((r for r in within if r.accuracy >= best - error), key=lambda r: (r.qpu_seconds, -r.accuracy))


def _advice(cheapest: PlanRow, budget: float, circuits: int, images: int) -> str:
    """One sentence: what would fit ``budget`` when even the cheapest setting does not."""
    share = budget / cheapest.minutes
    return (f"no setting fits {budget:g} QPU-minutes: the cheapest ({cheapest.describe()}) needs "
            f"{cheapest.minutes:,.1f} for {images:,} images at {circuits:,} circuit executions per image, so about "
            f"{math.floor(circuits * share):,} executions per image (a leaner model: fewer blocks, --ode rk1, "
            f"fewer tokens; `qrkt resources` counts them) or about {math.floor(cheapest.shots * share):,} shots "
            f"would fit, or {math.floor(images * share):,} images")
