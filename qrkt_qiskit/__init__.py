"""qrkt-qiskit: hybrid quantum/classical transformers and GANs on Qiskit, trained fast in PyTorch."""

from .circuits import ANSATZ_NAMES, Ansatz, make_ansatz
from .engine import UnsupportedCircuitError, compile
from .layers import QuantumLayer, QuantumLinear, to_backend

__all__ = ["ANSATZ_NAMES", "Ansatz", "QuantumLayer", "QuantumLinear", "UnsupportedCircuitError", "compile", "make_ansatz",
           "to_backend"]
