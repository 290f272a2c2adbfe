"""How a backend failure reaches the user: one line, naming the job, with no IBM credential in it."""

from __future__ import annotations

import os

from .profiles import BackendJobError

__all__ = ["first_line", "job_error", "redact"]


def redact(text: str) -> str:
    """Blank any IBM token this process knows of, before the text reaches a message or log."""
    token = os.environ.get("QISKIT_IBM_TOKEN")
    return text.replace(token, "***") if token else text


def first_line(exc: Exception, limit: int = 200) -> str:
    """``exc``'s message on one line of at most ``limit`` characters, for a sentence that quotes it."""
    text = " ".join(str(exc).split()).strip("'\" ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def job_error(job, exc: Exception, where: str, timeout: float | None = None) -> BackendJobError:
    """A failed (or, on IBM Quantum, timed-out) primitive job as one sentence naming its id, credentials redacted."""
    job_id = job.job_id() if job is not None and hasattr(job, "job_id") else None
    what = f"job {job_id}" if job_id else "a job"
    if timeout is not None and type(exc).__name__ == "RuntimeJobTimeoutError":
        why = (f"did not finish within {timeout:g} s and may still run "
               f"(QiskitRuntimeService().job({job_id!r}) fetches it)")
    else:
        why = f"failed ({type(exc).__name__}: {first_line(exc)})"
    return BackendJobError(redact(f"{what} on {where} {why}"))
