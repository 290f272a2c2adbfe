"""Runtime's error mitigation (resilience levels 1 and 2) in the native noisy engine.

What ``qiskit_ibm_runtime.executor_estimator.Estimator`` (the client-side Estimator)
returns at a resilience level, computed in expectation (or sampled as Runtime samples):
`resolve` reads the level as Runtime finalises it, `twirl` averages the noise over Pauli
twirls, `zne` folds and extrapolates, and `MitigatedCircuit` puts them together
(docs/noise.md, "Resilience levels").
"""

from .options import EXTRAPOLATORS, Resilience, resolve
from .program import MitigatedCircuit
from .twirl import flip_rates, pauli_twirl, twirled_noise, twirled_readout
from .zne import extrapolate, fold

__all__ = ["EXTRAPOLATORS", "MitigatedCircuit", "Resilience", "extrapolate", "flip_rates", "fold", "pauli_twirl",
           "resolve", "twirled_noise", "twirled_readout"]
