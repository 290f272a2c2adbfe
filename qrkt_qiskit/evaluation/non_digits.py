"""Synthetic images that are not digits: the reject class of the classifier score.

A classifier trained on digits alone calls anything a digit: its "confident ≥ 0.9" passed
14–24 % of GAN samples that were plainly 4×4-pixel blocks (issue 35). Trained with one more
class made of these images, it has somewhere else to put them. The four kinds are what a
failing generator draws: blocks (low-resolution noise enlarged), checkerboards (a PixelShuffle
texture, also over blocks), noise, and scattered random strokes (not one stroke, which is a 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["KINDS", "non_digits"]

KINDS = ("blocks", "checkerboard", "noise", "strokes")


def non_digits(n: int, *, size: int = 32, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """``n`` non-digit images ``(n, channels, size, size)`` in [-1, 1], the four `KINDS` in turn, drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    makers = (_blocks, _checkerboard, _noise, _strokes)
    images = [makers[i % len(makers)](size, g) for i in range(n)]
    x = torch.stack(images).unsqueeze(1) if images else torch.zeros(0, 1, size, size)
    return x.expand(-1, channels, -1, -1).clamp(-1, 1).contiguous()


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _choice(g: torch.Generator, options):
    return options[int(torch.randint(len(options), (), generator=g))]


def _background(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Most of them on a dark background, as digits are; some with its contrast scaled or shifted."""
    return image * _uniform(g, 0.5, 1.0) + _uniform(g, -0.3, 0.3)


def _blocks(size: int, g: torch.Generator) -> torch.Tensor:
    cell = _choice(g, (2, 4, 8))
    low = torch.rand(size // cell, size // cell, generator=g)
    low = torch.where(low > _uniform(g, 0.4, 0.9), low, torch.zeros(()))  # sparse bright blocks on the background
    image = F.interpolate(low[None, None], scale_factor=cell, mode="nearest")[0, 0]
    return _background(image * 2 - 1, g)


def _checkerboard(size: int, g: torch.Generator) -> torch.Tensor:
    period = _choice(g, (1, 2, 4))
    idx = torch.arange(size)
    board = (((idx[:, None] // period) + (idx[None, :] // period)) % 2).float()
    mask = _blocks(size, g) > -0.5 if float(torch.rand((), generator=g)) < 0.5 else torch.ones(size, size, dtype=torch.bool)
    image = torch.where(mask, board * _uniform(g, 0.5, 2.0), torch.zeros(()))
    return _background(image - 1, g)


def _noise(size: int, g: torch.Generator) -> torch.Tensor:
    if float(torch.rand((), generator=g)) < 0.5:
        image = torch.rand(size, size, generator=g) * 2 - 1
    else:
        image = torch.randn(size, size, generator=g) * _uniform(g, 0.3, 1.0) - _uniform(g, 0.0, 1.0)
    return image


def _strokes(size: int, g: torch.Generator) -> torch.Tensor:
    """3–7 straight or curved strokes anywhere in the frame, of random width: no digit's layout."""
    count = int(torch.randint(3, 8, (), generator=g))
    p0, p1, p2 = (torch.rand(3, count, 1, 2, generator=g) * size).unbind(0)  # quadratic Bézier curves
    t = torch.linspace(0, 1, 24).view(1, -1, 1)
    points = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2).view(count, -1, 1, 1, 2)  # (strokes, 24, 1, 1, 2)
    width = 0.8 + 1.4 * torch.rand(count, 1, 1, 1, generator=g)
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1).float()
    distance = (grid - points).norm(dim=-1).amin(dim=1)  # (strokes, size, size)
    image = torch.clamp(1.5 - distance / width[:, 0], 0, 1).amax(dim=0)
    return image * 2 - 1  # bright strokes on -1, as MNIST's digits
