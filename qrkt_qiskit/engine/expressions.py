"""Gate angles that are any expression of the inputs and weights, computed by torch.

The programs read angles ``a * v[slot] + b`` of one input or weight. An angle that is not of
that form (``2(π − x₀)(π − x₁)`` in Qiskit's ``zz_feature_map``, ``w·x`` in data re-uploading,
``sin(x)``) becomes one *derived input*: a column computed from ``x`` and ``w`` with torch
operations (Qiskit's expression, through sympy, as a torch function) before the program runs.
The program reads it like any input, and autograd differentiates the expression.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
import torch
from qiskit.circuit import Parameter, ParameterExpression

from ..circuits import Ansatz
from .lowering import Op, lower

__all__ = ["DerivedInputs", "lower_ansatz"]


class _Registry:
    """The expressions met while lowering, each given the next slot from ``base`` on."""

    def __init__(self, base: int):
        self.base, self.slots, self.expressions = base, {}, []

    def __call__(self, expression: ParameterExpression) -> int:
        key = str(expression)  # a circuit's parameter names are unique, so equal text is an equal expression
        if key not in self.slots:
            self.slots[key] = self.base + len(self.expressions)
            self.expressions.append(expression)
        return self.slots[key]


def lower_ansatz(ansatz: Ansatz) -> tuple[list[Op], DerivedInputs | None]:
    """``ansatz`` lowered, and its derived inputs (``None`` when every angle is linear in one parameter).

    Slots number the inputs, then the derived inputs, then the weights, so that the programs
    see derived inputs as inputs. Lowering is cheap, so it runs twice when there are any: once
    to count them, once with the weights' slots moved past them.
    """
    params = ansatz.inputs + ansatz.weights
    found = _Registry(len(params))
    ops = lower(ansatz.circuit, {p: i for i, p in enumerate(params)}, found)
    if not found.expressions:
        return ops, None
    n_in, k = ansatz.n_inputs, len(found.expressions)
    registry = _Registry(n_in)
    ops = lower(ansatz.circuit, {p: i if i < n_in else i + k for i, p in enumerate(params)}, registry)
    return ops, DerivedInputs(registry.expressions, params, n_in)


class DerivedInputs:
    """Expressions of the parameters ``params`` (``n_inputs`` inputs, then weights) as columns ``(batch, k)``."""

    def __init__(self, expressions: Sequence[ParameterExpression], params: Sequence[Parameter], n_inputs: int):
        index = {p: i for i, p in enumerate(params)}
        self.expressions = tuple(expressions)
        self._functions = []
        # for each expression, the inputs it reads (indices into the inputs; weights left out)
        self.inputs_read = tuple(tuple(sorted(index[p] for p in e.parameters if index[p] < n_inputs))
                                 for e in self.expressions)
        for expression in self.expressions:
            reads = sorted(expression.parameters, key=lambda p: p.name)
            symbols = [sympy.Symbol(p.name) for p in reads]
            function = sympy.lambdify(symbols, expression.sympify(), modules="torch", dummify=True)
            self._functions.append((function, torch.tensor([index[p] for p in reads])))

    def __len__(self) -> int:
        return len(self.expressions)

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> the derived inputs ``(batch, k)``."""
        values = torch.cat([x, w.expand(x.shape[0], -1)], dim=1)
        columns = [function(*values.index_select(1, reads.to(x.device)).unbind(1)) for function, reads in self._functions]
        return torch.stack([c.expand(x.shape[0]) for c in columns], dim=1)

    def describe(self) -> str:
        return f"{len(self)} angle expression(s) computed by torch ({', '.join(map(str, self.expressions))})"
