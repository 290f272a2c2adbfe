"""qrkt-qiskit: hybrid quantum/classical transformers and GANs on Qiskit, trained fast in PyTorch.

The names below load on first use, so that ``qrkt --help`` (which imports this package)
starts without importing torch or Qiskit.
"""

import importlib

# public name -> the submodule that defines it
_EXPORTS = {
    "ANSATZ_NAMES": "circuits", "Ansatz": "circuits", "make_ansatz": "circuits",
    "UnsupportedCircuitError": "engine", "compile": "engine",
    "QuantumLayer": "layers", "QuantumLinear": "layers", "to_backend": "layers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'qrkt_qiskit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
