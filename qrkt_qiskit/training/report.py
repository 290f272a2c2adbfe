"""What a run directory shows a person: metrics CSV, loss/AUC curves, summary, results table."""

from __future__ import annotations

import csv
import fcntl
import json
import os
from pathlib import Path

from torch import nn

from ..layers import QuantumLayer
from ..output import figure, markdown_table, save_figure, write_csv, write_text
from ..resources import resource_report
from .stored import expect_kind
from .runs import example_input

__all__ = ["RESULT_COLUMNS", "EVALUATIONS", "append_evaluation", "read_summary", "results_table", "write_history",
           "write_summary"]

EVALUATIONS = "evaluations.csv"  # one row per `qrkt evaluate` of a run, in its run directory
# The thesis' table, after the run's name; accuracy and F1 are the test split's at the best validation-AUC epoch.
RESULT_COLUMNS = ("Run", "ODE", "Train Time (s)", "Test Accuracy", "Test F1", "Best AUC Epoch", "# Parameters",
                  "# Qubits")


def write_history(history: list[dict], run_dir: Path) -> None:
    """Rewrite ``metrics.csv`` (one row per epoch) and ``curves.png``; each replaced atomically."""
    write_csv(history, run_dir / "metrics.csv")
    plot_curves(history, run_dir / "curves.png", title=Path(run_dir).name)


def plot_curves(history: list[dict], path: Path, *, title: str = "") -> None:
    """Loss and ROC-AUC per epoch for train, validation and test, side by side, under the run's name."""
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, axes = figure(figsize=(10, 4), ncols=2)
    for ax, metric, label in zip(axes, ("loss", "auc"), ("cross-entropy loss", "ROC-AUC (macro)")):
        for split in ("train", "val", "test"):
            ax.plot(epochs, [row[f"{split}_{metric}"] for row in history], marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def write_summary(config, model: nn.Module, state, run_dir: Path) -> dict:
    """``summary.json``: the thesis' table columns for this run (a `ClassifierState`), taken at the best-AUC epoch."""
    best = state.history[state.best_epoch - 1]
    circuits = [m for m in model.modules() if isinstance(m, QuantumLayer)]
    summary = {
        "dataset": config.dataset, "model": config.preset, "ode": config.ode, "quantum": config.quantum,
        "elementwise": config.elementwise,
        "blocks": model.config.blocks, "epochs": state.epoch, "train_seconds": round(state.train_seconds, 2),
        "best_auc_epoch": state.best_epoch, "val_auc": best["val_auc"],
        "test_accuracy": best["test_accuracy"], "test_f1": best["test_f1"], "test_auc": best["test_auc"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "circuit_weights": sum(m.weight.numel() for m in circuits),
        "qubits": _qubit_total(model) if circuits else 0,
    }
    write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _qubit_total(model: nn.Module) -> int:
    """The thesis' count: circuit widths summed over every circuit run of one forward pass."""
    return resource_report(model, example_input(model)).qubit_total


def read_summary(run_dir: str | Path) -> dict:
    """A finished classification run's ``summary.json``.

    Raises:
        FileNotFoundError: if the run has not finished.
        ValueError: if it holds another kind of run.
    """
    expect_kind(run_dir, "classification")
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no summary.json: the run has not finished (resume it with --resume)")
    return json.loads(path.read_text())


def results_table(run_dirs: list[str | Path]) -> str:
    """A markdown table of finished runs with the thesis' columns (test metrics at the best-AUC epoch)."""
    rows = []
    for run_dir in run_dirs:
        s = read_summary(run_dir)
        method = ("Q" if s["quantum"] else "") + s["ode"].upper() + (" (diagonal)" if s.get("elementwise") else "")
        rows.append([Path(run_dir).name, method, f"{s['train_seconds']:.1f}",
                     f"{s['test_accuracy']:.1%}", f"{s['test_f1']:.1%}", s["best_auc_epoch"], s["parameters"],
                     s["qubits"] or "-"])
    return markdown_table(RESULT_COLUMNS, rows)


def append_evaluation(run_dir: str | Path, row: dict) -> None:
    """Add ``row`` to the run's ``evaluations.csv``, rewritten atomically (columns: every row's keys, in order).

    The read and the rewrite happen under an exclusive lock on the run directory, so
    evaluations that finish together each keep their row.
    """
    path = Path(run_dir) / EVALUATIONS
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
        rows = list(csv.DictReader(path.read_text().splitlines())) if path.is_file() else []
        rows.append(row)
        write_csv(rows, path, list(dict.fromkeys(k for r in rows for k in r)))
    finally:
        os.close(fd)
