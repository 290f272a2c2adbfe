"""TransGAN and QRKT-GAN: a transformer generator that upsamples tokens, and a ViT critic.

One frozen `GANConfig` (`qrkt_qiskit.gan_networks`, re-exported here) describes both networks;
``quantum=None`` is TransGAN (the classical baseline), a `QuantumSpec` with ``ode="rk4_enh"`` is
the thesis' QRKT-GAN (chapter 5.4). The critic is the package's `VisionTransformer` (patches,
CLS token, positional embedding, blocks, LayerNorm, a one-logit head on the CLS token): no
second ViT lives here. What a model costs (parameters, qubits) is reported by
`qrkt_qiskit.training.gan_report`, not here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..gan_networks import GAN_PRESETS, GANConfig, gan_config
from .blocks import make_block
from .vit import VisionTransformer
from .windowed import Windowed

__all__ = ["GAN_PRESETS", "GANConfig", "Generator", "UpConv", "discriminator", "gan_config", "transgan_init"]


class Generator(nn.Module):
    """Noise ``(B, latent_dim)`` to images ``(B, channels, image_size, image_size)`` in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = c = config
        self.to_tokens = nn.Linear(c.latent_dim, c.bottom**2 * c.dim)
        sides = c.sides
        self.pos_embeddings = nn.ParameterList(
            nn.Parameter(torch.randn(1, side * side, width) * 0.02) for side, width in zip(sides, c.widths))
        last = len(c.depths) - 1
        # One ODE block, the very last (the author's script: depth3 = 1); plain layers elsewhere.
        self.stages = nn.ModuleList(
            nn.ModuleList(self._block(width, side, ode=c.ode if (i, j) == (last, depth - 1) else "none")
                          for j in range(depth))
            for i, (depth, width, side) in enumerate(zip(c.depths, c.widths, sides)))
        self.to_image = (UpConv(c.widths[-1], c.channels) if c.decoder == "upconv"
                         else nn.Conv2d(c.widths[-1], c.channels, kernel_size=1))  # TransGAN's 1×1 "deconv"
        if c.init == "transgan":
            transgan_init(self)

    def _block(self, width: int, side: int, *, ode: str) -> nn.Module:
        c = self.config
        block = make_block(width, ode=ode, heads=c.heads, mlp_dim=c.mlp_ratio * width, quantum=c.quantum,
                           dropout=c.dropout)
        return block if c.window is None or side <= c.window else Windowed(block, side=side, window=c.window)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, channels, image_size, image_size)`` in [-1, 1] from noise ``z`` ``(B, latent_dim)``."""
        c = self.config
        if z.dim() != 2 or z.shape[1] != c.latent_dim:
            raise ValueError(f"expected noise of shape (B, {c.latent_dim}), got {tuple(z.shape)}")
        x = self.to_tokens(z).view(z.shape[0], c.bottom**2, c.dim)  # (B, 8·8, dim)
        for i, (stage, pos) in enumerate(zip(self.stages, self.pos_embeddings)):
            if i:
                x = _upsample(x)  # (B, 4T, C/4)
            x = x + pos
            for block in stage:
                x = block(x)
        image = self.to_image(_as_image(x))
        return torch.tanh(image) if c.output_tanh else image

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from standard normal noise (drawn by ``generator``, else torch's global RNG)."""
        p = self.to_tokens.weight
        z = torch.randn(n, self.config.latent_dim, generator=generator, device="cpu" if generator else p.device)
        return self(z.to(device=p.device, dtype=p.dtype))


class UpConv(nn.Sequential):
    """Odena et al.'s resize-convolution: nearest ×2, a 3×3 convolution to half the width, GELU, a 3×3 convolution
    to the image's channels. Every output pixel sees the same kind of neighbourhood, so it draws no checkerboard
    (PixelShuffle and strided transposed convolutions give each of a 2×2 block's pixels its own weights)."""

    def __init__(self, width: int, channels: int):
        hidden = max(1, width // 2)
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, hidden, 3, padding=1), nn.GELU(),
                         nn.Conv2d(hidden, channels, 3, padding=1))


def _as_image(x: torch.Tensor) -> torch.Tensor:
    """Tokens ``(B, H·W, C)`` in row-major order to a feature map ``(B, C, H, W)``."""
    b, t, c = x.shape
    side = math.isqrt(t)
    return x.transpose(1, 2).reshape(b, c, side, side)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """PixelShuffle(2) on tokens: ``(B, H·W, C) -> (B, 4·H·W, C/4)``."""
    y = F.pixel_shuffle(_as_image(x), 2)  # (B, C/4, 2H, 2W)
    return y.flatten(2).transpose(1, 2)


def discriminator(config: GANConfig) -> VisionTransformer:
    """The critic: images ``(B, channels, image_size, image_size)`` to scores ``(B, 1)``."""
    critic = VisionTransformer(config.critic_config())
    return transgan_init(critic) if config.init == "transgan" else critic


def transgan_init(module: nn.Module) -> nn.Module:
    """TransGAN's initialisation: every linear and convolution weight normal (std 0.02, cut at ±2 as timm's
    ``trunc_normal_``), biases zero.

    Positional embeddings and class tokens keep their own small normal start; quantum
    layers keep their angles.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
