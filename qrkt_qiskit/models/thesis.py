"""The thesis' classifiers exactly as its author's code builds them (``--arch thesis``), beside ours.

Read from Catalin-Ripanu/Bachelor_Thesis, ``quantum_models/quantum_transformer.py`` (commit
6cea1ad); docs/models.md lists what differs from the default architecture and why. In order:
a *source* and a *target* embedding (patches or tokens), each with its positional embedding
(no class token); optional plain encoder layers; the Runge-Kutta blocks, one LayerNorm at each
block's entry and every stage with its **own** attention and MLP; a LayerNorm on the source
stream; ``decoders`` decoder blocks on the target stream (self-attention, cross-attention to
the source, MLP); for images a LayerNorm; the mean over tokens; the head. These reproduce the
thesis' parameter and qubit counts (tests/models/test_thesis.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention
from .blocks import ODEBlock, TransformerLayer
from .inputs import check_ids, masked_mean, patchify
from .mlp import MLP
from .quantum import feature_map

__all__ = ["CrossAttention", "DecoderBlock", "ThesisText", "ThesisViT"]


class CrossAttention(nn.Module):
    """Target tokens attend to source tokens with no Q, K or V map, one head over all features, then an output map.

    The author's call passes q, k and v in, so neither projection branch runs; only the output
    map has weights (a circuit as wide as ``dim``, or a dense map). The author's code then
    reshapes the result in a way that mixes tokens and features; we keep the standard layout.
    """

    def __init__(self, dim: int, *, quantum=None, dropout: float = 0.0):
        super().__init__()
        self.to_out, self.dropout = feature_map(dim, dim, quantum), dropout

    def forward(self, target: torch.Tensor, source: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``padding_mask`` ``(B, T_source)`` is True at the source's padding tokens, which no target token attends to."""
        mask = None if padding_mask is None else ~padding_mask[:, None, :]  # (B, 1, T_source): True = attend
        y = F.scaled_dot_product_attention(target, source, source, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.to_out(y)


class DecoderBlock(nn.Module):
    """Pre-norm residuals: self-attention, cross-attention to the source, MLP."""

    def __init__(self, dim: int, *, heads: int, mlp_dim: int, quantum=None, dropout: float = 0.0):
        super().__init__()
        self.self_norm, self.cross_norm, self.mlp_norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, quantum=quantum, dropout=dropout)
        self.cross_attention = CrossAttention(dim, quantum=quantum, dropout=dropout)
        self.mlp = MLP(dim, mlp_dim, quantum=quantum, dropout=dropout)

    def forward(self, target: torch.Tensor, source: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``padding_mask`` ``(B, T)`` is True at padding tokens (both streams have the same tokens here)."""
        target = target + self.attention(self.self_norm(target), padding_mask)
        target = target + self.cross_attention(self.cross_norm(target), source, padding_mask)
        return target + self.mlp(self.mlp_norm(target))


class _ThesisBody(nn.Module):
    """What the author's image and text classifiers share: encoders and RK blocks on the source
    stream, its LayerNorm, decoders on the target stream, the head."""

    def _build(self, c) -> None:
        kw = dict(heads=c.heads, mlp_dim=c.mlp_dim, quantum=c.quantum, dropout=c.dropout)
        self.encoders = nn.ModuleList(TransformerLayer(c.dim, **kw) for _ in range(c.encoders))
        self.blocks = nn.ModuleList(ODEBlock(c.dim, method=c.ode, norm="entry", shared=False, **kw)
                                    for _ in range(c.blocks))
        self.source_norm = nn.LayerNorm(c.dim)
        self.decoders = nn.ModuleList(DecoderBlock(c.dim, **kw) for _ in range(c.decoders))
        self.head = nn.Linear(c.dim, c.n_classes)

    def _streams(self, source: torch.Tensor, target: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """The target stream after the decoders, from both embedded streams."""
        for layer in (*self.encoders, *self.blocks):
            source = layer(source, padding)
        source = self.source_norm(source)
        for decoder in self.decoders:
            target = decoder(target, source, padding)
        return target


class ThesisViT(_ThesisBody):
    """Images ``(B, C, H, W)`` to logits ``(B, n_classes)``, built as the thesis author's classifier (a `ViTConfig`)."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        width = c.channels * c.patch_size**2
        self.source_embedding, self.target_embedding = nn.Linear(width, c.dim), nn.Linear(width, c.dim)
        self.source_position = nn.Parameter(torch.randn(1, c.n_patches, c.dim) * 0.02)
        self.target_position = nn.Parameter(torch.randn(1, c.n_patches, c.dim) * 0.02)
        self._build(c)
        self.norm = nn.LayerNorm(c.dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` of images ``(B, C, H, W)``."""
        patches = patchify(images, self.config)  # (B, N, C·p·p)
        target = self._streams(self.source_embedding(patches) + self.source_position,
                               self.target_embedding(patches) + self.target_position)
        return self.head(self.norm(target).mean(dim=1))


class ThesisText(_ThesisBody):
    """Token ids ``(B, T)`` to logits ``(B, n_classes)``, built as the thesis author's text classifier (a `TextConfig`).

    As its image classifier, with token embeddings, no LayerNorm before the pooling, and the
    mean over real tokens only (padding changes nothing). One departure: the author's text
    code hands the *source* stream to every decoder, so its target embedding is never read and
    only its last decoder counts; here the decoders run on the target stream, as in its image
    classifier. The parameters are the same.
    """

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.source_embedding, self.target_embedding = nn.Embedding(c.vocab_size, c.dim), nn.Embedding(c.vocab_size, c.dim)
        self.source_position = nn.Parameter(torch.randn(1, c.max_length, c.dim) * 0.02)
        self.target_position = nn.Parameter(torch.randn(1, c.max_length, c.dim) * 0.02)
        self._build(c)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` of token ids ``(B, T)``; ``pad_id`` positions are masked out."""
        c = self.config
        check_ids(ids, c)
        padding = ids == c.pad_id
        t = ids.shape[1]
        target = self._streams(self.source_embedding(ids) + self.source_position[:, :t],
                               self.target_embedding(ids) + self.target_position[:, :t], padding)
        return self.head(masked_mean(target, padding))
