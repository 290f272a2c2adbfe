"""What a resilience level does, resolved by Runtime's own client-side code.

The client-side Estimator (``qiskit_ibm_runtime.executor_estimator``) finalises its options
with ``finalize_estimator_options``: level 1 turns on measurement twirling and TREX, level 2
also gate twirling and ZNE by gate folding. The same function resolves them here, so a
native program mitigates as that Runtime version does; what the native engine does not
simulate is refused in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EXTRAPOLATORS", "Resilience", "resolve"]

# Fits replicated from qiskit_mitigation.zne.extrapolation (polynomial_degree_k: 1 <= k <= 7).
EXTRAPOLATORS = ("linear", "exponential", "fallback", *(f"polynomial_degree_{k}" for k in range(1, 8)))
_AMPLIFIERS = {"gate_folding": "random", "gate_folding_front": "front", "gate_folding_back": "back"}


@dataclass(frozen=True)
class Resilience:
    """A resolved resilience level.

    Attributes:
        level: Runtime's ``resilience_level``.
        measure_twirl, gate_twirl: Pauli twirling of the measurements, of the 2-qubit gate layers.
        trex: TREX readout mitigation (one calibration circuit per job).
        noise_factors: ZNE's gate-folding factors (empty: no ZNE).
        folding: which gates get an extra fold at a factor that is not an odd integer
            (``"random"``, ``"front"``, ``"back"``).
        extrapolators: ZNE's fits, tried in order (the first valid one is taken per term).
        shots: executions per circuit and parameter set as Runtime counts them: with twirling,
            ``num_randomizations × shots_per_randomization`` (at least the shots asked for);
            ``None`` for exact values.
        calibration_shots: the executions of TREX's calibration circuit (``None``: no TREX, or exact).
    """

    level: int
    measure_twirl: bool = False
    gate_twirl: bool = False
    trex: bool = False
    noise_factors: tuple[float, ...] = ()
    folding: str = "random"
    extrapolators: tuple[str, ...] = ()
    shots: int | None = None
    calibration_shots: int | None = None


def resolve(level: int, shots: int | None, options: dict[str, Any] | None = None) -> Resilience:
    """Resolve ``level`` (and any further Estimator ``options``) as Runtime's client-side Estimator does.

    Raises:
        ValueError: for a level other than 0, 1, 2, or an option the native engine does not
            simulate (PEC, PEA, dynamical decoupling, a twirling group other than Pauli, an
            extrapolator it does not replicate).
    """
    from qiskit_ibm_runtime.executor.calculate_twirling_shots import calculate_twirling_shots
    from qiskit_ibm_runtime.executor_estimator.finalize_options import finalize_estimator_options
    from qiskit_ibm_runtime.executor_estimator.trex import resolve_trex_num_randomizations
    from qiskit_ibm_runtime.options_models import EstimatorOptions

    if level not in (0, 1, 2):
        raise ValueError(f"resilience_level must be 0, 1 or 2 (Runtime's levels), got {level!r}")
    final = finalize_estimator_options(EstimatorOptions(resilience_level=level, **(options or {})))
    r, tw = final.resilience, final.twirling
    _refuse(r.pec_mitigation, "PEC (resilience.pec_mitigation) needs a learned layer noise model")
    _refuse(r.zne_mitigation and r.zne.amplifier == "pea", "PEA (zne.amplifier = 'pea') needs a learned layer "
            "noise model")
    _refuse(final.dynamical_decoupling.enable, "dynamical decoupling acts on idle time, which the native engine "
            "does not model")
    _refuse((tw.enable_gates or tw.enable_measure) and tw.group != "pauli",
            f"twirling group {tw.group!r} is not the Pauli group")
    factors, extrapolators = (), ()
    if r.zne_mitigation:
        factors = (1.0, 3.0, 5.0) if r.zne.noise_factors == "auto" else tuple(map(float, r.zne.noise_factors))
        extrapolators = (r.zne.extrapolator,) if isinstance(r.zne.extrapolator, str) else tuple(r.zne.extrapolator)
        for name in extrapolators:
            _refuse(name not in EXTRAPOLATORS, f"the extrapolator {name!r} is not replicated (these are: "
                    f"{', '.join(EXTRAPOLATORS)})")
        if _AMPLIFIERS[r.zne.amplifier] == "random" and any((f - 1) % 2 for f in factors):
            _refuse(True, "gate_folding at noise factors other than odd integers folds a random subset of "
                    "gates on each run; use amplifier 'gate_folding_front' or 'gate_folding_back'")
    effective = calibration = shots
    if shots is not None and (tw.enable_gates or tw.enable_measure):
        randomizations, per_randomization = calculate_twirling_shots(shots, tw.num_randomizations,
                                                                     tw.shots_per_randomization)
        effective = randomizations * per_randomization
        calibration = resolve_trex_num_randomizations(r.measure_noise_learning, randomizations) * per_randomization
    return Resilience(level, bool(tw.enable_measure), bool(tw.enable_gates), bool(r.measure_mitigation), factors,
                      _AMPLIFIERS[r.zne.amplifier], extrapolators, effective,
                      calibration if r.measure_mitigation else None)


def _refuse(condition: bool, why: str) -> None:
    if condition:
        raise ValueError(f"the native engine cannot simulate this Runtime mitigation: {why}; run it on "
                         "simulator = 'runtime' (an 'ibm' profile, fake-<device> for local testing mode)")
