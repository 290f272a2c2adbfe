"""Which simulator runs a call: the engine's one decision, made by `choose` and shown by `describe`.

The engine has four simulators of one circuit, all exact (docs/engine.md has the map):

* ``closed-form`` (`bloch`): single-qubit gates followed by a Clifford tail; any width.
* ``sweep`` (`sweep`): the statevector as torch tensors, an adjoint reverse pass written by
  hand; any device, any torch transform, double backward.
* ``kernel`` (`fused`): the same statevector as two numba passes on the CPU, at any width
  the memory check admits; no framework call per gate.
* ``density-matrix`` (`noisy`): a device's ISA circuit with its noise and readout error.

``method`` forces one (as nanoGPT's ``flash`` and timm's ``fused_attn`` name their fast
paths); ``"auto"`` picks the fastest that applies, and ``"statevector"`` the faster of the
sweep and the kernel. Which of those two is faster depends on what the gates after the
first entangler read and on the width (sweep ÷ kernel time, float32, interleaved,
benchmarks/kernel_vs_sweep.py, docs/benchmarks.md):

* inputs (*re-uploading*: a per-sample gate on an entangled state, which the sweep applies
  as several tensor ops over the whole state): the kernel, at every width and batch
  (4-200× the sweep forward+backward at 4-12 qubits);
* weights only (the sweep multiplies them into 64×64 blocks, one GEMM each): the kernel up
  to `KERNEL_MAX_QUBITS` qubits, at any batch (1.0-45× the sweep forward+backward at 4-10
  qubits, batch 16-1024), the sweep above: at 12 qubits and batch 16 the kernel's tiles are
  too narrow to vectorise well (0.6-0.8× forward+backward); at batch 64-1024 the two tie on
  ``ring-ry`` and the kernel wins on ``qrkt-2`` (1.7-2.7×), so the limit errs toward the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KERNEL_MAX_QUBITS", "METHODS", "Facts", "check_method", "choose", "describe"]

METHODS = ("auto", "closed-form", "statevector", "sweep", "kernel", "density-matrix")
# Without re-uploading, "auto" runs circuits up to this width as the kernel, wider ones as the
# sweep, whose block GEMMs are as fast or faster there (docs/benchmarks.md).
KERNEL_MAX_QUBITS = 10

@dataclass(frozen=True)
class Facts:
    """What the choice reads of a compiled circuit: its width, where it runs, what fits it.

    Attributes:
        n_qubits: its width.
        device: where its tensors live.
        closed_form: whether the closed form applies (no multi-qubit gate left once the
            Clifford tail has moved into the observables).
        noisy: whether it was compiled with a device's noise.
        reuploads: whether a gate after a multi-qubit gate on its qubits reads an input.
    """

    n_qubits: int
    device: torch.device
    closed_form: bool
    noisy: bool
    reuploads: bool = False

    @property
    def kernel_fits(self) -> bool:
        return self.device.type == "cpu"


def check_method(method: str, facts: Facts) -> None:
    """Refuse, at compile time, a ``method`` that cannot run the circuit ``facts`` describe, in one sentence."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if facts.noisy and method not in ("auto", "density-matrix"):
        raise ValueError(f"method {method!r} simulates no noise; a circuit compiled with noise= runs as "
                         "method='density-matrix' (or 'auto')")
    if method == "kernel" and not facts.kernel_fits:
        raise ValueError(f"method 'kernel' runs on the CPU, but this circuit is compiled for {facts.device}; "
                         "use method='sweep'")


def choose(method: str, facts: Facts, tracing: bool) -> str:
    """The simulator that runs a call under ``method``, of the circuit ``facts`` describe.

    The kernel cannot be traced (``torch.compile``, ``torch.func``, ``torch.export``), so a
    traced call takes the sweep even when ``method="kernel"``; its backward takes the sweep
    under ``create_graph`` (a double backward).
    """
    if facts.noisy or method == "density-matrix":
        return "density-matrix"
    if method == "closed-form" or (method == "auto" and facts.closed_form):
        return "closed-form"
    if method == "sweep" or tracing or not facts.kernel_fits:
        return "sweep"
    if method == "kernel" or facts.reuploads or facts.n_qubits <= KERNEL_MAX_QUBITS:
        return "kernel"
    return "sweep"


def describe(method: str, facts: Facts) -> str:
    """`choose` in words, for ``repr``: which simulator runs the calls."""
    chosen = choose(method, facts, False)
    return f"{chosen}, sweep when traced" if chosen == "kernel" else chosen
