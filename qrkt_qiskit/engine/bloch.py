"""The closed form: single-qubit gates on Bloch vectors, read out as Pauli products.

What remains of a circuit once its Clifford tail has moved into the observables acts on
each qubit alone, so the state stays a product and each qubit is a real Bloch vector
``b = (<X>, <Y>, <Z>)``, carried as ``[1, b]``. A single-qubit gate rotates it: ``rx``, ``ry``,
``rz`` and ``p`` by their angle about a fixed axis, ``u(θ, φ, λ)`` as ``rz(λ)``, ``ry(θ)``,
``rz(φ)``, and a bound gate by its constant rotation matrix; every rotation is
``A + cos θ B + sin θ C`` (`rotation` names the three parts). A Pauli string's expectation
is the product of one component per qubit it acts on (`pauli_products`). Everything is
real and ``O(batch · n)``, at any width.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp

from .lowering import Angle, Op, with_zero_slot
from .pauli_products import PauliSlots, lazy_pauli_products, pauli_products
from .ptm import gate_ptm
from .rotation import AXES, rotation, rotation_parts
from .tracing import is_tracing

__all__ = ["BlochCircuit"]

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
    """A product-state circuit and its Pauli-sum observables, evaluated exactly in closed form.

    Args:
        ops: single-qubit operations only (what `clifford.absorb_clifford_tail` leaves).
        observables: Pauli sums, one per output, the Clifford tail already absorbed.
        n_qubits, n_inputs, n_weights: the circuit's width and how its angle slots split.
        dtype: ``torch.float32`` or ``torch.float64``; device: where the program runs.
    """

    def __init__(self, ops: list[Op], observables: Sequence[SparsePauliOp], *, n_qubits: int, n_inputs: int,
                 n_weights: int, dtype: torch.dtype, device: torch.device):
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
        self._slots = PauliSlots.of(observables, n_qubits, dtype, device)
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
        return lazy_pauli_products(theta, self._weight_terms(w), self._slots)

    def _weight_terms(self, w: torch.Tensor) -> torch.Tensor:
        """The terms ``(n, 4, 3)`` of a one-input-layer circuit, reused while ``w`` is unchanged.

        An ODE block runs each circuit once per Runge-Kutta stage with the same weights, so
        the weight-only work (most of a small circuit's cost) is done once per forward pass.
        The cache holds a copy of the weights and is used only while they are equal (whatever
        changed them: an optimiser step, ``load_state_dict``, an edit of ``.data``), and it is
        dropped as soon as a backward pass reaches it, since backward frees its graph.
        """
        if is_tracing():  # the cache compares values: traced tensors have none
            return _WeightTerms.apply(w, self._chain)[0]
        key = (torch.is_grad_enabled(), w.requires_grad)
        if self._cache is not None:
            owner, cached_key, values, terms = self._cache
            if owner() is w and cached_key == key and torch.equal(values, w):
                return terms
        terms = _WeightTerms.apply(w, self._chain)[0]
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
        return pauli_products(components, self._slots)

    def describe(self) -> str:
        """The plan in one line, for ``repr``."""
        return f"closed form on Bloch vectors: {len(self.layers)} rotation layer(s); {self._slots.describe()}"


def _rotations(op: Op) -> list[_Rotation]:
    q = op.qubits[0]
    if op.matrix is not None:
        return [_Rotation(q, matrix=gate_ptm(op.matrix))]
    return [_Rotation(q, AXES[op.name], op.angles[0])]  # `u` was split into rz ry rz (`lowering.split_u`)


def _reads_input(angle: Angle, n_inputs: int) -> bool:
    return angle.slot is not None and angle.slot < n_inputs


def _axis_matrices(layer: _Layer, theta: torch.Tensor) -> torch.Tensor:
    """The layer's rotations ``(k, 4, 4)`` by angles ``θ: (k,)``."""
    theta = theta[:, None, None]
    return rotation(layer.A, layer.B, layer.C, torch.cos(theta), torch.sin(theta))


def _split(r: torch.Tensor, layer: _Layer) -> list[torch.Tensor]:
    """The terms ``[A r, B r, C r]`` of states ``r (batch|·, n, 4)`` under a batched layer's rotations."""
    return [_rotate(part, r) for part in (layer.A, layer.B, layer.C)]


def _combine(terms: list[torch.Tensor], theta: torch.Tensor | None) -> torch.Tensor:
    """The state the terms stand for at angles ``θ: (batch, n)`` (no pending rotation: ``terms[0]``)."""
    if theta is None:
        return terms[0]
    theta = theta.unsqueeze(-1)
    return rotation(*terms, torch.cos(theta), torch.sin(theta))


def _rotate(m: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``m (n, 4, 4)``, one matrix per qubit, applied to states ``r (batch|·, n, 4)``."""
    return torch.einsum("nij,...nj->...ni", m, r)


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
    Returns the terms, then what the backward reads (the rotation matrices, their cosines and
    sines, every state after the first): outputs, so that ``torch.func`` can transform it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(w, chain):
        terms, states, m = chain.run(w)
        if len(states) == 1:  # no rotation: the terms are the constant start, and an output must be new
            terms = terms.clone()
        return (terms, *m, *states[1:-1])

    @staticmethod
    def setup_context(ctx, inputs, output):
        w, ctx.chain = inputs
        ctx.save_for_backward(w, *output)
        ctx.mark_non_differentiable(*output[1:])

    @staticmethod
    def backward(ctx, grad, *_):
        # The chain is s_{i+1} = M_i s_i, with the split S (linear, adjoint Sᵀ) once in it, so
        # reverse mode gives dL/dM_i = g_{i+1} s_iᵀ and g_i = M_iᵀ g_{i+1}. From
        # M_i = A + cos θ B + sin θ C, dL/dθ = cos θ <dL/dM, C> − sin θ <dL/dM, B> (Frobenius
        # products); θ = w[index] · scale + offset adds scale · dL/dθ to its weight's slot.
        chain = ctx.chain
        w, terms, matrices, cos, sin, *states = ctx.saved_tensors
        states = [chain.start, *states, terms]  # as `_Chain.run` returned them (without rotations: unused)
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
        grad_w = w.new_zeros(len(w) + 1).index_add(0, chain.index, d_theta.flatten())
        return grad_w[:-1], None
