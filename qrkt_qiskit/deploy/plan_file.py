"""The plan as a file `qrkt evaluate --plan` runs: JSON, read back without torch or Qiskit.

The file names the backend and the settings (shots, resilience level, noise scale, seed,
calibration), what they were predicted to give and cost, and the model they were predicted
for: its run directory and a digest of its checkpoint, so a plan is refused on another model.
The calibration file is stored relative to the plan, so the two move together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..output import write_text

__all__ = ["FORMAT", "PlanFile", "checkpoint_digest"]

FORMAT = "qrkt-deploy-plan/1"


@dataclass(frozen=True)
class PlanFile:
    """A deployment plan as `qrkt evaluate --plan` runs it.

    Attributes:
        backend: the device profile (``fake-lagos``, ``ibm``); kind: its kind; device: its device.
        shots, resilience_level, noise_scale, seed: the settings (``noise_scale``: native simulation only).
        calibration_samples: images the calibration is fitted on (0: none).
        calibration_file: the calibration fitted in the prediction, relative to the plan
            (``None``: none, or one to fit on the device itself with ``qrkt calibrate``).
        predicted_accuracy, predicted_qpu_minutes: for ``images`` images of ``split``; the
            accuracy is a fresh evaluation at ``seed`` (``qrkt evaluate --plan`` samples the same),
            ``sweep_accuracy`` the sweep's (biased upward: the best of many noisy estimates).
        budget_qpu_minutes: the budget the plan was chosen within (``None``: none).
        run_dir, checkpoint, checkpoint_sha256: the model the plan is for.
        qrkt_version, created: who wrote it, when (UTC).
    """

    backend: str
    kind: str
    device: str | None
    shots: int
    resilience_level: int
    noise_scale: float
    seed: int
    calibration_samples: int
    calibration_file: str | None
    predicted_accuracy: float
    sweep_accuracy: float
    predicted_qpu_minutes: float
    images: int
    split: str
    budget_qpu_minutes: float | None
    run_dir: str
    checkpoint: str
    checkpoint_sha256: str
    qrkt_version: str
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def save(self, path: str | Path) -> None:
        """Write the plan to ``path`` as JSON, atomically."""
        write_text(path, json.dumps({"format": FORMAT, **asdict(self)}, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PlanFile:
        """Read a plan `save` wrote.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            ValueError: when the file is not a qrkt deployment plan, or is damaged.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no deployment plan at {path}")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(payload, dict) or payload.pop("format", None) != FORMAT:
                raise ValueError(f"its format is not {FORMAT!r}")
            return cls(**payload)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a deployment plan written by qrkt deploy-plan: {exc}") from exc

    def calibration_path(self, plan_path: str | Path) -> Path | None:
        """The calibration file, resolved against the plan's own directory (``None``: none stored)."""
        return None if self.calibration_file is None else Path(plan_path).parent / self.calibration_file

    def overrides(self) -> dict:
        """The profile options `qrkt evaluate` sets from the plan.

        A fake device runs where it was predicted, the native noisy engine (its resilience levels
        are simulated there); an ``ibm`` profile runs on its device through Runtime, where the
        noise scale and the seed of the simulation do not apply.
        """
        settings = {"shots": self.shots, "resilience_level": self.resilience_level}
        if self.kind == "ibm":
            return settings
        return {**settings, "simulator": "native", "noise_scale": self.noise_scale, "seed": self.seed}


def checkpoint_digest(path: str | Path) -> str:
    """SHA-256 of a checkpoint file: which weights a plan was predicted for."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
