"""Deployment plans: predicted accuracy against predicted QPU time on a device, and the plan within a budget.

`deploy_plan` sweeps the settings (`sweep`), `write_report` writes the table and plot
(`report`), `PlanFile` is the plan `qrkt evaluate --plan` runs (`plan_file`). The names
load on first use, so `qrkt evaluate --plan` reads a plan before importing torch or Qiskit.
"""

from ..lazy import lazy_exports

SHOTS = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # the shot counts swept by default
LEVELS = (0, 1, 2)  # Runtime's resilience levels: none, TREX, TREX and ZNE

# public name -> the submodule that defines it
_EXPORTS = {
    "FORMAT": "plan_file", "PlanFile": "plan_file", "checkpoint_digest": "plan_file",
    "front_table": "report", "write_report": "report",
    "DeploymentPlan": "sweep", "PlanRow": "sweep", "choose": "sweep", "deploy_plan": "sweep", "pareto_front": "sweep",
}

__all__ = sorted([*_EXPORTS, "LEVELS", "SHOTS"])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
