"""A deployment plan for people: every setting as CSV, the Pareto front as markdown, both as a plot."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from ..output import figure, markdown_table, save_figure, write_csv, write_text
from .sweep import DeploymentPlan, PlanRow

__all__ = ["front_table", "write_report"]

_MARKERS = {0: "o", 1: "s", 2: "^"}  # one per resilience level


def write_report(plan: DeploymentPlan, out_dir: str | Path) -> None:
    """``deploy_plan.csv`` (every setting), ``deploy_plan.md`` (the front and the plan), ``deploy_plan.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(PlanRow)]
    write_csv([{**asdict(r), "qpu_seconds": round(r.qpu_seconds, 1), "accuracy": round(r.accuracy, 6)}
               for r in plan.rows], out_dir / "deploy_plan.csv", names)
    write_text(out_dir / "deploy_plan.md", summary(plan) + "\n\n" + front_table(plan) + "\n")
    _plot(plan, out_dir / "deploy_plan.png")


def summary(plan: DeploymentPlan) -> str:
    """What was predicted, and the plan (or what would fit), in a few sentences."""
    scale = "" if plan.noise_scale == 1 else f" at noise scale {plan.noise_scale:g}"
    text = (f"Deployment plan on {plan.backend}{scale}: {len(plan.rows)} settings, {plan.images:,} images, "
            f"{plan.circuits_per_image:,} circuit executions per image; exact accuracy {plan.exact_accuracy:.1%}. ")
    budget = "no budget" if plan.budget_minutes is None else f"budget {plan.budget_minutes:g} QPU-minutes"
    if plan.chosen is not None:
        c = plan.chosen
        return text + (f"The plan ({budget}): {c.describe()}: predicted accuracy {plan.confirmed:.1%} (evaluated "
                       f"afresh; {c.accuracy:.1%} in the sweep), {c.minutes:,.1f} QPU-minutes.")
    advice = plan.advice or "no setting was evaluated"
    return text + advice[0].upper() + advice[1:] + "."


def front_table(plan: DeploymentPlan) -> str:
    """The Pareto front as markdown, cheapest first; the plan marked."""
    head = ["shots", "resilience level", "calibration", "predicted accuracy", "QPU-minutes", "jobs", "executions",
            "plan"]
    cells = [[r.shots, r.resilience_level, f"{r.calibration} images" if r.calibration else "off", f"{r.accuracy:.1%}",
              f"{r.minutes:,.1f}", f"{r.jobs:,}", f"{r.executions:,}", "◀" if r == plan.chosen else ""]
             for r in plan.front]
    return markdown_table(head, cells, numeric=5)


def _plot(plan: DeploymentPlan, path: Path) -> None:
    """Accuracy against QPU minutes: every setting, the front as a line, the budget and the plan."""
    fig, ax = figure(figsize=(8, 5))
    for level in sorted({r.resilience_level for r in plan.rows}):
        for calibrated in (False, True):
            mine = [r for r in plan.rows if r.resilience_level == level and bool(r.calibration) == calibrated]
            if mine:
                ax.scatter([r.minutes for r in mine], [r.accuracy for r in mine], marker=_MARKERS.get(level, "o"),
                           facecolors=f"C{level}" if calibrated else "none", edgecolors=f"C{level}",
                           label=f"level {level}, " + ("calibrated" if calibrated else "no calibration"))
                for r in mine:
                    ax.annotate(str(r.shots), (r.minutes, r.accuracy), fontsize=6, xytext=(3, 2),
                                textcoords="offset points")
    front = plan.front
    ax.plot([r.minutes for r in front], [r.accuracy for r in front], color="black", linewidth=1,
            label="Pareto front")
    ax.axhline(plan.exact_accuracy, color="grey", linestyle="--", linewidth=1, label="exact (native engine)")
    if plan.budget_minutes is not None:
        ax.axvline(plan.budget_minutes, color="red", linestyle=":", label=f"budget {plan.budget_minutes:g} min")
    if plan.chosen is not None:
        ax.scatter([plan.chosen.minutes], [plan.chosen.accuracy], marker="*", s=200, color="gold", edgecolors="black",
                   zorder=5, label="plan")
    ax.set_xscale("log")
    ax.set_xlabel(f"predicted QPU minutes ({plan.images:,} images; labels: shots)")
    ax.set_ylabel("predicted accuracy")
    ax.set_title(f"{plan.backend}: accuracy per QPU minute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=120)
