"""How the vision and text models read their input: images as patches, token ids and their padding.

Shared by the default models (`vit`, `text`) and the thesis author's (`thesis`), so each of
those imports from here and none from another.
"""

from __future__ import annotations

import torch

__all__ = ["check_ids", "masked_mean", "patchify"]


def patchify(images: torch.Tensor, c) -> torch.Tensor:
    """``(B, C, H, W) -> (B, n_patches, C·p·p)``, patches in row-major order, for a `ViTConfig` ``c``."""
    if images.dim() != 4 or tuple(images.shape[1:]) != (c.channels, c.image_size, c.image_size):
        raise ValueError(f"expected images of shape (B, {c.channels}, {c.image_size}, {c.image_size}), "
                         f"got {tuple(images.shape)}")
    b, p, g = images.shape[0], c.patch_size, c.image_size // c.patch_size
    x = images.reshape(b, c.channels, g, p, g, p).permute(0, 2, 4, 1, 3, 5)  # (B, g, g, C, p, p)
    return x.reshape(b, g * g, c.channels * p * p)


def check_ids(ids: torch.Tensor, c) -> None:
    """One sentence for token ids a text model of the `TextConfig` ``c`` cannot read."""
    if ids.dim() != 2 or ids.shape[1] > c.max_length:
        raise ValueError(f"expected token ids of shape (B, T) with T <= {c.max_length}, got {tuple(ids.shape)}")


def masked_mean(x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """``(B, T, dim)`` -> ``(B, dim)``: the mean over the tokens that are not padding."""
    x = x.masked_fill(padding.unsqueeze(-1), 0.0)
    return x.sum(dim=1) / (~padding).sum(dim=1, keepdim=True).clamp_min(1)
