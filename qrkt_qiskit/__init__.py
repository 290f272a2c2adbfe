"""qrkt-qiskit: hybrid quantum/classical transformers and GANs on Qiskit, trained fast in PyTorch.

The names below load on first use, so that ``qrkt --help`` (which imports this package)
starts without importing torch or Qiskit.
"""

from .lazy import lazy_exports

# public name -> the submodule that defines it
_EXPORTS = {
    "ANSATZ_NAMES": "circuits", "Ansatz": "circuits", "make_ansatz": "circuits",
    "UnsupportedCircuitError": "engine", "compile_ansatz": "engine",
    "QuantumLayer": "layers", "QuantumLinear": "layers", "to_backend": "layers",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
