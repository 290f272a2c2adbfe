"""A record of every Runtime job an evaluation sends, so a run stopped halfway does not pay twice.

Inside `journal(directory)`, each job an ``ibm`` profile sends is recorded as it is sent —
its id, PUB shapes, estimated QPU seconds and status — in ``directory/jobs.json``, and its
result, once it arrives, in ``directory/results/<digest>.npz`` (both written atomically).
A job is known by a digest of what it sends (device, options, each PUB's circuit,
observables and parameter values), so the same evaluation run again finds its finished jobs'
results on disk and sends only the rest; a job sent but not finished when the process
stopped is fetched from IBM Quantum by its id (``QiskitRuntimeService().job(id)``) instead
of being sent again. Local testing mode's jobs cannot be fetched by id after the process
ends: there, only finished jobs are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from qiskit.primitives import PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin, EstimatorPub

from ..output import atomic_path, write_text

__all__ = ["Journal", "active", "journal"]

_ACTIVE: list[Journal] = []  # innermost last; process-wide, since primitive jobs run on worker threads


class Journal:
    """The jobs of one evaluation on disk (see the module docstring); ``sent`` and ``reused`` count this process's."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        (self.directory / "results").mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "jobs.json"
        self.entries: dict[str, dict] = ({e["digest"]: e for e in json.loads(self.path.read_text())}
                                         if self.path.is_file() else {})
        self.sent = self.reused = 0

    def run(self, label: str, options: dict, pubs: list, submit: Callable, fetch: Callable | None,
            estimate: float | None) -> PrimitiveResult:
        """The result of the job of ``pubs``: from disk, fetched by id, or ``submit()``-ed and recorded."""
        digest = _digest(label, options, pubs)
        stored = self.directory / "results" / f"{digest}.npz"
        entry = self.entries.get(digest)
        if entry is not None and entry["status"] == "done" and stored.is_file():
            self.reused += 1
            return _load(stored)
        if entry is not None and entry.get("job_id") and fetch is not None:
            job = fetch(entry["job_id"])
            self.reused += 1
        else:
            job = submit()
            self.sent += 1
            shapes = [list(np.broadcast_shapes(p.observables.shape, p.parameter_values.shape))
                      for p in map(EstimatorPub.coerce, pubs)]
            entry = {"digest": digest, "job_id": _job_id(job), "backend": label, "pub_shapes": shapes,
                     "estimated_qpu_seconds": estimate, "status": "submitted",
                     "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}
            self._record(entry)
        result = job.result()
        _save(stored, result)
        self._record({**entry, "status": "done"})
        return result

    def finished(self) -> list[dict]:
        """The recorded jobs whose results are on disk."""
        return [e for e in self.entries.values() if e["status"] == "done"]

    def done(self, label: str, options: dict, pubs: list) -> bool:
        """Whether the job of ``pubs`` finished in an earlier run and its result is on disk."""
        digest = _digest(label, options, pubs)
        entry = self.entries.get(digest)
        return entry is not None and entry["status"] == "done" and (self.directory / "results" / f"{digest}.npz").is_file()

    def _record(self, entry: dict) -> None:
        self.entries[entry["digest"]] = entry
        write_text(self.path, json.dumps(list(self.entries.values()), indent=1) + "\n")


@contextlib.contextmanager
def journal(directory: str | Path) -> Iterator[Journal]:
    """Record (and on a rerun, reuse) every Runtime job sent inside the block, in ``directory``."""
    record = Journal(directory)
    _ACTIVE.append(record)
    try:
        yield record
    finally:
        _ACTIVE.remove(record)


def active() -> Journal | None:
    """The journal of the innermost `journal` block, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def _job_id(job) -> str | None:
    return job.job_id() if hasattr(job, "job_id") else None


def _digest(label: str, options: dict, pubs: list) -> str:
    h = hashlib.sha256(json.dumps([label, options], sort_keys=True, default=repr).encode())
    for pub in map(EstimatorPub.coerce, pubs):
        h.update(repr([(i.operation.name, [pub.circuit.find_bit(q).index for q in i.qubits],
                        [_stable(p) for p in i.operation.params]) for i in pub.circuit.data]).encode())
        h.update(repr(pub.observables.tolist()).encode())
        h.update(np.ascontiguousarray(pub.parameter_values.as_array(pub.circuit.parameters), dtype=float).tobytes())
    return h.hexdigest()[:32]


def _stable(param) -> str:
    """A gate argument as the same text in every process.

    A parameter expression's text orders its terms by the parameters' random ids, so it is
    written as its parameters' names and its values at two fixed points instead.
    """
    names = sorted(getattr(param, "parameters", ()), key=lambda q: q.name)
    if not names:
        return repr(param)
    points = [{q: a * (k + 1) for k, q in enumerate(names)} for a in (0.1, 0.37)]
    return repr(([q.name for q in names], [round(float(param.bind(p)), 12) for p in points]))


def _save(path: Path, result) -> None:
    arrays = {}
    for i, pub_result in enumerate(result):
        arrays[f"evs{i}"] = np.asarray(pub_result.data.evs)
        arrays[f"stds{i}"] = np.asarray(getattr(pub_result.data, "stds", np.zeros_like(pub_result.data.evs)))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load(path: Path) -> PrimitiveResult:
    with np.load(path) as data:
        n = len(data.files) // 2
        return PrimitiveResult([PubResult(DataBin(evs=data[f"evs{i}"], stds=data[f"stds{i}"],
                                                  shape=data[f"evs{i}"].shape)) for i in range(n)])
