"""Training: the classification loop, its configuration, checkpoints and reports.

The names below load on first use, so that ``qrkt train`` can build its parser from
`TrainConfig` (which imports neither torch nor Qiskit) and check its options first.
"""

import importlib

# public name -> the submodule that defines it
_EXPORTS = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "TrainConfig": "config",
    "evaluate": "loop", "train": "loop", "train_step": "loop",
    "results_table": "report",
    "load_model": "runs", "read_config": "runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})
