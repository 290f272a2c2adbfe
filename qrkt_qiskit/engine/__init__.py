"""The native engine: Qiskit circuits compiled into exact, differentiable PyTorch programs.

`compile_ansatz` is the one front door; docs/engine.md maps its four simulators.
"""

from .compiler import CompiledCircuit, compile_ansatz
from .dependencies import CircuitDependencies, dependencies
from .dispatch import METHODS
from .lowering import UnsupportedCircuitError
from .noise import DeviceNoise, readout_observables
from .noisy_plan import MAX_ACTIVE_QUBITS
from .validation import NonFiniteAngleError

__all__ = ["MAX_ACTIVE_QUBITS", "METHODS", "CircuitDependencies", "CompiledCircuit", "DeviceNoise", "NonFiniteAngleError",
           "UnsupportedCircuitError", "compile_ansatz", "dependencies", "readout_observables"]
