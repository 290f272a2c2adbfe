"""The text transformer for sentiment, classical or quantum, with ODE blocks and a padding mask.

Configured by one frozen `TextConfig`; the thesis' IMDb configurations are `TEXT_PRESETS`.
Padding (id ``pad_id``) changes nothing: no token attends to it and the pooling skips it, so a
review gives the same logits padded to any length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..catalog import TEXT_PRESET_NAMES
from .blocks import check_arch, check_block, from_preset, make_blocks
from .inputs import check_ids, masked_mean
from .quantum import QuantumSpec
from .thesis import ThesisText

__all__ = ["TEXT_PRESETS", "TextConfig", "TextTransformer", "text_config", "text_model"]


@dataclass(frozen=True)
class TextConfig:
    """A text transformer. ``quantum=None`` is the classical model."""

    vocab_size: int = 20_000  # the tokenizer's; the thesis' IMDb vocabulary is ~20k WordPieces
    max_length: int = 512  # positions with a learned embedding: the longest sequence it reads
    n_classes: int = 2
    dim: int = 12
    heads: int = 6
    mlp_dim: int = 6
    blocks: int = 1
    ode: str = "rk4_enh"  # a Runge-Kutta method, or "none" for plain pre-norm layers
    norm: str = "pre"
    dropout: float = 0.0
    pad_id: int = 0
    quantum: QuantumSpec | None = None
    arch: str = "shared"  # "shared": this package's model; "thesis": the author's (`thesis.ThesisText`)
    encoders: int = 0  # thesis arch: plain encoder layers before the Runge-Kutta blocks
    decoders: int = 1  # thesis arch: decoder blocks on the target stream

    def __post_init__(self):
        object.__setattr__(self, "quantum", QuantumSpec.read(self.quantum))
        check_block(self.ode, self.norm)
        if self.heads < 1 or self.dim % self.heads:
            raise ValueError(f"dim={self.dim} must be a positive multiple of heads={self.heads}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} is not a token id of a vocabulary of {self.vocab_size}")
        check_arch(self)


# The thesis' IMDb models (chapter 5.3): the classical RK4_ENH baseline and its quantum twin,
# which the thesis trained smaller (hidden 6, 2 heads, a 4-qubit QMLP); one block each.
TEXT_PRESETS = {
    "imdb": TextConfig(dim=12, heads=6, mlp_dim=6, blocks=1),
    "imdb-quantum": TextConfig(dim=6, heads=2, mlp_dim=4, blocks=1),
}
assert tuple(TEXT_PRESETS) == TEXT_PRESET_NAMES, "qrkt_qiskit.catalog lists the text presets"


def text_config(preset: str, *, quantum: QuantumSpec | None = None, **overrides) -> TextConfig:
    """A preset of `TEXT_PRESETS` by name, made quantum or classical, with any field overridden."""
    return from_preset(TEXT_PRESETS, preset, quantum=quantum, **overrides)


def text_model(config: TextConfig) -> nn.Module:
    """The model of ``config``: a `TextTransformer`, or for ``arch="thesis"`` a `thesis.ThesisText`."""
    return ThesisText(config) if config.arch == "thesis" else TextTransformer(config)


class TextTransformer(nn.Module):
    """Token ids ``(B, T)`` (``T <= max_length``, right-padded with ``pad_id``) to class logits ``(B, n_classes)``."""

    def __init__(self, config: TextConfig):
        super().__init__()
        self.config = c = config
        self.token_embedding = nn.Embedding(c.vocab_size, c.dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, c.max_length, c.dim) * 0.02)
        self.dropout = nn.Dropout(c.dropout)
        self.blocks = make_blocks(c)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` of token ids ``(B, T)``; ``pad_id`` positions are masked out."""
        c = self.config
        check_ids(ids, c)
        padding = ids == c.pad_id  # (B, T): True at padding
        x = self.dropout(self.token_embedding(ids) + self.pos_embedding[:, : ids.shape[1]])  # (B, T, dim)
        for block in self.blocks:
            x = block(x, padding)
        return self.head(masked_mean(self.norm(x), padding))
