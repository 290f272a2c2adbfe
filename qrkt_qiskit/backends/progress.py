"""One progress bar for the circuits a model runs off the exact engine, and the jobs they take.

A forward pass calls each quantum layer many times (every map of every Runge-Kutta stage),
and on a backend one call can take seconds, so a bar over samples sits still until a whole
batch is done. Inside `circuit_progress` every layer call off the exact engine counts its
circuits (one per sample) and every primitive job counts itself, on one bar.
"""

from __future__ import annotations

import contextlib

from ..output import ProgressBar

__all__ = ["Meter", "active", "circuit_progress", "count"]

_ACTIVE: list[Meter] = []  # innermost last


class Meter:
    """What ran inside one `circuit_progress` block: ``circuits`` and ``jobs`` so far, and the bar."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled, self.bar, self.circuits, self.jobs = label, enabled, None, 0, 0

    def add(self, circuits: int, jobs: int) -> None:
        self.circuits += circuits
        self.jobs += jobs
        if not self.enabled:
            return
        if self.bar is None:  # shown once something runs: nothing on the exact engine
            self.bar = ProgressBar(desc=self.label, unit=" circuits", leave=False)
        if self.jobs:
            self.bar.set_postfix_str(f"{self.jobs} job(s)", refresh=False)
        self.bar.update(circuits)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def circuit_progress(label: str, enabled: bool = True):
    """Count the circuits and jobs run inside the block, on a bar titled ``label`` if ``enabled``; yields the `Meter`."""
    meter = Meter(label, enabled)
    _ACTIVE.append(meter)
    try:
        yield meter
    finally:
        _ACTIVE.remove(meter)
        meter.close()


def active() -> bool:
    """Whether a meter is counting (a batching estimator then shows no bar of its own)."""
    return bool(_ACTIVE)


def count(circuits: int = 0, jobs: int = 0) -> None:
    """Add ``circuits`` and ``jobs`` to the innermost bar, if any."""
    if _ACTIVE:
        _ACTIVE[-1].add(circuits, jobs)
