"""The vision transformer classifier, classical or quantum, with ODE blocks.

Configured by one frozen `ViTConfig`; the thesis' configurations are `VIT_PRESETS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..catalog import VIT_PRESET_NAMES
from .blocks import check_arch, check_block, from_preset, make_blocks
from .inputs import patchify
from .quantum import QuantumSpec
from .thesis import ThesisViT

__all__ = ["VIT_PRESETS", "ViTConfig", "VisionTransformer", "vision_model", "vit_config"]

POOLS = ("cls", "mean")


@dataclass(frozen=True)
class ViTConfig:
    """A vision transformer. ``quantum=None`` is the classical twin of the same architecture."""

    image_size: int = 28
    channels: int = 1
    patch_size: int = 14
    n_classes: int = 10
    dim: int = 6  # the thesis' "hidden size": also the width of each Q/K/V/output circuit
    heads: int = 2
    mlp_dim: int = 3  # the thesis' "hidden (Q)MLP size": the width of the MLP's circuit
    blocks: int = 3
    ode: str = "rk4_enh"  # a Runge-Kutta method, or "none" for plain pre-norm layers
    norm: str = "pre"
    pool: str = "cls"
    dropout: float = 0.0
    quantum: QuantumSpec | None = None
    arch: str = "shared"  # "shared": this package's model; "thesis": the author's (`thesis.ThesisViT`)
    encoders: int = 0  # thesis arch: plain encoder layers before the Runge-Kutta blocks
    decoders: int = 1  # thesis arch: decoder blocks on the target stream

    def __post_init__(self):
        object.__setattr__(self, "quantum", QuantumSpec.read(self.quantum))
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}")
        check_block(self.ode, self.norm)
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}; choose one of: {', '.join(POOLS)}")
        if self.heads < 1 or self.dim % self.heads:
            raise ValueError(f"dim={self.dim} must be a positive multiple of heads={self.heads}")
        check_arch(self)

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


# The thesis' models (chapter 5): MNIST with 1 or 3 blocks, CIFAR-10 with 1; plus the same
# shape on scikit-learn's 8×8 digits (4 patches of 4×4, like MNIST's 4 patches of 14×14).
VIT_PRESETS = {
    "mnist": ViTConfig(image_size=28, channels=1, patch_size=14, dim=6, heads=2, mlp_dim=3, blocks=3),
    "mnist-1block": ViTConfig(image_size=28, channels=1, patch_size=14, dim=6, heads=2, mlp_dim=3, blocks=1),
    "cifar10": ViTConfig(image_size=32, channels=3, patch_size=16, dim=12, heads=6, mlp_dim=6, blocks=1),
    "digits": ViTConfig(image_size=8, channels=1, patch_size=4, dim=6, heads=2, mlp_dim=3, blocks=3),
    # For a device's budget (issue 37): one 8x8 patch and the CLS token, one block; with --ode rk1 an
    # image costs 10 circuit executions instead of the digits preset's 300 (docs/ibm.md, deployment plans).
    "digits-lean": ViTConfig(image_size=8, channels=1, patch_size=8, dim=6, heads=2, mlp_dim=3, blocks=1, ode="rk1"),
}
assert tuple(VIT_PRESETS) == VIT_PRESET_NAMES, "qrkt_qiskit.catalog lists the vision presets"


def vit_config(preset: str, *, quantum: QuantumSpec | None = None, **overrides) -> ViTConfig:
    """A preset of `VIT_PRESETS` by name, made quantum or classical, with any field overridden."""
    return from_preset(VIT_PRESETS, preset, quantum=quantum, **overrides)


def vision_model(config: ViTConfig) -> nn.Module:
    """The model of ``config``: a `VisionTransformer`, or for ``arch="thesis"`` a `thesis.ThesisViT`."""
    return ThesisViT(config) if config.arch == "thesis" else VisionTransformer(config)


class VisionTransformer(nn.Module):
    """Images ``(B, C, H, W)`` to class logits ``(B, n_classes)``."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = c = config
        self.to_patch_embedding = nn.Linear(c.channels * c.patch_size**2, c.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim)) if c.pool == "cls" else None
        self.pos_embedding = nn.Parameter(torch.randn(1, c.n_patches + (c.pool == "cls"), c.dim) * 0.02)
        self.dropout = nn.Dropout(c.dropout)
        self.blocks = make_blocks(c)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` of images ``(B, C, H, W)``."""
        x = self.to_patch_embedding(patchify(images, self.config))  # (B, N, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.dropout(x + self.pos_embedding)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(x[:, 0] if self.cls_token is not None else x.mean(dim=1))
