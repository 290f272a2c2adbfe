"""Pauli strings' expectations on a product state, as products of gathered components.

On a product state ``<P> = sign · prod_q <σ_q>``: each string reads one ``[1, b]``
component per qubit it acts on (its *slots*), multiplies them and a ``(terms,
observables)`` matmul adds the strings up. Both kernels have hand-written backwards: the
product rule as leave-one-out products, and one ``index_add`` back onto the components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from .rotation import rotation

__all__ = ["DENSE_MAX_QUBITS", "PauliSlots", "lazy_pauli_products", "pauli_products"]

DENSE_MAX_QUBITS = 16  # up to this width the batch part is two small matrix products (see _LazyPauliProducts)

_CODE = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}  # I X Y Z: [1, b]


@dataclass(frozen=True)
class Pairs:
    """Strings of weight <= 2 on the wide route, without padding: each string's first factor, in string
    order, then the second factors of the strings that have one.

    The ``qrkt`` ring has one string of weight 2 and n − 1 of weight 1: padded, half its slots
    would be ones, computed and differentiated like the others.
    """

    flat: torch.Tensor  # (terms + pairs,) the components read
    qubit: torch.Tensor  # flat // 4
    sink: torch.Tensor  # flat, but a weight-0 string's padding points past the end, where gradients are dropped
    paired: torch.Tensor  # (pairs,) the strings with a second factor
    terms: int

    def products(self, factors: torch.Tensor) -> torch.Tensor:
        """``(batch, terms + pairs)`` factors -> each string's product ``(batch, terms)``."""
        first = factors[:, : self.terms]
        return first.index_copy(1, self.paired, first.index_select(1, self.paired) * factors[:, self.terms:])

    def grad(self, factors: torch.Tensor, grad_terms: torch.Tensor) -> torch.Tensor:
        """The gradient of `products` with respect to the factors, from each string's ``(batch, terms)``."""
        first, second = factors[:, : self.terms], factors[:, self.terms:]
        g_paired = grad_terms.index_select(1, self.paired)
        return torch.cat([grad_terms.index_copy(1, self.paired, g_paired * second),
                          g_paired * first.index_select(1, self.paired)], 1)


