"""CIFAR-10's python batches, read without letting a file run code.

The batches are pickles (``cifar-10-batches-py/data_batch_N``); a plain ``pickle.load`` of a
crafted file runs whatever it names, and a run directory's ``config.json`` chooses the data
root. `read_batches` unpickles with a restricted unpickler that admits only what the real
files hold: dicts, lists, bytes, strings, numbers and numpy arrays of plain dtypes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

__all__ = ["read_batches"]

# Everything a genuine CIFAR-10 batch's pickle refers to: numpy's array reconstruction.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype")}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never does")
        return super().find_class(module, name)


def read_batches(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, 32, 32)`` in [0, 1] and labels ``(N,)`` of the batch files ``names`` in ``folder``.

    Raises:
        ValueError: for a file that is not a CIFAR-10 batch (nothing in it is run).
    """
    xs, ys = [], []
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as f:
                batch = _BatchUnpickler(f, encoding="bytes").load()
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path} is not a CIFAR-10 python batch ({exc}); nothing in it was run") from None
    return torch.from_numpy(np.concatenate(xs)).float() / 255.0, torch.from_numpy(np.concatenate(ys))
