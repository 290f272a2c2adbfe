"""Transformer blocks: the Runge-Kutta ODE block of the thesis and a plain pre-norm layer.

A transformer layer is one Euler step of ``dy/dt = F(y)``; the ODE block takes a higher-order
Runge-Kutta step instead, with one ``F`` (one set of weights) shared by every stage. Here
``F(y) = attention(LN(y)) + MLP(LN'(y))`` — attention and MLP in parallel (thesis §3.5.1).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..catalog import ARCHS, ODE_METHODS
from .attention import Attention
from .mlp import MLP
from .quantum import QuantumSpec

__all__ = ["ODE_METHODS", "ODEBlock", "TransformerLayer", "check_arch", "check_block", "make_block"]

# Butcher tableaux (a: stage inputs as multiples of earlier F's, b: the update's weights).
# rk4_enh is the thesis' "enhanced" RK4: every stage steps a full F from the last, and the
# update keeps the first and last (y + F1 + F4); not a textbook method, but what it trained.
_TABLEAUX = {
    "rk1": ((), (1.0,)),
    "rk2": (((1.0,),), (0.5, 0.5)),
    "rk3": (((0.5,), (0.0, 0.75)), (2 / 9, 3 / 9, 4 / 9)),
    "rk4": (((0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1 / 6, 2 / 6, 2 / 6, 1 / 6)),
    "rk4_enh": (((1.0,), (0.0, 1.0), (0.0, 0.0, 1.0)), (1.0, 0.0, 0.0, 1.0)),
}
assert tuple(_TABLEAUX) == ODE_METHODS, "qrkt_qiskit.catalog lists the ODE methods"
NORMS = ("pre", "entry")


class ODEBlock(nn.Module):
    """One Runge-Kutta step of ``F`` on tokens ``(B, T, dim) -> (B, T, dim)``.

    Args:
        dim: token width.
        heads: attention heads.
        mlp_dim: the MLP's hidden width.
        method: ``"rk1"``, ``"rk2"``, ``"rk3"``, ``"rk4"`` or ``"rk4_enh"``.
        norm: ``"pre"`` — ``F`` normalises its input before attention and before the MLP, each
            with its own LayerNorm; ``"entry"`` — the author's code: one LayerNorm at the block's
            entry, ``F`` has none, and the step starts from the normalised input.
        quantum: ``None`` for a classical block, else how its circuits are built.
        dropout: dropout inside attention and MLP.
        shared: one attention and one MLP for every stage (``F`` is one field, SPEC §1.5), or
            ``False``: each stage builds its own, as the thesis author's code does
            (``--arch thesis``); the LayerNorms stay shared.
    """

    def __init__(self, dim: int, *, heads: int, mlp_dim: int, method: str = "rk4_enh", norm: str = "pre",
                 quantum: QuantumSpec | None = None, dropout: float = 0.0, shared: bool = True):
        super().__init__()
        if method not in _TABLEAUX:
            raise ValueError(f"unknown ODE method {method!r}; choose one of: {', '.join(ODE_METHODS)}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")
        self.method, self.norm, self.shared = method, norm, shared
        self.a, self.b = _TABLEAUX[method]
        if shared:
            self.attention = Attention(dim, heads, quantum=quantum, dropout=dropout)
            self.mlp = MLP(dim, mlp_dim, quantum=quantum, dropout=dropout)
        else:
            self.attentions = nn.ModuleList(Attention(dim, heads, quantum=quantum, dropout=dropout)
                                            for _ in range(len(self.b)))
            self.mlps = nn.ModuleList(MLP(dim, mlp_dim, quantum=quantum, dropout=dropout) for _ in range(len(self.b)))
        inner = nn.LayerNorm if norm == "pre" else nn.Identity
        self.attention_norm, self.mlp_norm = inner(dim), inner(dim)
        self.entry_norm = nn.LayerNorm(dim) if norm == "entry" else nn.Identity()

    @property
    def stages(self) -> int:
        return len(self.b)

    def f(self, y: torch.Tensor, padding_mask: torch.Tensor | None = None, stage: int = 0) -> torch.Tensor:
        """The vector field ``F(y)``: one for every stage, or stage ``stage``'s own (``shared=False``)."""
        attention, mlp = (self.attention, self.mlp) if self.shared else (self.attentions[stage], self.mlps[stage])
        return attention(self.attention_norm(y), padding_mask) + mlp(self.mlp_norm(y))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """One Runge-Kutta step ``y + Σ b_i k_i`` from ``y = x`` (``norm="entry"``: its LayerNorm), ``k_i = F(stage input)``.

        ``padding_mask`` ``(B, T)`` is True at padding tokens, which attention ignores.
        """
        y = self.entry_norm(x)
        slopes = [self.f(y, padding_mask)]
        for stage, row in enumerate(self.a, start=1):
            slopes.append(self.f(y + sum(c * k for c, k in zip(row, slopes) if c), padding_mask, stage))
        return y + sum(c * k for c, k in zip(self.b, slopes) if c)

    def extra_repr(self) -> str:
        """What ``print(model)`` shows beside the class name."""
        return f"method={self.method!r}, norm={self.norm!r}, stages={self.stages}" + ("" if self.shared else ", shared=False")


