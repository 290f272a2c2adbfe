"""Checkpoints: written atomically, read back with ``weights_only=True``, checked for origin and integrity.

A checkpoint is a plain dict of tensors and primitives, serialised by ``torch.save`` and
wrapped in an envelope tagged with `FORMAT` that carries those bytes and their SHA-256, so
``torch.load(weights_only=True)`` reads it without executing anything, a file from another
program is refused in one sentence instead of failing deep in ``load_state_dict``, and a
changed byte (a bad disk, a bad copy, a hand edit) is caught instead of loading wrong weights.
Checkpoints of the first format (no digest) still load.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import torch

from ..errors import QrktError
from ..output import atomic_path

__all__ = ["FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "qrkt-checkpoint/2"
_UNVERIFIED = "qrkt-checkpoint/1"  # before digests: read as they are


class CheckpointError(QrktError):
    """A checkpoint that cannot be used: corrupt, truncated, or not written by qrkt."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file or the new one.

    See `qrkt_qiskit.output.atomic_path`. The bytes are made in memory and written by Python,
    so a full disk is an `OSError` ("No space left on device"), not torch's writer's error.
    """
    payload = _serialise(state)
    envelope = _serialise({"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload})
    with atomic_path(path) as tmp:
        tmp.write_bytes(envelope)


def _serialise(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`, after checking its content against its digest.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointError: when the file is corrupt, truncated or changed, or was not written by qrkt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    envelope = _load(path, path, map_location)
    if not isinstance(envelope, dict) or envelope.get("format") not in (FORMAT, _UNVERIFIED):
        raise CheckpointError(f"{path} was not written by qrkt (expected format {FORMAT!r}); "
                              "load plain state_dicts with torch.load and model.load_state_dict")
    if envelope["format"] == _UNVERIFIED:
        return envelope
    payload = envelope.get("payload")
    if not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != envelope.get("sha256"):
        raise CheckpointError(f"{path} is corrupt: its content does not match the SHA-256 digest stored with it "
                              "(a changed byte); use another checkpoint of the run or train again")
    return _load(io.BytesIO(payload), path, map_location)


def _load(source, path: Path, map_location):
    """``torch.load(weights_only=True)``, every failure one sentence naming ``path``."""
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as exc:  # garbage bytes fail anywhere in torch's unpickler (IndexError, KeyError, ...)
        why = str(exc).split("\n")[0]
        if isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in why:
            # torch's message goes on to advise weights_only=False, which must never be taken for a checkpoint
            why = "it holds something other than tensors and plain data, which qrkt neither writes nor loads"
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {why}") from None
