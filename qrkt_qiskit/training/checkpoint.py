"""Checkpoints: written atomically, read back with ``weights_only=True``, checked for origin.

A checkpoint is a plain dict of tensors and primitives tagged with `FORMAT`, so
``torch.load(weights_only=True)`` reads it without executing anything, and a file from
another program is refused in one sentence instead of failing deep in ``load_state_dict``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..errors import QrktError

__all__ = ["FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "qrkt-checkpoint/1"


class CheckpointError(QrktError):
    """A checkpoint that cannot be used: corrupt, truncated, or not written by qrkt."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file or the new one.

    The bytes go to a temporary file in the same directory, are flushed to disk, then
    ``os.replace`` swaps it in — atomic on POSIX and Windows.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
