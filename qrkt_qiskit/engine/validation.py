"""The checks every program call makes once, at the boundary, whichever simulator runs it."""

from __future__ import annotations

import numpy as np
import torch

from ..circuits import Ansatz
from .tracing import is_tracing

__all__ = ["NonFiniteAngleError", "all_finite", "check_call", "check_dtype", "check_tensors", "empty_result"]


class NonFiniteAngleError(ValueError):
    """A circuit was given NaN or infinite inputs or weights (in training: the model diverged upstream)."""


def check_dtype(x) -> None:
    """Refuse inputs that are not float32 or float64: Aer would cast the weights to integers with them."""
    if isinstance(x, torch.Tensor) and (not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16)):
        raise TypeError(f"inputs have dtype {x.dtype}, but a circuit's inputs are angles in float32 or float64; "
                        "convert them (x.float())")


def check_tensors(x, w, dtype: torch.dtype, device: torch.device, program: str) -> None:
    """Raise a one-sentence error unless ``x`` and ``w`` are tensors of ``dtype`` on ``device``.

    ``program`` names what was built for them ("the circuit was compiled", …).
    """
    check_dtype(x)
    for name, t in (("inputs", x), ("weights", w)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype != dtype:
            raise TypeError(f"{name} have dtype {t.dtype} but {program} for {dtype}")
        if t.device.type != device.type or (device.index is not None and t.device != device):
            raise ValueError(f"{name} are on {t.device} but {program} for {device}")


def check_call(x: torch.Tensor, w: torch.Tensor, ansatz: Ansatz) -> None:
    """Raise a one-sentence error unless ``x`` is a finite ``(..., n_inputs)`` and ``w`` a finite ``(n_weights,)`` tensor.

    Their dtype is checked apart (`check_tensors`, or `check_dtype` where inputs may be of
    either precision).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != ansatz.n_inputs:
        raise ValueError(f"inputs must have shape (..., {ansatz.n_inputs}) for this circuit's {ansatz.n_inputs} inputs, "
                         f"got {tuple(x.shape)}")
    if w.shape != (ansatz.n_weights,):
        raise ValueError(f"weight has shape {tuple(w.shape)}, but this circuit has {ansatz.n_weights} weights")
    if is_tracing():  # a traced tensor's values cannot be read
        return
    if not all_finite(x):
        raise NonFiniteAngleError("inputs contain NaN or infinite values; every angle must be finite")
    if not all_finite(w):
        raise NonFiniteAngleError("weights contain NaN or infinite values; every angle must be finite")


def all_finite(t: torch.Tensor) -> bool:
    """Whether no entry of ``t`` is NaN or infinite.

    On the CPU numpy answers in ~3 µs where torch's ops cost ~35 µs (dispatch, at the small
    sizes of a circuit call); elsewhere, the minimum and maximum (which propagate NaN) in one
    pass, without the full boolean mask of ``isfinite(t).all()``, which costs ~10x more.
    """
    if t.numel() == 0:
        return True
    if t.device.type == "cpu":
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(torch.stack(torch.aminmax(t))).all())


def empty_result(x: torch.Tensor, w: torch.Tensor, n_observables: int) -> torch.Tensor:
    """The result for inputs with no sample, ``(..., 0-sized, ..., n_observables)``: nothing runs, gradients are zero."""
    return x.new_zeros(*x.shape[:-1], n_observables) + 0 * (x.sum() + w.sum())
