"""Multi-head self-attention whose Q, K, V and output maps are classical or quantum."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .quantum import QuantumSpec, feature_map

__all__ = ["Attention"]


class Attention(nn.Module):
    """Multi-head self-attention ``(B, T, dim) -> (B, T, dim)``.

    Args:
        dim: token width.
        heads: attention heads; ``dim`` must be a multiple of it.
        quantum: ``None`` for ``nn.Linear`` maps, or how to build circuit maps (thesis: each of
            Q, K, V and the output map is a circuit as wide as ``dim``).
        dropout: dropout on the attention weights and the output.
    """

    def __init__(self, dim: int, heads: int, *, quantum: QuantumSpec | None = None, dropout: float = 0.0):
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"dim={dim} must be a positive multiple of heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.to_q, self.to_k, self.to_v, self.to_out = (feature_map(dim, dim, quantum) for _ in range(4))
        self.out_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``padding_mask`` ``(B, T)`` is True at padding tokens, which no token attends to."""
        b, t, d = x.shape
        q, k, v = (m(x).view(b, t, self.heads, d // self.heads).transpose(1, 2) for m in (self.to_q, self.to_k, self.to_v))
        mask = None if padding_mask is None else ~padding_mask[:, None, None, :]  # (B, 1, 1, T): True = attend
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out_dropout(self.to_out(y.transpose(1, 2).reshape(b, t, d)))  # (B, T, dim)
