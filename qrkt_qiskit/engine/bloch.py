"""The closed form: single-qubit gates on Bloch vectors, Pauli strings as products.

What remains of a circuit once its Clifford tail has moved into the observables acts on
each qubit alone, so the state stays a product and each qubit is a real Bloch vector
``b = (<X>, <Y>, <Z>)``, carried as ``[1, b]``. A single-qubit gate rotates it: ``rx``, ``ry``,
``rz`` and ``p`` by their angle about a fixed axis, ``u(θ, φ, λ)`` as ``rz(λ)``, ``ry(θ)``,
``rz(φ)``, and a bound gate by its constant rotation matrix; every rotation is
``A + cos θ B + sin θ C`` (`rotation` names the three parts). A Pauli string's expectation
is the product of one component per qubit it acts on. Everything is real and
``O(batch · n)``, at any width.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from .lowering import Angle, Op, with_zero_slot
from .rotation import AXES, rotation, rotation_parts

__all__ = ["BlochCircuit"]

DENSE_MAX_QUBITS = 16  # up to this width the batch part is two small matrix products (see _LazyPauliProducts)

_PAULIS = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
_CODE = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}  # I X Y Z: [1, b]


@dataclass(frozen=True)
class _Rotation:
    """One rotation of one qubit: about ``axis`` by an angle, or by a constant ``matrix``."""

    qubit: int
    axis: tuple[float, float, float] | None = None
    angle: Angle | None = None
    matrix: np.ndarray | None = None  # (4, 4), acting on [1, b]


@dataclass
class _Layer:
    """Rotations at one depth: about axes by angles from one source (inputs or weights), or constants."""

    qubits: torch.Tensor
    batched: bool
    index: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    offset: torch.Tensor | None = None
    matrix: torch.Tensor | None = None  # constants: (k, 4, 4)
    # Axis rotations: their parts, each (k, 4, 4); a batched layer's are (n, 4, 4), with a
    # zero axis on the qubits it leaves alone, where θ = 0 too.
    A: torch.Tensor | None = None
    B: torch.Tensor | None = None
    C: torch.Tensor | None = None

    identity: bool = False  # the angles are the values themselves, in order (RY(x_j) on qubit j): no gather

    def angles(self, values: torch.Tensor) -> torch.Tensor:
        theta = values if self.identity else values[..., self.index]
        return theta if self.scale is None else theta * self.scale + self.offset


class BlochCircuit:
    """A product-state circuit and its Pauli-sum observables, evaluated in closed form."""

    def __init__(self, ops: list[Op], observables: Sequence[SparsePauliOp], n_qubits: int, n_inputs: int,
                 n_weights: int, dtype: torch.dtype, device):
        self.n, self.n_inputs, self.n_weights, self.dtype, self.device = n_qubits, n_inputs, n_weights, dtype, device
        per_qubit: list[list[_Rotation]] = [[] for _ in range(n_qubits)]
        for op in ops:
            per_qubit[op.qubits[0]].extend(_rotations(op))
        self.layers = [layer for depth in range(max(map(len, per_qubit), default=0))
                       for layer in self._layers([r[depth] for r in per_qubit if depth < len(r)])]
        batched = [layer for layer in self.layers if layer.batched]
        self._input_layer = batched[0] if len(batched) == 1 else None
        self._chain = (_Chain.build(self.layers, self._input_layer, n_qubits, n_weights, self.dtype)
                       if self._input_layer else None)
        self._slots = _Slots.build(*_pauli_tables(observables, dtype, device), n_qubits)
        self._cache: tuple | None = None  # (weights' weakref, grad mode, their values, terms): _weight_terms

    def _layers(self, rotations: list[_Rotation]) -> list[_Layer]:
        kinds: dict[str, list[_Rotation]] = {}
        for r in rotations:
            kind = "const" if r.matrix is not None else "batched" if _reads_input(r.angle, self.n_inputs) else "weights"
            kinds.setdefault(kind, []).append(r)
        layers = []
        for kind, rs in kinds.items():
            qubits = torch.tensor([r.qubit for r in rs], device=self.device)
            if kind == "const":
                matrix = self._tensor(np.stack([r.matrix for r in rs]))
                layers.append(_Layer(qubits, False, matrix=matrix))
                continue
            shift = 0 if kind == "batched" else self.n_inputs  # batched layers index x, weight layers w
            index = [r.angle.source(self.n_inputs + self.n_weights) - shift for r in rs]
            scale, offset = [r.angle.scale for r in rs], [r.angle.offset for r in rs]
            plain = all(a == 1 for a in scale) and not any(offset)
            layer = _Layer(qubits, kind == "batched", index=torch.tensor(index, device=self.device),
                           identity=kind == "batched" and index == list(range(self.n_inputs)),
                           scale=None if plain else self._tensor(scale), offset=None if plain else self._tensor(offset))
            if kind == "batched":
                axes = np.zeros((self.n, 3))
                axes[[r.qubit for r in rs]] = [r.axis for r in rs]
            else:
                axes = np.array([r.axis for r in rs])
            layer.A, layer.B, layer.C = (self._tensor(part) for part in rotation_parts(axes))
            layers.append(layer)
        return layers

    def _tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=float), dtype=self.dtype, device=self.device)

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``.

        After one input-dependent layer a qubit is ``A r + cos θ B r + sin θ C r``, its terms
        ``(n, 4, 3)`` unbatched, so the weight rotations that follow act on those, not on the
        batch, and the batch is touched once, at the end.
        """
        layer = self._input_layer
        if layer is None:
            return self._general(x, w)
        theta = layer.angles(x)  # (batch, k)
        if len(layer.qubits) < self.n:
            theta = x.new_zeros(x.shape[0], self.n).index_copy(1, layer.qubits, theta)
        return _LazyPauliProducts.apply(theta, self._weight_terms(w), self._slots)

    def _weight_terms(self, w: torch.Tensor) -> torch.Tensor:
        """The terms ``(n, 4, 3)`` of a one-input-layer circuit, reused while ``w`` is unchanged.

        An ODE block runs each circuit once per Runge-Kutta stage with the same weights, so
        the weight-only work (most of a small circuit's cost) is done once per forward pass.
        The cache holds a copy of the weights and is used only while they are equal (whatever
        changed them: an optimiser step, ``load_state_dict``, an edit of ``.data``), and it is
        dropped as soon as a backward pass reaches it, since backward frees its graph.
        """
        key = (torch.is_grad_enabled(), w.requires_grad)
        if self._cache is not None:
            owner, cached_key, values, terms = self._cache
            if owner() is w and cached_key == key and torch.equal(values, w):
                return terms
        terms = _WeightTerms.apply(w, self._chain)
        if terms.requires_grad:
            terms.register_hook(self._forget)
        self._cache = (weakref.ref(w), key, w.detach().clone(), terms)
        return terms

    def _forget(self, grad: torch.Tensor) -> None:
        self._cache = None

    def _general(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Every layer in order, by autograd: circuits with several input-dependent layers."""
        batch, n = x.shape[0], self.n
        values_w = with_zero_slot(w)
        eye = torch.eye(4, dtype=self.dtype, device=self.device).expand(n, 4, 4)
        terms, theta = [eye[..., 0] + eye[..., 3]], None  # |0> on every qubit: [1, 0, 0, 1]
        pending = None  # weight and constant rotations not yet applied, (n, 4, 4)
        for layer in self.layers:
            if not layer.batched:
                r = layer.matrix if layer.matrix is not None else _axis_matrices(layer, layer.angles(values_w))
                full = r if len(layer.qubits) == n else eye.index_copy(0, layer.qubits, r)
                pending = full if pending is None else full @ pending
                continue
            if pending is not None:
                terms, pending = [_rotate(pending, t) for t in terms], None
            angles = layer.angles(x)  # (batch, k): a batched layer's angles all read inputs
            if len(layer.qubits) < n:
                angles = x.new_zeros(batch, n).index_copy(1, layer.qubits, angles)
            if theta is None and terms[0].dim() == 2:
                terms, theta = _split(terms[0], layer), angles
            else:  # a second input-dependent layer: rotate the materialised batch
                terms, theta = [_combine(_split(_combine(terms, theta), layer), angles)], None
        if pending is not None:
            terms = [_rotate(pending, t) for t in terms]
        components = _combine(terms, theta).expand(batch, n, 4).reshape(batch, 4 * n)
        return _PauliProducts.apply(components, self._slots)

    def describe(self) -> str:
        return (f"closed form on Bloch vectors: {len(self.layers)} rotation layer(s); "
                f"{self._slots.table.shape[1]} observable(s) as {self._slots.index.shape[0]} Pauli string(s) "
                f"of weight <= {self._slots.index.shape[1]}")


def _rotations(op: Op) -> list[_Rotation]:
    q = op.qubits[0]
    if op.matrix is not None:
        u = op.matrix
        r = np.eye(4)  # <I> stays 1
        r[1:, 1:] = [[0.5 * np.trace(si @ u @ sj @ u.conj().T).real for sj in _PAULIS] for si in _PAULIS]
        return [_Rotation(q, matrix=r)]
    if op.name == "u":  # U(θ, φ, λ) = RZ(φ) RY(θ) RZ(λ) up to a global phase
        theta, phi, lam = op.angles
        return [_Rotation(q, AXES["rz"], lam), _Rotation(q, AXES["ry"], theta), _Rotation(q, AXES["rz"], phi)]
    return [_Rotation(q, AXES[op.name], op.angles[0])]


def _reads_input(angle: Angle, n_inputs: int) -> bool:
    return angle.slot is not None and angle.slot < n_inputs


def _axis_matrices(layer: _Layer, theta: torch.Tensor) -> torch.Tensor:
    """The layer's rotations ``(k, 4, 4)`` by angles ``θ: (k,)``."""
    theta = theta[:, None, None]
    return rotation(layer.A, layer.B, layer.C, torch.cos(theta), torch.sin(theta))


def _split(b: torch.Tensor, layer: _Layer) -> list[torch.Tensor]:
    """The terms ``[A b, B b, C b]`` of ``b (batch|·, n, 4)`` under a batched layer's rotations."""
    return [_rotate(part, b) for part in (layer.A, layer.B, layer.C)]


def _combine(terms: list[torch.Tensor], theta: torch.Tensor | None) -> torch.Tensor:
    """The state the terms stand for at angles ``θ: (batch, n)`` (no pending rotation: ``terms[0]``)."""
    if theta is None:
        return terms[0]
    theta = theta.unsqueeze(-1)
    return rotation(*terms, torch.cos(theta), torch.sin(theta))


def _rotate(r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``r (n, 4, 4)`` applied to ``b (batch|·, n, 4)``."""
    return torch.einsum("nij,...nj->...ni", r, b)


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

    @staticmethod
    def forward(ctx, components, slots):
        ctx.save_for_backward(components)
        ctx.slots = slots
        return _gather(components, slots).prod(-1) @ slots.table

    @staticmethod
    def backward(ctx, grad):
        components, = ctx.saved_tensors
        slots = ctx.slots
        g = _grad_factors(_gather(components, slots).flatten(1), grad, slots)  # gathered again, not saved
        real = slots.real
        return torch.zeros_like(components).index_add_(1, slots.flat[real], g[:, real]), None


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

    @staticmethod
    def forward(ctx, theta, terms, slots):
        parts = _lazy_factors(theta, terms, slots)
        ctx.save_for_backward(theta, terms, *parts)
        ctx.slots = slots
        return parts[-1].view(theta.shape[0], *slots.index.shape).prod(-1) @ slots.table

    @staticmethod
    def backward(ctx, grad):
        theta, terms, *parts = ctx.saved_tensors
        slots = ctx.slots
        if torch.is_grad_enabled():  # a double backward: rebuild what it differentiates from the inputs
            parts = _lazy_factors(theta, terms, slots)
        g = _grad_factors(parts[-1], grad, slots)  # (batch, slots)
        n, grad_theta, grad_coef = slots.n, None, None
        if slots.dense:
            basis, coef, _ = parts  # (batch, 2n + 1), (2n + 1, slots)
            if ctx.needs_input_grad[0]:
                g_basis = g @ coef.T
                grad_theta = torch.addcmul(g_basis[:, n + 1:] * basis[:, 1:n + 1], g_basis[:, 1:n + 1], basis[:, n + 1:],
                                           value=-1)
            if ctx.needs_input_grad[1]:
                grad_coef = (basis.T @ g).flatten().index_select(0, slots.dense_at).view(-1, 3)
        else:
            cos, sin, coef, _ = parts  # (batch, slots) twice, (slots, 3)
            _, Br, Cr = coef.unbind(-1)
            if ctx.needs_input_grad[0]:  # padding slots have Br = Cr = 0: they add nothing
                slope = torch.addcmul(cos * Cr, sin, Br, value=-1)
                grad_theta = torch.zeros_like(theta).index_add_(1, slots.qubit, g * slope)
            if ctx.needs_input_grad[1]:
                grad_coef = torch.stack((g.sum(0), (g * cos).sum(0), (g * sin).sum(0)), -1)
        return grad_theta, None if grad_coef is None else slots.scatter(grad_coef), None


def _lazy_factors(theta, terms, slots: "_Slots"):
    """The factors ``(batch, slots)``, last, after what their backward needs (see `_LazyPauliProducts`)."""
    coef = terms.reshape(-1, 3).index_select(0, slots.flat)  # (slots, 3): Ar, Br, Cr per slot
    if slots.dense:
        basis = torch.cat([theta.new_ones(theta.shape[0], 1), torch.cos(theta), torch.sin(theta)], 1)
        n_basis = 2 * slots.n + 1
        coef = coef.new_zeros(n_basis * len(slots.flat)).index_add_(0, slots.dense_at, coef.flatten())
        coef = coef.view(n_basis, -1)
        return basis, coef, basis @ coef
    cos = torch.cos(theta).index_select(1, slots.qubit)
    sin = torch.sin(theta).index_select(1, slots.qubit)
    return cos, sin, coef, rotation(*coef.unbind(-1), cos, sin)


@dataclass(frozen=True)
class _Chain:
    """The weight-only part of a one-input-layer circuit as a chain of ``(n, 4, 4)`` rotations.

    Every layer but the input one is ``A + cos θ B + sin θ C`` on all qubits at once (a qubit
    the layer leaves alone: ``A = I``, ``B = C = 0``), with ``θ = values[index] · scale +
    offset`` from the weights. The ``pre`` layers before the input layer rotate ``|0>``;
    ``split`` turns that state ``r`` into the input layer's terms ``(A r, B r, C r)``, which
    the later layers rotate.
    """

    A: torch.Tensor  # (layers, n, 4, 4)
    B: torch.Tensor
    C: torch.Tensor
    index: torch.Tensor  # (layers · n,) into [w, 0]; constants and idle qubits read the zero slot
    scale: torch.Tensor | None  # (layers, n); None when every angle is a weight as it is
    offset: torch.Tensor | None
    pre: int
    split: torch.Tensor  # (n, 4·3, 4): the Bloch vector to the terms, row 3i + t for component i of term t
    start: torch.Tensor  # |0> on every qubit as (n, 4, 1), or already split (n, 4, 3) when pre = 0

    @classmethod
    def build(cls, layers: list[_Layer], input_layer: _Layer, n: int, n_weights: int, dtype) -> "_Chain":
        device = input_layer.A.device
        rest = [layer for layer in layers if layer is not input_layer]
        eye = torch.eye(4, dtype=dtype, device=device)
        A = eye.repeat(len(rest), n, 1, 1)
        B, C = torch.zeros_like(A), torch.zeros_like(A)
        index = torch.full((len(rest), n), n_weights, dtype=torch.long, device=device)
        scale, offset = torch.ones(len(rest), n, dtype=dtype, device=device), torch.zeros(len(rest), n, dtype=dtype, device=device)
        for i, layer in enumerate(rest):
            q = layer.qubits
            if layer.matrix is not None:
                A[i, q] = layer.matrix
                continue
            A[i, q], B[i, q], C[i, q] = layer.A, layer.B, layer.C
            index[i, q] = layer.index
            if layer.scale is not None:
                scale[i, q], offset[i, q] = layer.scale, layer.offset
        plain = bool((scale == 1).all() and (offset == 0).all())
        split = torch.stack([input_layer.A, input_layer.B, input_layer.C], dim=2).reshape(n, 12, 4)
        zero = (eye[0] + eye[3]).repeat(n, 1).unsqueeze(-1)  # (n, 4, 1): [1, 0, 0, 1]
        pre = next(i for i, layer in enumerate(layers) if layer is input_layer)
        start = (split @ zero).view(n, 4, 3) if pre == 0 else zero
        return cls(A, B, C, index.flatten(), None if plain else scale, None if plain else offset, pre, split, start)

    def matrices(self, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each layer's rotation ``(layers, n, 4, 4)``, with ``cos θ`` and ``sin θ`` ``(layers, n, 1, 1)``."""
        theta = with_zero_slot(w).index_select(0, self.index).view(self.A.shape[:2])
        if self.scale is not None:
            theta = theta * self.scale + self.offset
        cos, sin = torch.cos(theta)[..., None, None], torch.sin(theta)[..., None, None]
        return rotation(self.A, self.B, self.C, cos, sin), cos, sin

    def split_terms(self, b: torch.Tensor) -> torch.Tensor:
        """The Bloch vectors ``(n, 4, 1)`` before the input layer to its three terms ``(n, 4, 3)``."""
        return (self.split @ b).view(-1, 4, 3)

    def split_back(self, g: torch.Tensor) -> torch.Tensor:
        """The adjoint of `split_terms`."""
        return self.split.transpose(-1, -2) @ g.reshape(-1, 12, 1)

    def run(self, w: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """The terms ``(n, 4, 3)``, every state the chain went through, and `matrices`."""
        m = self.matrices(w)
        states = [self.start]
        for i in range(len(self.A)):
            if i == self.pre and i:
                states.append(self.split_terms(states[-1]))
            states.append(m[0][i] @ states[-1])
        if self.pre == len(self.A) and self.pre:
            states.append(self.split_terms(states[-1]))
        return states[-1], states, m


class _WeightTerms(torch.autograd.Function):
    """`_Chain.run` with a hand-written backward: reverse mode through the chain of rotations.

    Autograd would record ~30 tiny operations for a one-layer circuit and replay them in
    backward; here the forward is ~10 operations and the backward ~15, a few microseconds each.
    """

    @staticmethod
    def forward(ctx, w, chain):
        terms, states, m = chain.run(w)
        ctx.save_for_backward(w, *m, *states)
        ctx.chain = chain
        return terms

    @staticmethod
    def backward(ctx, grad):
        chain = ctx.chain
        w, matrices, cos, sin, *states = ctx.saved_tensors
        if torch.is_grad_enabled():  # a double backward: rebuild what it differentiates from w
            _, states, (matrices, cos, sin) = chain.run(w)
        grads = [None] * len(chain.A)
        g, k = grad, len(states) - 1
        if chain.pre == len(chain.A) and chain.pre:  # no layer after the input layer
            g, k = chain.split_back(g), k - 1
        for i in reversed(range(len(chain.A))):
            grads[i] = g @ states[k - 1].transpose(-1, -2)
            g, k = matrices[i].transpose(-1, -2) @ g, k - 1
            if i == chain.pre and i:  # back through the split into the Bloch vector before the input layer
                g, k = chain.split_back(g), k - 1
        d_matrices = torch.stack(grads) if grads else torch.zeros_like(chain.A)  # (layers, n, 4, 4)
        d_theta = ((d_matrices * chain.C).sum((-2, -1)) * cos[..., 0, 0]
                   - (d_matrices * chain.B).sum((-2, -1)) * sin[..., 0, 0])
        if chain.scale is not None:
            d_theta = d_theta * chain.scale
        grad_w = w.new_zeros(len(w) + 1).index_add_(0, chain.index, d_theta.flatten())
        return grad_w[:-1], None


@dataclass(frozen=True)
class _Slots:
    """Where each Pauli string's factors come from: flat ``[1, b]`` indices and their qubits."""

    index: torch.Tensor  # (terms, weight) into the flat (4n,) components
    table: torch.Tensor  # (terms, observables)
    flat: torch.Tensor  # (slots,)
    qubit: torch.Tensor  # (slots,): flat // 4
    real: torch.Tensor  # the slots that are not padding
    sink: torch.Tensor  # (slots,): flat, but padding slots point past the end, where gradients are dropped
    partner: torch.Tensor | None  # strings of weight 2: each slot's other slot
    dense_at: torch.Tensor | None  # narrow circuits: where slot s's Ar, Br, Cr sit in the flat (2n + 1, slots) matrix
    n: int

    @property
    def dense(self) -> bool:
        return self.dense_at is not None

    @classmethod
    def build(cls, index, table, real, n):
        flat = index.flatten()
        sink = torch.full_like(flat, 4 * n)
        sink[real] = flat[real]
        slots = torch.arange(len(flat), device=flat.device)
        partner = slots.view(index.shape).flip(-1).flatten() if index.shape[1] == 2 else None
        dense_at = None
        if n <= DENSE_MAX_QUBITS:  # rows 0, 1 + q and 1 + n + q of column s: Ar, Br and Cr of slot s on qubit q
            rows = torch.stack([torch.zeros_like(flat), 1 + flat // 4, 1 + n + flat // 4], -1)
            dense_at = (rows * len(flat) + slots[:, None]).flatten()
        return cls(index, table, flat, flat // 4, real, sink, partner, dense_at, n)

    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """Sum per-slot rows ``(slots, k)`` of the real slots into ``(n, 4, k)``."""
        out = values.new_zeros(4 * self.n + 1, values.shape[-1]).index_add_(0, self.sink, values)
        return out[:-1].view(self.n, 4, -1)


def _gather(components: torch.Tensor, slots: _Slots) -> torch.Tensor:
    """``(batch, 4n)`` -> the Pauli strings' factors ``(batch, terms, weight)``.

    ``index_select`` on a flat index: several times faster on CPU than advanced indexing.
    """
    return components.index_select(1, slots.flat).view(components.shape[0], *slots.index.shape)


def _grad_factors(factors: torch.Tensor, grad: torch.Tensor, slots: _Slots) -> torch.Tensor:
    """The gradient of ``prod_j factors[:, :, j] @ table`` with respect to the factors ``(batch, slots)``.

    The leave-one-out products are two cumulative products: no division, exact at zeros.
    """
    batch, (terms, weight) = factors.shape[0], slots.index.shape
    grad_terms = (grad @ slots.table.T).unsqueeze(-1)  # (batch, terms, 1)
    if weight == 1:
        return grad_terms.view(batch, terms)
    if weight == 2:  # the common case (the qrkt and basic rings): each factor's partner
        return (grad_terms * factors.index_select(1, slots.partner).view(batch, terms, 2)).view(batch, -1)
    factors = factors.view(batch, terms, weight)
    ones = torch.ones_like(factors[..., :1])
    before = torch.cat([ones, factors[..., :-1].cumprod(-1)], dim=-1)
    after = torch.cat([factors[..., 1:].flip(-1).cumprod(-1).flip(-1), ones], dim=-1)
    return (grad_terms * before * after).view(batch, -1)
