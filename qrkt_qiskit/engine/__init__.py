"""The native engine: Qiskit circuits compiled into exact, differentiable PyTorch programs."""

from .compiler import CompiledCircuit, compile
from .lowering import UnsupportedCircuitError

__all__ = ["CompiledCircuit", "UnsupportedCircuitError", "compile"]
