"""The native engine: Qiskit circuits compiled into exact, differentiable PyTorch programs."""

from .compiler import CompiledCircuit, compile
from .dependencies import CircuitDependencies, dependencies
from .lowering import UnsupportedCircuitError

__all__ = ["CircuitDependencies", "CompiledCircuit", "UnsupportedCircuitError", "compile", "dependencies"]
