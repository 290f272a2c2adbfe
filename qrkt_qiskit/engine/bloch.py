"""The closed form: single-qubit gates on Bloch vectors, Pauli strings as products.

What remains of a circuit once its Clifford tail has moved into the observables acts on
each qubit alone, so the state stays a product and each qubit is a real Bloch vector
``b = (<X>, <Y>, <Z>)``. A single-qubit gate rotates it: ``rx``, ``ry``, ``rz`` and ``p`` by
their angle about a fixed axis, ``u(θ, φ, λ)`` as ``rz(λ)``, ``ry(θ)``, ``rz(φ)``, and a bound
gate by its constant rotation matrix. A Pauli string's expectation is the product of one
component per qubit it acts on. Everything is real and ``O(batch · n)``, at any width.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from .lowering import Angle, Op

__all__ = ["BlochCircuit"]

_PAULIS = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
_AXES = {"rx": (1.0, 0.0, 0.0), "ry": (0.0, 1.0, 0.0), "rz": (0.0, 0.0, 1.0), "p": (0.0, 0.0, 1.0)}
_CODE = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}  # I X Y Z: [1, b]


@dataclass(frozen=True)
class _Rotation:
    """One rotation of one qubit: about ``axis`` by an angle, or by a constant ``matrix``."""

    qubit: int
    axis: tuple[float, float, float] | None = None
    angle: Angle | None = None
    matrix: np.ndarray | None = None  # (3, 3)


@dataclass
class _Layer:
    """Rotations at one depth: axis rotations ``(k, 3)`` by angles from one source, or constants."""

    qubits: torch.Tensor
    batched: bool
    axes: torch.Tensor | None = None  # batched layers: (n, 4) rows (0, a)
    index: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    offset: torch.Tensor | None = None
    matrix: torch.Tensor | None = None  # (k, 3, 3)
    along: torch.Tensor | None = None  # weight layers: a a^T, I - a a^T and [a]_x, each (k, 3, 3)
    across: torch.Tensor | None = None
    cross: torch.Tensor | None = None

    identity: bool = False  # the angles are the values themselves, in order (RY(x_j) on qubit j): no gather

    def angles(self, values: torch.Tensor) -> torch.Tensor:
        theta = values if self.identity else values[..., self.index]
        return theta if self.scale is None else theta * self.scale + self.offset


class BlochCircuit:
    """A product-state circuit and its Pauli-sum observables, evaluated in closed form."""

    def __init__(self, ops: list[Op], observables: Sequence[SparsePauliOp], n_qubits: int, n_inputs: int,
                 dtype: torch.dtype, device):
        self.n, self.n_inputs, self.dtype, self.device = n_qubits, n_inputs, dtype, device
        per_qubit: list[list[_Rotation]] = [[] for _ in range(n_qubits)]
        for op in ops:
            per_qubit[op.qubits[0]].extend(_rotations(op))
        self.layers = [layer for depth in range(max(map(len, per_qubit), default=0))
                       for layer in self._layers([r[depth] for r in per_qubit if depth < len(r)])]
        self.index, self.real_slots, self.table = _pauli_tables(observables, dtype, device)
        self.n_terms, self.max_weight = self.index.shape
        batched = [layer for layer in self.layers if layer.batched]
        self._input_layer = batched[0] if len(batched) == 1 else None
        self._slots = _Slots.build(self.index, self.table, self.real_slots, n_qubits)
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
                matrix = self._tensor(_embed(np.stack([r.matrix for r in rs])))
                layers.append(_Layer(qubits, False, matrix=matrix))
                continue
            shift = 0 if kind == "batched" else self.n_inputs  # batched layers index x, weight layers w
            index = [(-1 if r.angle.slot is None else r.angle.slot - shift) for r in rs]  # -1: the zero slot
            scale, offset = [r.angle.scale for r in rs], [r.angle.offset for r in rs]
            plain = all(a == 1 for a in scale) and not any(offset)
            layer = _Layer(qubits, kind == "batched", index=torch.tensor(index, device=self.device),
                           identity=kind == "batched" and index == list(range(self.n_inputs)),
                           scale=None if plain else self._tensor(scale), offset=None if plain else self._tensor(offset))
            if kind == "batched":
                axes = np.zeros((self.n, 4))  # per qubit (0, a): zero outside the layer, where θ = 0 too
                axes[[r.qubit for r in rs], 1:] = [r.axis for r in rs]
                layer.axes = self._tensor(axes)
            else:
                a = np.array([r.axis for r in rs])
                along = a[:, :, None] * a[:, None, :]
                cross = np.stack([np.cross(v, np.eye(3)).T for v in a])  # [a]_x v = a × v
                layer.along, layer.across, layer.cross = (self._tensor(_embed(m, keep=k == 0))
                                                          for k, m in enumerate((along, np.eye(3) - along, cross)))
            layers.append(layer)
        return layers

    def _tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=float), dtype=self.dtype, device=self.device)

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``.

        Each qubit is carried as ``[1, b]``. After one input-dependent layer it is
        ``terms[0] + cos θ terms[1] + sin θ terms[2]`` with unbatched terms, so the
        weight rotations that follow act on three ``(n, 4)`` tensors, not on the batch,
        and the batch is touched once, at the end.
        """
        layer = self._input_layer
        if layer is None:
            return self._general(x, w)
        theta = layer.angles(x)  # (batch, k)
        if len(layer.qubits) < self.n:
            theta = x.new_zeros(x.shape[0], self.n).index_copy(1, layer.qubits, theta)
        return _LazyPauliProducts.apply(theta, *self._weight_terms(w), self._slots)

    def _weight_terms(self, w: torch.Tensor) -> list[torch.Tensor]:
        """The three ``(n, 4)`` terms of a one-input-layer circuit, reused while ``w`` is unchanged.

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
        terms = self._general(w.new_zeros(1, self.n_inputs), w, terms_only=True)
        if torch.is_grad_enabled() and any(t.requires_grad for t in terms):
            for t in terms:
                t.register_hook(self._forget)
        self._cache = (weakref.ref(w), key, w.detach().clone(), terms)
        return terms

    def _forget(self, grad: torch.Tensor) -> None:
        self._cache = None

    def _general(self, x: torch.Tensor, w: torch.Tensor, *, terms_only: bool = False):
        """Every layer in order; with ``terms_only``, stop at the weight-only terms of the one input layer."""
        batch, n = x.shape[0], self.n
        values_w = torch.cat([w, w.new_zeros(1)])
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
                terms, theta = _rotation_terms(terms[0], layer.axes), angles
            else:  # a second input-dependent layer: rotate the materialised batch
                terms, theta = [_combine(_rotation_terms(_combine(terms, theta), layer.axes), angles)], None
        if pending is not None:
            terms = [_rotate(pending, t) for t in terms]
        if terms_only:
            return terms
        components = _combine(terms, theta).expand(batch, n, 4).reshape(batch, 4 * n)
        return _PauliProducts.apply(components, self.index, self.table, self.real_slots)

    def describe(self) -> str:
        return (f"closed form on Bloch vectors: {len(self.layers)} rotation layer(s); "
                f"{self.table.shape[1]} observable(s) as {self.n_terms} Pauli string(s) of weight <= {self.max_weight}")


def _rotations(op: Op) -> list[_Rotation]:
    q = op.qubits[0]
    if op.matrix is not None:
        u = op.matrix
        r = np.array([[0.5 * np.trace(si @ u @ sj @ u.conj().T).real for sj in _PAULIS] for si in _PAULIS])
        return [_Rotation(q, matrix=r)]
    if op.name == "u":  # U(θ, φ, λ) = RZ(φ) RY(θ) RZ(λ) up to a global phase
        theta, phi, lam = op.angles
        return [_Rotation(q, _AXES["rz"], lam), _Rotation(q, _AXES["ry"], theta), _Rotation(q, _AXES["rz"], phi)]
    return [_Rotation(q, _AXES[op.name], op.angles[0])]


def _reads_input(angle: Angle, n_inputs: int) -> bool:
    return angle.slot is not None and angle.slot < n_inputs


def _axis_matrices(layer: _Layer, theta: torch.Tensor) -> torch.Tensor:
    """Rotations ``(k, 4, 4)`` acting on ``[1, b]``: ``1 ⊕ (a a^T + cos θ (I - a a^T) + sin θ [a]_x)``."""
    theta = theta[:, None, None]
    return layer.along + torch.cos(theta) * layer.across + torch.sin(theta) * layer.cross


def _embed(r: np.ndarray, keep: bool = True) -> np.ndarray:
    """``(k, 3, 3)`` -> ``(k, 4, 4)`` acting on ``[1, b]``; ``keep`` sets the 1 that keeps the 1."""
    out = np.zeros(r.shape[:-2] + (4, 4))
    out[..., 1:, 1:] = r
    out[..., 0, 0] = 1.0 if keep else 0.0
    return out


def _rotation_terms(b: torch.Tensor, axes: torch.Tensor) -> list[torch.Tensor]:
    """Rodrigues on ``[1, b]``: the rotation by θ about ``a`` is ``keep + cos θ perp + sin θ across``."""
    keep = axes * (b * axes).sum(-1, keepdim=True)
    keep = torch.cat([b[..., :1], keep[..., 1:]], dim=-1)
    across = torch.linalg.cross(axes[..., 1:].expand_as(b[..., 1:]), b[..., 1:])
    return [keep, b - keep, torch.cat([torch.zeros_like(b[..., :1]), across], dim=-1)]


def _combine(terms: list[torch.Tensor], theta: torch.Tensor | None) -> torch.Tensor:
    if theta is None:
        return terms[0]
    theta = theta.unsqueeze(-1)
    return terms[0] + torch.cos(theta) * terms[1] + torch.sin(theta) * terms[2]


def _rotate(r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``r (n, 4, 4)`` applied to ``b (batch|·, n, 4)``."""
    return torch.einsum("nij,...nj->...ni", r, b)


