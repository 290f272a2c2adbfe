"""qrkt-qiskit: hybrid quantum/classical transformers and GANs on Qiskit, trained fast in PyTorch."""

from .circuits import ANSATZ_NAMES, Ansatz, make_ansatz
from .engine import UnsupportedCircuitError, compile

__all__ = ["ANSATZ_NAMES", "Ansatz", "UnsupportedCircuitError", "compile", "make_ansatz"]