@dataclass(frozen=True)
class PauliSlots:
    """Where each Pauli string's factors come from: flat ``[1, b]`` indices and their qubits.

    Built once per program by `PauliSlots.of`; only the kernels here read its fields.
    """

    index: torch.Tensor  # (terms, weight) into the flat (4n,) components
    table: torch.Tensor  # (terms, observables)
    flat: torch.Tensor  # (slots,)
    qubit: torch.Tensor  # (slots,): flat // 4
    real: torch.Tensor  # the slots that are not padding
    sink: torch.Tensor  # (slots,): flat, but padding slots point past the end, where gradients are dropped
    partner: torch.Tensor | None  # strings of weight 2: each slot's other slot
    dense_at: torch.Tensor | None  # narrow circuits: where slot s's Ar, Br, Cr sit in the flat (2n + 1, slots) matrix
    n: int
    identity: bool  # one string per observable, in order, coefficient 1 (the qrkt ring): the table is not applied
    pairs: Pairs | None  # the wide route of strings of weight <= 2 (some 2): no padding (`Pairs`)

    def sum_terms(self, products: torch.Tensor) -> torch.Tensor:
        """The strings' products ``(batch, terms)`` -> the observables ``(batch, observables)``."""
        return products if self.identity else products @ self.table

    def grad_terms(self, grad: torch.Tensor) -> torch.Tensor:
        """The observables' gradient -> each string's, `sum_terms` backwards."""
        return grad if self.identity else grad @ self.table.T

    @property
    def dense(self) -> bool:
        """Whether `lazy_pauli_products` takes the dense route (``n <= DENSE_MAX_QUBITS``)."""
        return self.dense_at is not None

    @classmethod
    def of(cls, observables: Sequence[SparsePauliOp], n: int, dtype: torch.dtype, device) -> PauliSlots:
        """The slots of ``observables``, Pauli sums on ``n`` qubits, with coefficients in ``dtype``."""
        index, table, real = _pauli_tables(observables, dtype, device)
        flat = index.flatten()
        sink = torch.full_like(flat, 4 * n)
        sink[real] = flat[real]
        slots = torch.arange(len(flat), device=flat.device)
        partner = slots.view(index.shape).flip(-1).flatten() if index.shape[1] == 2 else None
        dense_at = None
        if n <= DENSE_MAX_QUBITS:  # rows 0, 1 + q and 1 + n + q of column s: Ar, Br and Cr of slot s on qubit q
            rows = torch.stack([torch.zeros_like(flat), 1 + flat // 4, 1 + n + flat // 4], -1)
            dense_at = (rows * len(flat) + slots[:, None]).flatten()
        identity = table.shape[0] == table.shape[1] and torch.equal(table, torch.eye(len(table), dtype=dtype, device=device))
        pairs = None
        if dense_at is None and index.shape[1] == 2:
            is_real = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
            is_real[real] = True
            first_real, second_real = is_real.view(index.shape).unbind(1)
            paired = torch.nonzero(second_real).flatten()
            pair_flat = torch.cat([index[:, 0], index[paired, 1]])
            pair_sink = torch.cat([torch.where(first_real, index[:, 0], 4 * n), index[paired, 1]])
            pairs = Pairs(pair_flat, pair_flat // 4, pair_sink, paired, len(index))
        return cls(index, table, flat, flat // 4, real, sink, partner, dense_at, n, identity, pairs)

    def scatter(self, values: torch.Tensor, sink: torch.Tensor | None = None) -> torch.Tensor:
        """Sum per-slot rows ``(slots, k)`` of the real slots into ``(n, 4, k)`` (``sink``: `Pairs`' slots)."""
        sink = self.sink if sink is None else sink
        out = values.new_zeros(4 * self.n + 1, values.shape[-1]).index_add(0, sink, values)
        return out[:-1].view(self.n, 4, -1)

    def describe(self) -> str:
        """The observables as the kernels see them, for ``repr``."""
        return (f"{self.table.shape[1]} observable(s) as {self.index.shape[0]} Pauli string(s) "
                f"of weight <= {self.index.shape[1]}")


def pauli_products(components: torch.Tensor, slots: PauliSlots) -> torch.Tensor:
    """``(batch, 4n)`` components ``[1, b]`` per qubit -> the observables ``(batch, n_observables)``."""
    return _PauliProducts.apply(components, slots)


def lazy_pauli_products(theta: torch.Tensor, terms: torch.Tensor, slots: PauliSlots) -> torch.Tensor:
    """`pauli_products` of the state ``Ar + cos θ Br + sin θ Cr``, without building it.

    ``θ: (batch, n)``, the one input layer's angles; ``terms: (n, 4, 3)``, the terms
    ``(A r, B r, C r)`` of each qubit (`rotation`), unbatched.
    """
    return _LazyPauliProducts.apply(theta, terms, slots)[0]


def _pauli_tables(observables: Sequence[SparsePauliOp], dtype, device):
    """Each Pauli string's ``[1, b]`` components (flat indices, padded with an identity), a
    ``(terms, observables)`` table of coefficients with the strings' signs, and the flat
    positions that are not padding.

    The gradient skips padding: on a GPU, thousands of padding slots adding into one
    address serialise the scatter.
    """
    rows, coeffs = [], []
    for o, obs in enumerate(observables):
        for pauli, coeff in zip(obs.paulis, obs.coeffs):
            support = np.flatnonzero(pauli.x | pauli.z)
            rows.append([4 * q + _CODE[bool(pauli.x[q]), bool(pauli.z[q])] for q in support])
            sign = ((-1j) ** int(pauli.phase)).real  # ±1: C† P C of a Hermitian P is Hermitian
            coeffs.append((o, (coeff * sign).real))
    width = max(1, max(map(len, rows)))
    index = np.zeros((len(rows), width), dtype=np.int64)  # padding reads component 0, qubit 0's <I> = 1
    for t, row in enumerate(rows):
        index[t, : len(row)] = row
    table = np.zeros((len(rows), len(observables)))
    for t, (o, c) in enumerate(coeffs):
        table[t, o] += c
    real = [t * width + j for t, row in enumerate(rows) for j in range(len(row))]
    return (torch.as_tensor(index, device=device), torch.as_tensor(table, dtype=dtype, device=device),
            torch.as_tensor(real, dtype=torch.long, device=device))


class _PauliProducts(torch.autograd.Function):
    """``out = prod_j c[:, index[:, j]] @ table`` with a hand-written backward.

    Autograd's version of gather, product and matmul costs a scatter-add and a
    zero-safe product rule; here the leave-one-out products are two cumulative
    products and the gradient is one ``index_add``.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(components, slots):
        return slots.sum_terms(_gather(components, slots).prod(-1))

    @staticmethod
    def setup_context(ctx, inputs, output):
        components, ctx.slots = inputs
        ctx.save_for_backward(components)

    @staticmethod
    def backward(ctx, grad):
        # out[:, o] = Σ_t table[t, o] Π_j f[:, t, j], so the gradient of factor j of string t
        # is (grad @ tableᵀ)[:, t] times the string's other factors (`_grad_factors`), and a
        # component gets the sum over the real slots that read it.
        components, = ctx.saved_tensors
        slots = ctx.slots
        g = _grad_factors(_gather(components, slots).flatten(1), grad, slots)  # gathered again, not saved
        real = slots.real
        return torch.zeros_like(components).index_add(1, slots.flat[real], g[:, real]), None


class _LazyPauliProducts(torch.autograd.Function):
    """`_PauliProducts` of ``components = terms @ [1, cos θ, sin θ]`` (one input layer, lazily kept).

    ``θ: (batch, n)``; ``terms: (n, 4, 3)``, ``(A r, B r, C r)`` per qubit, a function of the
    weights only. Every factor of every Pauli string is ``Ar + cos θ_q Br + sin θ_q Cr``, its
    slot's entries ``(Ar, Br, Cr)`` of the terms of qubit ``q``, and one autograd node does
    everything that touches the batch.
    Narrow circuits compute all factors as one product ``[1, cos θ, sin θ] @ coef`` with a
    sparse ``(2n + 1, slots)`` matrix (a few large operations); wide ones gather per slot,
    ``O(batch · slots)`` at any width.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(theta, terms, slots):
        """The observables, then the factors' parts (what the backward reads, as outputs for ``torch.func``)."""
        parts = _lazy_factors(theta, terms, slots)
        factors = parts[-1]
        products = (slots.pairs.products(factors) if slots.pairs is not None
                    else factors.view(theta.shape[0], *slots.index.shape).prod(-1))
        return slots.sum_terms(products), *parts

    @staticmethod
    def setup_context(ctx, inputs, output):
        theta, terms, ctx.slots = inputs
        ctx.save_for_backward(theta, terms, *output[1:])
        ctx.mark_non_differentiable(*output[1:])

    @staticmethod
    def backward(ctx, grad, *_):
        # A factor is f = Ar + cos θ_q Br + sin θ_q Cr; with g = dL/df per slot (`_grad_factors`),
        # dL/dθ_q sums g (cos θ_q Cr − sin θ_q Br) over q's slots, and dL/d(Ar, Br, Cr) sums
        # g (1, cos θ_q, sin θ_q) over the batch. The dense route has f = basis @ coef with
        # basis = [1, cos θ, sin θ]: dL/dcoef = basisᵀ g, dL/dbasis = g coefᵀ, and
        # dL/dθ_q = cos θ_q dL/d(sin θ_q) − sin θ_q dL/d(cos θ_q).
        theta, terms, *parts = ctx.saved_tensors
        slots = ctx.slots
        if torch.is_grad_enabled():  # a double backward: rebuild what it differentiates from the inputs
            parts = _lazy_factors(theta, terms, slots)
        pairs = slots.pairs
        g = (pairs.grad(parts[-1], slots.grad_terms(grad)) if pairs is not None
             else _grad_factors(parts[-1], grad, slots))  # (batch, slots)
        n, grad_theta, grad_coef = slots.n, None, None
        if slots.dense:
            basis, coef, _ = parts  # (batch, 2n + 1), (2n + 1, slots)
            if ctx.needs_input_grad[0]:
                g_basis = g @ coef.T
                grad_theta = torch.addcmul(g_basis[:, n + 1:] * basis[:, 1:n + 1], g_basis[:, 1:n + 1], basis[:, n + 1:],
                                           value=-1)
            if ctx.needs_input_grad[1]:
                grad_coef = slots.scatter((basis.T @ g).flatten().index_select(0, slots.dense_at).view(-1, 3))
        else:
            cos, sin, coef, _ = parts  # (batch, slots) twice, (slots, 3)
            _, Br, Cr = coef.unbind(-1)
            layout = slots if pairs is None else pairs
            if ctx.needs_input_grad[0]:  # padding slots have Br = Cr = 0: they add nothing
                slope = torch.addcmul(cos * Cr, sin, Br, value=-1)
                grad_theta = torch.zeros_like(theta).index_add(1, layout.qubit, g * slope)
            if ctx.needs_input_grad[1]:
                grad_coef = slots.scatter(torch.stack((g.sum(0), (g * cos).sum(0), (g * sin).sum(0)), -1), layout.sink)
        return grad_theta, grad_coef, None


def _lazy_factors(theta, terms, slots: PauliSlots):
    """The factors ``(batch, slots)``, last, after what their backward needs (see `_LazyPauliProducts`)."""
    if slots.dense:
        coef = terms.reshape(-1, 3).index_select(0, slots.flat)  # (slots, 3): Ar, Br, Cr per slot
        basis = torch.cat([theta.new_ones(theta.shape[0], 1), torch.cos(theta), torch.sin(theta)], 1)
        n_basis = 2 * slots.n + 1
        coef = coef.new_zeros(n_basis * len(slots.flat)).index_add(0, slots.dense_at, coef.flatten())
        coef = coef.view(n_basis, -1)
        return basis, coef, basis @ coef
    layout = slots if slots.pairs is None else slots.pairs
    coef = terms.reshape(-1, 3).index_select(0, layout.flat)  # (slots, 3): Ar, Br, Cr per slot
    cos = torch.cos(theta).index_select(1, layout.qubit)
    sin = torch.sin(theta).index_select(1, layout.qubit)
    return cos, sin, coef, rotation(*coef.unbind(-1), cos, sin)


def _gather(components: torch.Tensor, slots: PauliSlots) -> torch.Tensor:
    """``(batch, 4n)`` -> the Pauli strings' factors ``(batch, terms, weight)``.

    ``index_select`` on a flat index: several times faster on CPU than advanced indexing.
    """
    return components.index_select(1, slots.flat).view(components.shape[0], *slots.index.shape)


def _grad_factors(factors: torch.Tensor, grad: torch.Tensor, slots: PauliSlots) -> torch.Tensor:
    """The gradient of ``prod_j factors[:, :, j] @ table`` with respect to the factors ``(batch, slots)``.

    The leave-one-out products are two cumulative products: no division, exact at zeros.
    """
    batch, (terms, weight) = factors.shape[0], slots.index.shape
    grad_terms = slots.grad_terms(grad).unsqueeze(-1)  # (batch, terms, 1)
    if weight == 1:
        return grad_terms.view(batch, terms)
    if weight == 2:  # the common case (the qrkt and basic rings): each factor's partner
        return (grad_terms * factors.index_select(1, slots.partner).view(batch, terms, 2)).view(batch, -1)
    factors = factors.view(batch, terms, weight)
    ones = torch.ones_like(factors[..., :1])
    before = torch.cat([ones, factors[..., :-1].cumprod(-1)], dim=-1)
    after = torch.cat([factors[..., 1:].flip(-1).cumprod(-1).flip(-1), ones], dim=-1)
    return (grad_terms * before * after).view(batch, -1)