def _pauli_tables(observables: Sequence[SparsePauliOp], dtype, device):
    """Each Pauli string's ``[1, b]`` components (flat indices, padded with an identity), the
    flat positions that are not padding, and a ``(terms, observables)`` table of
    coefficients with the strings' signs.

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
    index = np.zeros((len(rows), width), dtype=np.int64)  # padding reads slot 0: qubit 0's identity, 1
    for t, row in enumerate(rows):
        index[t, : len(row)] = row
    table = np.zeros((len(rows), len(observables)))
    for t, (o, c) in enumerate(coeffs):
        table[t, o] += c
    real = [t * width + j for t, row in enumerate(rows) for j in range(len(row))]
    return (torch.as_tensor(index, device=device), torch.as_tensor(real, dtype=torch.long, device=device),
            torch.as_tensor(table, dtype=dtype, device=device))


class _PauliProducts(torch.autograd.Function):
    """``out = prod_j c[:, index[:, j]] @ table`` with a hand-written backward.

    Autograd's version of gather, product and matmul costs a scatter-add and a
    zero-safe product rule; here the leave-one-out products are two cumulative
    products and the gradient is one ``index_add``.
    """

    @staticmethod
    def forward(components, index, table, real_slots):
        return _gather(components, index).prod(-1) @ table

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        components, index, table, real_slots = ctx.saved_tensors
        return _grad_components(components, grad, index, table, real_slots), None, None, None


class _LazyPauliProducts(torch.autograd.Function):
    """`_PauliProducts` of ``components = a + cos θ u + sin θ v`` (one input layer, lazily kept).

    ``θ: (batch, n)``; ``a``, ``u``, ``v``: ``(n, 4)``, functions of the weights only. Every
    factor of every Pauli string is ``a[s] + cos θ_q u[s] + sin θ_q v[s]`` for its slot ``s``
    on qubit ``q``: gathered per slot, ``O(batch · slots)`` at any width, and one autograd
    node for everything that touches the batch.
    """

    @staticmethod
    def forward(theta, a, u, v, slots):
        factors = _lazy_factors(theta, a, u, v, slots)[0]
        return factors.view(theta.shape[0], *slots.index.shape).prod(-1) @ slots.table

    @staticmethod
    def setup_context(ctx, inputs, output):
        theta, a, u, v, slots = inputs
        ctx.save_for_backward(theta, a, u, v)
        ctx.slots = slots

    @staticmethod
    def backward(ctx, grad):
        theta, a, u, v = ctx.saved_tensors
        slots = ctx.slots
        factors, cos, sin, u_s, v_s = _lazy_factors(theta, a, u, v, slots)  # recomputed, not kept
        g = _grad_factors(factors.view(theta.shape[0], *slots.index.shape), grad, slots.table).flatten(1)
        grad_theta = grad_a = grad_u = grad_v = None
        if ctx.needs_input_grad[0]:  # padding slots have u = v = 0: they add nothing
            g_theta = g * torch.addcmul(cos * v_s, sin, u_s, value=-1)
            grad_theta = torch.zeros_like(theta).index_add_(1, slots.qubit, g_theta)
        if ctx.needs_input_grad[1]:
            grad_a = slots.scatter(g.sum(0))
        if ctx.needs_input_grad[2]:
            grad_u = slots.scatter((g * cos).sum(0))
        if ctx.needs_input_grad[3]:
            grad_v = slots.scatter((g * sin).sum(0))
        return grad_theta, grad_a, grad_u, grad_v, None


@dataclass(frozen=True)
class _Slots:
    """Where each Pauli string's factors come from: flat ``[1, b]`` indices and their qubits."""

    index: torch.Tensor  # (terms, weight) into the flat (4n,) components
    table: torch.Tensor  # (terms, observables)
    flat: torch.Tensor  # (slots,)
    qubit: torch.Tensor  # (slots,): flat // 4
    sink: torch.Tensor  # (slots,): flat, but padding slots point past the end, where gradients are dropped
    n: int

    @classmethod
    def build(cls, index, table, real, n):
        flat = index.flatten()
        sink = torch.full_like(flat, 4 * n)
        sink[real] = flat[real]
        return cls(index, table, flat, flat // 4, sink, n)

    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """Sum per-slot values ``(slots,)`` of the real slots into ``(n, 4)``."""
        return values.new_zeros(4 * self.n + 1).index_add_(0, self.sink, values)[:-1].view(self.n, 4)


def _lazy_factors(theta, a, u, v, slots: _Slots):
    """The factors ``(batch, slots)``, with ``cos θ``, ``sin θ`` per slot and ``u``, ``v`` per slot."""
    cos = torch.cos(theta).index_select(1, slots.qubit)  # (batch, slots)
    sin = torch.sin(theta).index_select(1, slots.qubit)
    a_s, u_s, v_s = (t.flatten().index_select(0, slots.flat) for t in (a, u, v))
    return torch.addcmul(torch.addcmul(a_s, cos, u_s), sin, v_s), cos, sin, u_s, v_s


def _gather(components: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(batch, 4n)`` -> the Pauli strings' factors ``(batch, terms, weight)``.

    ``index_select`` on a flat index: several times faster on CPU than advanced indexing.
    """
    return components.index_select(1, index.flatten()).view(components.shape[0], *index.shape)


def _grad_factors(factors: torch.Tensor, grad: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The gradient of ``prod_j factors[:, :, j] @ table`` with respect to ``factors (batch, terms, weight)``.

    The leave-one-out products are two cumulative products: no division, exact at zeros.
    """
    grad_terms = (grad @ table.T).unsqueeze(-1)  # (batch, terms, 1)
    if factors.shape[-1] == 1:
        return grad_terms.expand_as(factors)
    if factors.shape[-1] == 2:  # the common case (the qrkt and basic rings): each factor's partner
        return grad_terms * factors.flip(-1)
    ones = torch.ones_like(factors[..., :1])
    before = torch.cat([ones, factors[..., :-1].cumprod(-1)], dim=-1)
    after = torch.cat([factors[..., 1:].flip(-1).cumprod(-1).flip(-1), ones], dim=-1)
    return grad_terms * before * after


def _grad_components(components, grad, index, table, real_slots) -> torch.Tensor:
    """The gradient of ``prod_j c[:, index[:, j]] @ table`` with respect to ``c (batch, 4n)``.

    The factors are gathered again rather than saved ((batch, terms, weight) of memory),
    and the gradient is one ``index_add`` over the slots that are not padding.
    """
    grad_factors = _grad_factors(_gather(components, index), grad, table)
    return torch.zeros_like(components).index_add_(1, index.flatten()[real_slots], grad_factors.flatten(1)[:, real_slots])
