"""The statevector path at run time: one `autograd.Function`, a forward sweep and its adjoint.

A program (`statevector.StatevectorCircuit` builds it) is a product-state *prefix*, then
*steps* on the ``(2^n, batch)`` state, then Pauli tables. Every parametric gate is
``G(φ) = A + cos φ · B + sin φ · C`` (`gates.gate_parts`), and ``cos``/``sin`` of every angle
are computed once per call, from two gathers: the angles that read inputs ``(batch, m)``
and those that read weights only ``(m,)``.

The reverse pass is the adjoint method (as lightning.qubit's): from the final state ``ψ``
and the co-state ``λ = dL/dψ`` it walks the steps backwards, un-applying each one to ``λ``
(and to ``ψ`` while an earlier step still needs it) with ``G†``; no state between the
steps is stored. A gate's angle gradient is read off at its output:

    dL/dφ = Re <λ| (dG/dφ) G† |ψ> = Re Σ_ac T[a, c] F[a, c],    T[a, c] = Σ conj(λ_a) ψ_c,

``T`` summed over everything but the gate's qubits (its *transition matrix*, one GEMM).
For every gate here ``G`` is ``exp(φ C)`` on the subspace ``B`` projects on and ``A`` off
it, so ``F = (dG/dφ) G† = C``, a constant (`gates.gate_parts`); a gate followed by others
``V`` on its qubits has ``F = V C V†``. ``T`` does not change under gates on other
qubits, so the gradients of the steps of a *stage* (steps on disjoint qubits) are all
taken at the stage's output. A weight-only block is one dense unitary ``U = M_s … M_1``
built per call; its ``T`` moves back through each part ``M`` as ``Mᵀ T conj(M)``.
Everything is plain torch, so under ``create_graph`` the backward recomputes the forward
from its inputs with autograd on and runs the same sweep, which autograd then
differentiates (a WGAN-GP critic's double backward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .state_ops import kron_matrices

__all__ = ["Angles", "Block", "Const", "Gate", "Layer", "Perm", "Prefix", "ProductState", "Segment", "SweepPlan",
           "Where", "gradients", "run"]


@dataclass(frozen=True)
class Angles:
    """Angles ``φ = x · x_map + w · w_map + offset`` of ``m`` gates (each reads one value, ``α`` folded in).

    The maps hold every angle twice, ``[φ, φ - π/2]``, so that one ``cos`` gives ``cos φ``
    and ``sin φ``: two GEMMs and one ``cos`` for all angles of a call.
    """

    x_map: torch.Tensor | None  # (n_inputs, 2m), None for angles that read weights only
    w_map: torch.Tensor  # (2m, n_weights)
    offset: torch.Tensor  # (2m,)
    x_grad: torch.Tensor | None  # (m, n_inputs): dφ/dx, the first half of x_map transposed
    w_grad: torch.Tensor  # (m, n_weights)

    def cos_sin(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[cos φ, sin φ]``: ``(batch, 2, m)`` from ``x (batch, n_inputs)`` and ``w``, or ``(2, m)`` from ``w``."""
        phi = torch.addmv(self.offset, self.w_map, w)
        if self.x_map is not None:
            phi = torch.addmm(phi, x, self.x_map)
        return torch.cos(phi).unflatten(-1, (2, -1))