class TransformerLayer(nn.Module):
    """A plain pre-norm transformer layer: ``x + attention(LN(x))``, then ``+ MLP(LN(·))``."""

    def __init__(self, dim: int, *, heads: int, mlp_dim: int, quantum: QuantumSpec | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.attention_norm, self.mlp_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, quantum=quantum, dropout=dropout)
        self.mlp = MLP(dim, mlp_dim, quantum=quantum, dropout=dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pre-norm residual pair ``x + attn(norm(x))``, then ``+ mlp(norm(·))``."""
        x = x + self.attention(self.attention_norm(x), padding_mask)
        return x + self.mlp(self.mlp_norm(x))


def check_block(ode: str, norm: str = "pre") -> None:
    """One sentence for a model config whose ``ode`` or ``norm`` `make_block` would not accept."""
    if ode not in ODE_METHODS + ("none",):
        raise ValueError(f"unknown ode {ode!r}; choose one of: {', '.join(ODE_METHODS + ('none',))}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")


def check_arch(c) -> None:
    """One sentence for a vision or text config whose ``arch``, ``ode``, ``encoders`` or ``decoders`` do not fit."""
    if c.arch not in ARCHS:
        raise ValueError(f"unknown arch {c.arch!r}; choose one of: {', '.join(ARCHS)}")
    if c.arch == "thesis" and (c.ode == "none" or c.encoders < 0 or c.decoders < 1):
        raise ValueError("the thesis arch needs a Runge-Kutta ode, encoders >= 0 and decoders >= 1")


def make_block(dim: int, *, ode: str, heads: int, mlp_dim: int, norm: str = "pre", quantum: QuantumSpec | None = None,
               dropout: float = 0.0) -> nn.Module:
    """An `ODEBlock` taking one ``ode`` step, or for ``ode="none"`` a plain `TransformerLayer`."""
    kw = dict(heads=heads, mlp_dim=mlp_dim, quantum=quantum, dropout=dropout)
    return TransformerLayer(dim, **kw) if ode == "none" else ODEBlock(dim, method=ode, norm=norm, **kw)


def make_blocks(config) -> nn.ModuleList:
    """The ``config.blocks`` blocks of a ViT or text config (its ``dim``, ``ode``, ``heads``, ``mlp_dim``, ``norm``,
    ``quantum`` and ``dropout``)."""
    c = config
    return nn.ModuleList(make_block(c.dim, ode=c.ode, heads=c.heads, mlp_dim=c.mlp_dim, norm=c.norm, quantum=c.quantum,
                                    dropout=c.dropout) for _ in range(c.blocks))


def from_preset(presets: dict, preset: str, *, quantum: QuantumSpec | None = None, **overrides):
    """Preset ``preset`` of ``presets``, made quantum or classical, with any field overridden.

    Raises:
        ValueError: for an unknown preset or an invalid override.
    """
    if preset not in presets:
        raise ValueError(f"unknown model {preset!r}; choose one of: {', '.join(presets)}")
    return dataclasses.replace(presets[preset], quantum=quantum, **overrides)
