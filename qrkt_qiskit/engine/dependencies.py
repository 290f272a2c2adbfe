"""What a circuit computes: which inputs each output reads, and the Pauli strings it reduces to.

Once the Clifford tail has moved into the observables (`clifford`), a closed-form circuit is
single-qubit rotations on a product state, and each output a sum of Pauli strings of the
qubits' Bloch vectors. Each Bloch component is followed through the rotations: whether it is
zero for every angle, and which inputs it reads (a rotation by θ about ``a`` mixes the two
components perpendicular to ``a`` and adds θ's inputs; `rotation`). A string reading a
component that is always zero is dropped; an output reads the inputs of the components its
other strings read — exactly, for generic weights. The one-layer ``qrkt`` circuit is of this
kind: its outputs are ``<X_0 X_{n-1}>`` and ``<X_k>``, so every output but the first reads one
input. Any other circuit gets its outputs' backward light cones, an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..circuits import Ansatz
from .compiler import lowered
from .ptm import gate_ptm
from .rotation import AXES, rotation_parts

__all__ = ["CircuitDependencies", "OutputDependencies", "dependencies"]


@dataclass(frozen=True)
class OutputDependencies:
    """One output: the inputs it reads, and (closed form) the Pauli strings it is a sum of.

    Attributes:
        output: its index.
        inputs: indices into the ansatz's inputs, sorted.
        strings: ``(coefficient, label)`` pairs, labels such as ``"X0 X5"`` (qubit numbers,
            identity left out; ``"I"`` for a constant), without the strings that are zero
            for every input and weight; ``None`` off the closed form.
    """

    output: int
    inputs: tuple[int, ...]
    strings: tuple[tuple[float, str], ...] | None


@dataclass(frozen=True)
class CircuitDependencies:
    """Every output of one circuit (`dependencies`).

    Attributes:
        name: the circuit's name.
        exact: ``True`` for the closed form (what each output reads, exactly); ``False`` for
            light cones (an upper bound).
        outputs: one entry per observable.
    """

    name: str
    exact: bool
    outputs: tuple[OutputDependencies, ...]

    @property
    def elementwise(self) -> bool:
        """Whether no output reads more than one input: the circuit mixes no features."""
        return all(len(o.inputs) <= 1 for o in self.outputs)

    def summary(self) -> str:
        """One plain sentence: does it mix features, and which outputs do."""
        bound = "" if self.exact else " (light cones: an upper bound)"
        if self.elementwise:
            return f"each output reads at most one input: this circuit mixes no features{bound}"
        mixing = [o for o in self.outputs if len(o.inputs) > 1]
        shown = "; ".join(f"output {o.output} reads inputs {', '.join(map(str, o.inputs))}" for o in mixing[:3])
        more = f"; and {len(mixing) - 3} more" if len(mixing) > 3 else ""
        rest = len(self.outputs) - len(mixing)
        tail = f"; the other {rest} read at most one input each" if rest else ""
        return f"{len(mixing)} of {len(self.outputs)} outputs mix inputs ({shown}{more}){tail}{bound}"

    def short(self) -> str:
        """A table cell: ``element-wise`` or how many outputs mix inputs."""
        if self.elementwise:
            return "element-wise"
        mixing = sum(len(o.inputs) > 1 for o in self.outputs)
        return f"{mixing}/{len(self.outputs)} outputs mix" + ("" if self.exact else " (bound)")


_COMPONENT = {"X": 1, "Y": 2, "Z": 3}  # index into r = [1, b]


def _bloch_components(ops, n: int, inputs_of) -> list[list[frozenset | None]]:
    """Per qubit, per component of ``r = [1, b]``: ``None`` if zero for every angle, else the inputs it reads."""
    qubits: list[list[frozenset | None]] = [[frozenset(), None, None, frozenset()] for _ in range(n)]  # |0>: b = z
    for op in ops:  # single-qubit gates only, once the tail is gone
        r = qubits[op.qubits[0]]
        for parts, reads in _rotations(op, inputs_of):
            new = []
            for i in range(4):
                kept = [r[j] for j in range(4) if parts[0][i, j] != 0 and r[j] is not None]
                turned = [r[j] for j in range(4) if (parts[1][i, j] != 0 or parts[2][i, j] != 0) and r[j] is not None]
                if not kept and not turned:
                    new.append(None)
                else:
                    new.append(frozenset().union(*kept, *turned, *([reads] if turned else [])))
            r[:] = new
    return qubits


def _rotations(op, inputs_of):
    """The gate as rotations ``(A, B, C)`` with the inputs of each angle (a constant gate: ``A`` its PTM)."""
    if op.matrix is not None:
        return [((gate_ptm(op.matrix), np.zeros((4, 4)), np.zeros((4, 4))), frozenset())]
    return [(tuple(rotation_parts([AXES[op.name]])[:, 0]), inputs_of({op.angles[0].slot}))]  # `u` is split


def dependencies(ansatz: Ansatz) -> CircuitDependencies:
    """Which inputs each output of ``ansatz`` reads, from the plan the engine runs.

    Raises:
        UnsupportedCircuitError: for a circuit the engine cannot lower.
    """
    plan = lowered(ansatz)
    derived, exact = plan.derived, plan.closed_form is not None
    ops, observables = plan.closed_form if exact else (plan.ops, plan.observables)
    n_in = ansatz.n_inputs
    reads = [(j,) for j in range(n_in)] + ([] if derived is None else [tuple(r) for r in derived.inputs_read])

    def inputs_of(slots) -> frozenset[int]:
        """The inputs read by angle slots (an input, or a derived input's inputs; weights read none)."""
        return frozenset(j for s in slots if s is not None and s < len(reads) for j in reads[s])

    outputs = []
    if exact:
        components = _bloch_components(ops, ansatz.n_qubits, inputs_of)
        for k, obs in enumerate(observables):
            obs = obs.simplify(atol=1e-12)
            strings, read = [], set()
            for pauli, coeff in zip(obs.paulis, obs.coeffs):
                support = [int(q) for q in np.flatnonzero(pauli.x | pauli.z)]
                factors = [components[q][_COMPONENT[pauli[q].to_label()]] for q in support]
                if any(f is None for f in factors):  # a factor that is zero for every angle
                    continue
                read.update(j for f in factors for j in f)
                label = " ".join(f"{pauli[q].to_label()}{q}" for q in support) or "I"
                strings.append((float(np.real(coeff)), label))
            outputs.append(OutputDependencies(k, tuple(sorted(read)), tuple(strings)))
    else:
        for k, obs in enumerate(observables):
            cone = {int(q) for p in obs.paulis for q in np.flatnonzero(p.x | p.z)}
            read: set[int] = set()
            for op in reversed(ops):
                if cone & set(op.qubits):
                    cone |= set(op.qubits)
                    read |= inputs_of(op.slots)
            outputs.append(OutputDependencies(k, tuple(sorted(read)), None))
    return CircuitDependencies(ansatz.circuit.name, exact, tuple(outputs))
