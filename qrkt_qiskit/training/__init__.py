"""Training: the classification loop, its configuration, checkpoints and reports.

The names below load on first use, so that ``qrkt train`` can build its parser from
`TrainConfig` (which imports neither torch nor Qiskit) and check its options first.
"""

from ..lazy import lazy_exports

# public name -> the submodule that defines it
_EXPORTS = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "TrainConfig": "config",
    "evaluate": "loop", "train": "loop", "train_step": "loop",
    "results_table": "report",
    "load_model": "runs", "read_config": "runs",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
