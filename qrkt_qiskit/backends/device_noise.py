"""Aer's noise model as the engine's `DeviceNoise`: the one place that reads a ``NoiseModel``'s insides."""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit

from ..engine import DeviceNoise, UnsupportedCircuitError

__all__ = ["device_noise"]


def device_noise(noise_model, circuit: QuantumCircuit, cache: dict | None = None, device: str = "device") -> DeviceNoise:
    """The errors Aer's ``noise_model`` applies to the instructions of ``circuit``, on ``device``.

    Aer looks up an error by instruction name and qubits, else the name's all-qubit
    error; readout errors likewise. Only what ``circuit`` uses is converted, and
    ``cache`` (a dict kept beside ``noise_model``) keeps conversions for the next circuit.
    Aer has no public accessor for its per-qubit error tables, so they are read here.

    Raises:
        UnsupportedCircuitError: for noise the engine does not model (non-local errors,
            correlated readout, errors on measurements).
    """
    from qiskit.quantum_info import SuperOp

    local, default = noise_model._local_quantum_errors, noise_model._default_quantum_errors
    if "measure" in local or "measure" in default:
        raise UnsupportedCircuitError("the noise model has quantum errors on measurements, which the noisy "
                                      "engine does not model; use simulator='aer'")
    if any(len(q) > 1 for q in noise_model._local_readout_errors):
        raise UnsupportedCircuitError("the noise model has correlated multi-qubit readout errors, which the "
                                      "noisy engine does not model; use simulator='aer'")
    errors = {}
    for inst in circuit.data:
        name = inst.operation.name
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        error = local.get(name, {}).get(qubits, default.get(name))
        key = (name, qubits)
        if error is not None and key not in errors:
            errors[key] = cache[key] if cache is not None and key in cache else np.asarray(SuperOp(error).data)
            if cache is not None:
                cache[key] = errors[key]
    readout = {}
    for q in range(circuit.num_qubits):
        error = noise_model._local_readout_errors.get((q,), noise_model._default_readout_error)
        if error is not None:
            readout[q] = np.asarray(error.probabilities, dtype=float)
    return DeviceNoise(errors, readout, device)
