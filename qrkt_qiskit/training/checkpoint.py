"""Checkpoints: written atomically, read back with ``weights_only=True``, checked for origin.

A checkpoint is a plain dict of tensors and primitives tagged with `FORMAT`, so
``torch.load(weights_only=True)`` reads it without executing anything, and a file from
another program is refused in one sentence instead of failing deep in ``load_state_dict``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import QrktError
from ..output import atomic_path

__all__ = ["FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "qrkt-checkpoint/1"


class CheckpointError(QrktError):
    """A checkpoint that cannot be used: corrupt, truncated, or not written by qrkt."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file or the new one.

    See `qrkt_qiskit.output.atomic_path`.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointError: when the file is corrupt or truncated, or was not written by qrkt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as exc:  # garbage bytes fail anywhere in torch's unpickler (IndexError, KeyError, ...)
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {exc}".split("\n")[0]) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by qrkt (expected format {FORMAT!r}); "
                              "load plain state_dicts with torch.load and model.load_state_dict")
    return state