class Where:
    """How a ``(..., 2^n, batch)`` state is viewed so that ascending ``qubits`` form one axis of size ``d``.

    The batch is the last axis, so that gathers of basis states copy whole rows. Consecutive
    qubits are a plain view ``(..., rows, d, low · batch)``; others are moved next to the
    batch, one copy each way.
    """

    def __init__(self, n: int, qubits: tuple[int, ...]):
        k = len(qubits)
        self.n, self.qubits, self.d = n, qubits, 2**k
        self.contiguous = qubits == tuple(range(qubits[0], qubits[0] + k))
        self.full = k == n  # every qubit, in order: the state itself is the view
        self.low = 2 ** qubits[0] if self.contiguous else 1
        self._axes = tuple(-(q + 2) for q in reversed(qubits))  # qubit q is axis -(q + 2) of (2,)*n + (batch,)
        self._last = tuple(range(-k - 1, -1))

    def view(self, state: torch.Tensor) -> torch.Tensor:
        """``(..., 2^n, batch)`` -> ``(..., rows, d, low · batch)``."""
        lead, batch = state.shape[:-2], state.shape[-1]
        if self.contiguous:
            return state.reshape(*lead, -1, self.d, self.low * batch)
        t = state.reshape(*lead, *(2,) * self.n, batch).movedim(self._axes, self._last)
        return t.reshape(*lead, -1, self.d, batch)

    def unview(self, v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        lead, batch = like.shape[:-2], like.shape[-1]
        if self.contiguous:
            return v.reshape(like.shape)
        t = v.reshape(*lead, *(2,) * (self.n - len(self.qubits)), *(2,) * len(self.qubits), batch)
        return t.movedim(self._last, self._axes).reshape(like.shape)

    def apply(self, u: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``u (d, d)`` applied to ``state (..., 2^n, batch)``."""
        return u @ state if self.full else self.unview(u @ self.view(state), state)

    def apply_per_sample(self, u: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``u (batch, d, d)``, one matrix per sample, applied to ``state (..., 2^n, batch)``."""
        v = self.view(state).unflatten(-1, (-1, state.shape[-1]))  # (..., rows, d, low, batch)
        out = (u.permute(1, 2, 0).unsqueeze(-2) * v.unsqueeze(-4)).sum(-3)  # Σ_c u[b, a, c] v[.., c, l, b]
        return self.unview(out, state)

    def transition(self, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """``T[a, c] = Σ conj(λ_a) ψ_c`` over everything but the qubits and the batch: ``(d, d)``."""
        if self.full:
            return _cmatmul(lam, psi, conj_a=True, t_b=True)
        lv, pv = self.view(lam), self.view(psi)  # (rows, d, low · batch)
        return _cmatmul(lv, pv, conj_a=True, t_b=True).sum(0)

    def transition_per_sample(self, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """``T`` of each sample: ``(batch, d, d)``."""
        batch = psi.shape[-1]
        lv, pv = (self.view(t).unflatten(-1, (-1, batch)) for t in (lam, psi))  # (rows, d, low, batch)
        lv, pv = (t.permute(3, 1, 0, 2).flatten(2) for t in (lv, pv))  # (batch, d, rows · low)
        return _cmatmul(lv, pv, conj_a=True, t_b=True)


def _cmatmul(a: torch.Tensor, b: torch.Tensor, conj_a: bool = False, conj_b: bool = False,
             t_a: bool = False, t_b: bool = False) -> torch.Tensor:
    """``a @ b``, either operand conjugated (``conj_*``) or transposed (``t_*``) first; four real matmuls when compiled.

    For the transition matrices and their propagation: torch.compile's inductor (torch 2.14,
    CPU) miscompiles complex matmuls of conjugated or transposed operands (it returned zeros
    for ``conj(λ) @ ψᵀ`` in a compiled model; eager and aot_eager do not), so the complex
    operands are only ever viewed as real as they are, and conjugation lives in the signs.
    """
    if not torch.compiler.is_compiling():  # eager: one complex GEMM, several times faster
        a, b = (a.conj() if conj_a else a), (b.conj() if conj_b else b)
        return (a.mT if t_a else a) @ (b.mT if t_b else b)
    (ar, ai), (br, bi) = (torch.view_as_real(t).unbind(-1) for t in (a, b))
    if t_a:
        ar, ai = ar.mT, ai.mT
    if t_b:
        br, bi = br.mT, bi.mT
    sa, sb = (-1.0 if conj_a else 1.0), (-1.0 if conj_b else 1.0)
    return torch.complex(ar @ br - (sa * sb) * (ai @ bi), sb * (ar @ bi) + sa * (ai @ br))


def _gates(parts, cos, sin) -> torch.Tensor:
    """``A + cos φ B + sin φ C`` from the real views of the parts ``(..., d, d, 2)`` and ``cos``, ``sin``
    shaped ``(..., 1, 1, 1)``: torch's complex-times-real broadcasts are several times slower."""
    A, B, C = parts
    return torch.view_as_complex(torch.addcmul(torch.addcmul(A, cos, B), sin, C))


def _real_views(*parts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(torch.view_as_real(t) for t in parts)


def _real_sum(a: torch.Tensor, b: torch.Tensor, dims: int) -> torch.Tensor:
    """``Re Σ a b`` over the last ``dims`` axes, in real arithmetic (see `_cmatmul`; tiny tensors)."""
    (ar, ai), (br, bi) = (torch.view_as_real(t).unbind(-1) for t in (a, b))
    return (ar * br - ai * bi).sum(tuple(range(-dims, 0)))


def _moved(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``F`` of each gate of chains ``g (L, ..., 2, 2)`` moved to the chain's end: ``V_j F_j V_j†``, ``V_j = g_L … g_{j+1}``."""
    after = [torch.eye(2, dtype=g.dtype, device=g.device).expand_as(g[0])]
    for depth in range(len(g) - 1, 0, -1):
        after.append(after[-1] @ g[depth])
    v = torch.stack(after[::-1])
    return _cmatmul(_cmatmul(v, f), v, conj_b=True, t_b=True)


@dataclass(frozen=True)
class ProductState:
    """The product of ``n`` qubit states, ``KRON_CHUNK`` qubits at a time, and its reverse pass.

    The qubit states come as ``f (2n, batch|1)``, entry ``2q + a``. Chunk ``c`` (the lowest
    qubits first) gathers each basis state's factors and multiplies them; outer products
    join the chunks, the lowest one the fastest index. Backwards, with ``g`` the co-state of
    a chunk's state ``ψ``, ``dL/dv_q[a] = Σ_s R_q[a, s] v_q[a ⊕ s]`` for
    ``R_q[a, s] = Σ_{i: i_q = a} g_i conj(ψ_{i ⊕ s 2^q})``, because ``|v_q| = 1`` (a unitary
    chain on ``|0>``): one gather of ``conj(ψ)`` (each basis state, and it with each bit
    flipped), one product with ``g`` and one matmul with a table of bits give every ``R_q``
    of the chunk.
    """

    index: tuple[torch.Tensor, ...]  # per chunk: (2^k, k) into f
    pairs: tuple[torch.Tensor, ...]  # per chunk: (k · 2^k · 2,), i ⊕ s 2^j at [j, i, s]
    bits: tuple[torch.Tensor, ...]  # per chunk: (k, 2, 2^k), [bit j of i = a]
    partners: tuple[torch.Tensor, ...]  # per chunk: (k · 2 · 2,) into f, 2q + (a ⊕ s) at [j, a, s] (q = j + the chunk's first)

    def __call__(self, f: torch.Tensor, tape: list) -> torch.Tensor:
        """``f (2n, batch|1)`` -> the state ``(2^n, batch|1)``; leaves the chunks' states on the tape."""
        batch = f.shape[-1]
        chunks = [f.index_select(0, index.view(-1)).view(*index.shape, batch).prod(1) for index in self.index]
        tape += chunks
        out = chunks[-1]
        for chunk in chunks[-2::-1]:
            out = (out.unsqueeze(1) * chunk.unsqueeze(0)).flatten(0, 1)
        return out

    def grad(self, f: torch.Tensor, lam: torch.Tensor, tape: list) -> torch.Tensor:
        """``dL/df (2n, batch)`` from ``λ = dL/d(state) (2^n, batch)``, reading the chunks `__call__` left on the tape."""
        chunks = [tape.pop() for _ in self.index][::-1]
        co, g = [], lam
        for c in range(len(chunks) - 1):  # back through the outer products: y[h, l] = high[h] · chunk_c[l]
            high = chunks[-1]
            for chunk in chunks[-2:c:-1]:
                high = (high.unsqueeze(1) * chunk.unsqueeze(0)).flatten(0, 1)
            y = g.reshape(-1, chunks[c].shape[0], g.shape[-1])
            co.append((y * high.conj().unsqueeze(1)).sum(0))
            g = (y * chunks[c].conj().unsqueeze(0)).sum(1)
        co.append(g)
        out = []
        for psi, g, pairs, bits, partners in zip(chunks, co, self.pairs, self.bits, self.partners):
            k, batch = bits.shape[0], g.shape[-1]
            x = psi.conj().index_select(0, pairs).view(k, -1, 2, psi.shape[-1]) * g.unsqueeze(1)  # (k, 2^k, 2, batch)
            r = (bits @ x.view(k, -1, 2 * batch)).view(k, 2, 2, batch)  # R_j[a, s]
            out.append((r * f.index_select(0, partners).view(k, 2, 2, -1)).sum(2).view(2 * k, batch))
        return out[0] if len(out) == 1 else torch.cat(out)


@dataclass(frozen=True)
class Layer:
    """Single-qubit gates of a block, a chain per qubit, as one kron product ``⊗_q G_q,L … G_q,1``.

    ``A, B, C: (L, k, 2, 2)``, depth-major; a qubit with a shorter chain is padded with the
    identity (``B = I``, angle 0). Its angles are the weights' ``[start, start + L·k)``.
    """

    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    start: int
    trace_index: torch.Tensor  # (k · 4 · 2^(k-1),): the partial traces of a (d, d) matrix onto each qubit

    def __post_init__(self):
        object.__setattr__(self, "parts", _real_views(self.A, self.B, self.C))

    def matrix(self, cos, sin, tape: list) -> torch.Tensor:
        L, k = self.A.shape[:2]
        span = slice(self.start, self.start + L * k)
        g = _gates(self.parts, cos[span].view(L, k, 1, 1, 1), sin[span].view(L, k, 1, 1, 1))  # (L, k, 2, 2)
        m = g[0]
        for depth in range(1, L):
            m = g[depth] @ m
        tape.append(g)
        return kron_matrices(m.unbind(0))

    def angle_grads(self, t: torch.Tensor, tape: list) -> torch.Tensor:
        """``dL/dφ (L·k,)`` from the transition matrix ``t (d, d)`` at the layer's output."""
        g = tape.pop()
        k = self.A.shape[1]
        tq = t.reshape(-1).index_select(0, self.trace_index).view(k, 2, 2, -1).sum(-1)  # (k, 2, 2)
        f = self.C if len(g) == 1 else _moved(self.C, g)
        return _real_sum(tq, f, 2).flatten()


@dataclass(frozen=True)
class Segment:
    """One multi-qubit parametric gate of a block, embedded in the block's ``d × d`` (weight angle ``start``)."""

    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    start: int

    def __post_init__(self):
        object.__setattr__(self, "parts", _real_views(self.A, self.B, self.C))

    def matrix(self, cos, sin, tape: list) -> torch.Tensor:
        return _gates(self.parts, cos[self.start], sin[self.start])

    def angle_grads(self, t: torch.Tensor, tape: list) -> torch.Tensor:
        return _real_sum(t, self.C, 2).reshape(1)


@dataclass(frozen=True)
class Block:
    """A weight-only run on ``where.qubits``: one unitary ``U = M_s … M_1 · start``, built per call.

    ``parts`` are `Layer`s, `Segment`s and constant ``(d, d)`` matrices in circuit order, the
    first one parametric (leading constants are ``start``, or ``None``). A ``start`` that only
    permutes and phases basis states (a CNOT ring) is ``(columns, phase)``: ``M_1 · start`` is
    then ``M_1``'s columns gathered, ``(M_1 start)[:, c] = M_1[:, columns[c]] · phase[c]``,
    instead of a ``d × d × d`` product.
    """

    where: Where
    start: torch.Tensor | tuple[torch.Tensor, torch.Tensor | None] | None
    parts: tuple

    def unitary(self, cos, sin, tape: list) -> torch.Tensor:
        """``U (d, d)``; each parametric part leaves what its gradient needs, then its matrix, on the tape."""
        u = self.start
        for part in self.parts:
            if isinstance(part, torch.Tensor):
                m = part
            else:
                m = part.matrix(cos, sin, tape)
                tape.append(m)
            if u is None:
                u = m
            elif isinstance(u, tuple):
                columns, phase = u
                u = m.index_select(1, columns)
                u = u if phase is None else u * phase
            else:
                u = m @ u
        return u

    def angle_grads(self, t: torch.Tensor, tape: list) -> list[tuple[int, torch.Tensor]]:
        """``(start, dL/dφ)`` of each parametric part, given the transition matrix ``t`` at ``U``'s output.

        ``t`` moves back through each part ``M`` as the states and co-states do under ``M†``:
        ``t ← Mᵀ t conj(M)``, two ``d × d`` products, whatever the batch.
        """
        grads = []
        for i in range(len(self.parts) - 1, -1, -1):
            part = self.parts[i]
            if isinstance(part, torch.Tensor):
                m = part
            else:
                m = tape.pop()
                grads.append((part.start, part.angle_grads(t, tape)))
            if i > 0:
                t = _cmatmul(_cmatmul(m, t, t_a=True), m, conj_b=True)
        return grads


@dataclass(frozen=True)
class Const:
    """A constant gate or block on ``where.qubits``."""

    where: Where
    matrix: torch.Tensor  # (d, d)
    inverse: torch.Tensor


@dataclass(frozen=True)
class Perm:
    """Constant gates that only permute and phase basis states: ``new[i] = phase[i] · old[source[i]]``."""

    source: torch.Tensor
    inverse: torch.Tensor
    phase: torch.Tensor | None  # (2^n, 1)
    back: torch.Tensor | None  # conj(phase)[inverse]


@dataclass(frozen=True)
class Gate:
    """A gate that reads an input after the prefix: one matrix per sample (batched angle ``column``)."""

    where: Where
    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    column: int

    def __post_init__(self):
        object.__setattr__(self, "parts", _real_views(self.A, self.B, self.C))


@dataclass(frozen=True)
class Prefix:
    """Single-qubit gates before each qubit's first multi-qubit gate: a product state.

    One gate per depth ``d`` and qubit, ``G_d = A_d + cos φ B_d + sin φ C_d`` (constant gates
    folded into a neighbour, the identity where a chain is shorter); its angles are
    ``[start, start + D·n)`` of the batched angles when ``batched``, else of the weight angles.
    Each qubit's state ``v (2,)`` complex is held as 4 reals, so every 2×2 product of a depth
    is one real GEMM with a block-diagonal table (complex broadcasts of tiny tensors cost
    several times more):

    * ``first (3, n, 4)``: ``A_1|0>, B_1|0>, C_1|0>``;
    * ``step (D - 1, 4n, 12n)``: ``v -> [A_d v, B_d v, C_d v]``, and ``back`` the same for
      ``A_d†, B_d†, C_d†`` (the reverse pass);
    * ``F (D·4n, D·4n)``: each gate's ``(dG/dφ) G†`` (`gates.gate_parts`), moved past trailing constants.
    """

    first: torch.Tensor
    step: torch.Tensor
    back: torch.Tensor
    F: torch.Tensor
    batched: bool
    start: int
    product: ProductState

    @property
    def depth(self) -> int:
        return self.F.shape[0] // self.first.shape[-2] // 4

    def states(self, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Each qubit's state after each depth, ``(batch, D, n, 4)``, from ``cos, sin (batch, D, n, 1)``."""
        P = self.first
        v = [torch.addcmul(torch.addcmul(P[0], cos[:, 0], P[1]), sin[:, 0], P[2])]  # (batch, n, 4)
        for d in range(1, cos.shape[1]):
            P = (v[-1].flatten(1) @ self.step[d - 1]).unflatten(1, (3, -1, 4))  # (batch, 3, n, 4)
            v.append(torch.addcmul(torch.addcmul(P[:, 0], cos[:, d], P[:, 1]), sin[:, d], P[:, 2]))
        return torch.stack(v, dim=1)

    def angle_grads(self, v: torch.Tensor, co: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """``dL/dφ (batch, D·n)`` from the states ``v`` and the co-state ``co (batch, n, 4)`` of the last depth.

        Back through each chain, ``co_{d-1} = G_d† co_d``; ``dL/dφ_d = Re <co_d| F_d |v_d>``.
        """
        cos_ = [co]
        for d in range(cos.shape[1] - 1, 0, -1):
            Q = (cos_[-1].flatten(1) @ self.back[d - 1]).unflatten(1, (3, -1, 4))
            cos_.append(torch.addcmul(torch.addcmul(Q[:, 0], cos[:, d], Q[:, 1]), sin[:, d], Q[:, 2]))
        co = torch.stack(cos_[::-1], dim=1).flatten(1) if len(cos_) > 1 else co.flatten(1)  # (batch, D·4n)
        return (co * (v.flatten(1) @ self.F)).unflatten(1, (-1, 4)).sum(-1)


@dataclass(frozen=True)
class SweepPlan:
    """Everything `run` needs; built once by `statevector.StatevectorCircuit`."""

    n: int
    n_inputs: int
    n_weights: int
    batched: Angles | None  # angles that read inputs (or share the prefix's grid with them): (batch, m)
    weights: Angles | None  # angles that read weights only: (m,)
    prefix: Prefix | None
    stages: tuple[tuple, ...]  # steps on disjoint qubits, in circuit order
    state_needed: tuple[bool, ...]  # per stage: whether an earlier stage has gradients, so ψ is un-applied too
    tables: object  # observables.PauliTables
    zero: torch.Tensor  # (2^n, 1): |0…0>, the state when there is no prefix


def run(program: SweepPlan, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x: (batch, n_inputs)``, ``w: (n_weights,)`` -> ``(batch, n_observables)``, one autograd node."""
    return _Statevector.apply(x, w, program)[0]


def _forward(p: SweepPlan, x: torch.Tensor, w: torch.Tensor):
    """The expectation values, the final state and the tape the reverse sweep reads (in push order)."""
    batch, tape = x.shape[0], []
    csb = None if p.batched is None else p.batched.cos_sin(x, w)  # (batch, 2, m): cos φ, sin φ
    csw = None if p.weights is None else p.weights.cos_sin(x, w)  # (2, m)
    tape += [t for t in (csb, csw) if t is not None]
    cb, sb = (None, None) if csb is None else csb.unbind(1)
    cw, sw = (None, None) if csw is None else csw.unbind(0)
    if p.prefix is None:
        psi = p.zero.expand(-1, batch)
    else:
        psi = _prefix_state(p.prefix, csb if p.prefix.batched else csw, tape).expand(-1, batch)
    for stage in p.stages:
        for step in stage:
            if isinstance(step, Perm):
                psi = psi.index_select(0, step.source)
                psi = psi if step.phase is None else psi * step.phase
            elif isinstance(step, Const):
                psi = step.where.apply(step.matrix, psi)
            elif isinstance(step, Block):
                u = step.unitary(cw, sw, tape)
                tape.append(u)
                psi = step.where.apply(u, psi)
            else:
                g = _gates(step.parts, cb[:, step.column, None, None, None], sb[:, step.column, None, None, None])
                tape.append(g)  # (batch, d, d)
                psi = step.where.apply_per_sample(g, psi)
    return p.tables(psi), psi, tape


def _prefix_angles(prefix: Prefix, cs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The prefix's ``cos φ, sin φ (batch|1, D, n, 1)`` from ``cos_sin``'s ``(batch, 2, m)`` or ``(2, m)``."""
    span = cs[..., prefix.start:prefix.start + prefix.F.shape[0] // 4]
    span = span if prefix.batched else span.unsqueeze(0)
    n = prefix.first.shape[-2]
    return span[:, 0].unflatten(-1, (-1, n, 1)), span[:, 1].unflatten(-1, (-1, n, 1))


def _prefix_state(prefix: Prefix, cs: torch.Tensor, tape: list) -> torch.Tensor:
    """The product state ``(2^n, batch|1)``; leaves each depth's qubit states and the chunks on the tape."""
    v = prefix.states(*_prefix_angles(prefix, cs))  # (batch|1, D, n, 4)
    tape.append(v)
    f = torch.view_as_complex(v[:, -1].unflatten(-1, (2, 2))).flatten(1)  # (batch|1, 2n)
    return prefix.product(f.T, tape)


def _prefix_grads(prefix: Prefix, cs: torch.Tensor, lam: torch.Tensor, tape: list) -> torch.Tensor:
    """``dL/dφ`` of the prefix's angles ``(batch|·, D·n)`` from the co-state ``λ (2^n, batch)`` of its product state."""
    v = tape[-1 - len(prefix.product.index)]  # (batch|1, D, n, 4)
    f = torch.view_as_complex(v[:, -1].unflatten(-1, (2, 2))).flatten(1)
    co = prefix.product.grad(f.T, lam, tape).T  # (batch, 2n)
    tape.pop()
    if not prefix.batched:
        co = co.sum(0, keepdim=True)
    grads = prefix.angle_grads(v, torch.view_as_real(co).flatten(1).unflatten(1, (-1, 4)), *_prefix_angles(prefix, cs))
    return grads if prefix.batched else grads[0]


def _unapply(step, s: torch.Tensor, matrix: torch.Tensor | None) -> torch.Tensor:
    """``step†`` applied to states ``(..., 2^n, batch)``; ``matrix`` is the step's per-call matrix."""
    if isinstance(step, Perm):
        s = s.index_select(-2, step.inverse)
        return s if step.back is None else s * step.back
    if isinstance(step, Const):
        return step.where.apply(step.inverse, s)
    if isinstance(step, Gate):
        return step.where.apply_per_sample(matrix.mH, s)
    return step.where.apply(matrix.mH, s)


def _backward(p: SweepPlan, psi: torch.Tensor, tape: list, grad: torch.Tensor):
    """``dL/dφ`` of the batched and of the weight angles (each a list of pieces in order), by the adjoint sweep."""
    lam = p.tables.costate(psi, grad)  # (2^n, batch)
    d_batched, d_weights = {}, {}
    for i in range(len(p.stages) - 1, -1, -1):
        stage, matrices = p.stages[i], []
        for step in reversed(stage):  # the stage's gradients at its output: its steps act on disjoint qubits
            m = None
            if isinstance(step, Block):
                m = tape.pop()
                d_weights.update(step.angle_grads(step.where.transition(lam, psi), tape))
            elif isinstance(step, Gate):
                m = tape.pop()
                t = step.where.transition_per_sample(lam, psi)  # (batch, d, d)
                d_batched[step.column] = _real_sum(t, step.C, 2).unsqueeze(-1)
            matrices.append(m)
        if p.state_needed[i]:  # an earlier stage reads ψ: un-apply it with λ, as one stacked tensor
            s = torch.stack([psi, lam])
            for step, m in zip(reversed(stage), matrices):
                s = _unapply(step, s, m)
            psi, lam = s[0], s[1]
        else:
            for step, m in zip(reversed(stage), matrices):
                lam = _unapply(step, lam, m)
    if p.prefix is not None:
        cs = tape[0] if p.prefix.batched else tape[int(p.batched is not None)]  # its cos_sin, first on the tape
        (d_batched if p.prefix.batched else d_weights)[p.prefix.start] = _prefix_grads(p.prefix, cs, lam, tape)
    return [d_batched[k] for k in sorted(d_batched)], [d_weights[k] for k in sorted(d_weights)]


def _input_grads(p: SweepPlan, d_batched: list, d_weights: list, x: torch.Tensor, w: torch.Tensor, x_needed: bool):
    """``dL/dx`` (None unless ``x_needed``) and ``dL/dw`` from the angles' gradients: one GEMM each."""
    gx = gw = None
    if d_batched:
        d = torch.cat(d_batched, dim=-1) if len(d_batched) > 1 else d_batched[0]  # (batch, m)
        gx = d @ p.batched.x_grad if x_needed else None
        gw = d.sum(0) @ p.batched.w_grad
    if d_weights:
        more = (torch.cat(d_weights) if len(d_weights) > 1 else d_weights[0]) @ p.weights.w_grad
        gw = more if gw is None else gw + more
    if gx is None and x_needed:
        gx = torch.zeros_like(x)
    return gx, (torch.zeros_like(w) if gw is None else gw)


class _Statevector(torch.autograd.Function):
    """The whole program as one node: `_forward`, and the adjoint sweep of `_backward` as its reverse pass."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, w, program):
        out, psi, tape = _forward(program, x, w)
        return (out, psi, *tape)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, program = inputs
        ctx.program = program
        ctx.mark_non_differentiable(*output[1:])  # the final state and the tape: saved, not differentiated
        ctx.set_materialize_grads(False)  # so their (absent) gradients are not zero tensors
        ctx.save_for_backward(x, w, *output[1:])

    @staticmethod
    def backward(ctx, grad, *_):
        if grad is None:  # no gradient reached the expectation values (grads are not materialized)
            return None, None, None
        x, w, psi, *tape = ctx.saved_tensors
        if torch.is_grad_enabled():  # a double backward: the same sweep, on a forward autograd records
            return (*gradients(ctx.program, x, w, grad, ctx.needs_input_grad[0]), None)
        gx, gw = _input_grads(ctx.program, *_backward(ctx.program, psi, list(tape), grad), x, w,
                              ctx.needs_input_grad[0])
        return gx, gw, None


def gradients(program: SweepPlan, x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor, x_needed: bool):
    """``dL/dx`` (None unless ``x_needed``) and ``dL/dw`` by a forward and the adjoint sweep, in plain torch.

    Under ``create_graph`` autograd records it, which is how a double backward (a WGAN-GP
    critic) differentiates the reverse pass.
    """
    _, psi, tape = _forward(program, x, w)
    return _input_grads(program, *_backward(program, psi, tape, grad), x, w, x_needed)
