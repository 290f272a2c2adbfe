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
sweep and the kernel for each call. Which of those two is faster depends on what the gates
after the first entangler read (kernel ÷ sweep time, interleaved, docs/benchmarks.md):

* inputs (*re-uploading*: a per-sample gate after an entangler, which the sweep applies as
  several tensor ops over the whole state): the kernel, at every width and batch;
* weights only (the sweep multiplies them into 64×64 blocks, one GEMM each): the kernel
  up to `KERNEL_MAX_QUBITS` qubits and `KERNEL_MAX_AMPLITUDES` amplitudes per call
  (batch · 2^n), where the sweep's cost is dispatch; the sweep above.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KERNEL_MAX_AMPLITUDES", "KERNEL_MAX_QUBITS", "METHODS", "Facts", "check_method", "choose", "describe"]

METHODS = ("auto", "closed-form", "statevector", "sweep", "kernel", "density-matrix")
# Without re-uploading, "auto" runs calls up to this width and this many amplitudes (batch · 2^n)
# as the kernel, larger ones as the sweep, whose block GEMMs are faster there (docs/benchmarks.md).
KERNEL_MAX_QUBITS = 8
KERNEL_MAX_AMPLITUDES = 1 << 17


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


def choose(method: str, facts: Facts, batch: int, tracing: bool) -> str:
    """The simulator that runs a call of ``batch`` samples under ``method``, of the circuit ``facts`` describe.

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
    if method == "kernel" or facts.reuploads or (
            facts.n_qubits <= KERNEL_MAX_QUBITS and batch * 2**facts.n_qubits <= KERNEL_MAX_AMPLITUDES):
        return "kernel"
    return "sweep"


def describe(method: str, facts: Facts) -> str:
    """`choose` in words, for ``repr``: which simulator runs which call."""
    small, large = choose(method, facts, 1, False), choose(method, facts, 1 << 62, False)
    if small == large:
        return small
    return f"kernel up to {KERNEL_MAX_AMPLITUDES} amplitudes (batch · 2^n), sweep above and when traced"
