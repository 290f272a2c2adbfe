"""Windowed self-attention: a transformer block run on ``w × w`` windows of a token grid.

Full attention over a 32×32 grid is 1,024² scores per head, most of a TransGAN generator's
cost, and with bounded circuit outputs it averages almost uniformly (docs/gan.md). Every part
of a block but attention acts on each token alone, so running the *whole* block on each
window's tokens is windowed attention (Swin's, without the shift) and keeps the package's one
attention: cost linear in the pixels, nothing else changed.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Windowed"]


class Windowed(nn.Module):
    """``block`` on every ``window × window`` window of a ``side × side`` row-major token grid ``(B, side², C)``."""

    def __init__(self, block: nn.Module, *, side: int, window: int):
        super().__init__()
        if window < 1 or side % window:
            raise ValueError(f"the window ({window}) must divide the grid's side ({side})")
        self.block, self.side, self.window = block, side, window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        s, w, n = self.side, self.window, self.side // self.window
        if t != s * s:
            raise ValueError(f"expected {s}×{s} = {s * s} tokens, got {t}")
        # (B, n·w, n·w, C) -> (B·n·n, w·w, C): rows of windows, each row-major inside
        windows = x.view(b, n, w, n, w, c).transpose(2, 3).reshape(b * n * n, w * w, c)
        y = self.block(windows)
        return y.view(b, n, n, w, w, c).transpose(2, 3).reshape(b, t, c)

    def extra_repr(self) -> str:
        return f"side={self.side}, window={self.window}"
