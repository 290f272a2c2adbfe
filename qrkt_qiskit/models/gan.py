"""TransGAN and QRKT-GAN: a transformer generator that upsamples tokens, and a ViT critic.

One frozen `GANConfig` describes both networks; ``quantum=None`` is TransGAN (the classical
baseline), a `QuantumSpec` with ``ode="rk4_enh"`` is the thesis' QRKT-GAN (chapter 5.4).
The critic is the package's `VisionTransformer` (patches, CLS token, positional embedding,
blocks, LayerNorm, a one-logit head on the CLS token): no second ViT lives here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import check_block, make_block
from .quantum import QuantumSpec
from .vit import ViTConfig, VisionTransformer
from .windowed import Windowed

__all__ = ["GAN_PRESETS", "GANConfig", "Generator", "discriminator", "gan_config", "gan_summary", "transgan_init"]


@dataclass(frozen=True)
class GANConfig:
    """A generator and its critic.

    The generator maps ``latent_dim`` noise to ``bottom × bottom`` tokens of width ``dim``;
    each later stage doubles the side with PixelShuffle(2), which divides the width by 4, so
    the stages' widths are ``dim, dim/4, dim/16, …`` and ``image_size = bottom · 2^(stages-1)``.
    """

    image_size: int = 32
    channels: int = 1
    latent_dim: int = 1024
    bottom: int = 8  # TransGAN's 8×8 starting grid
    dim: int = 384
    depths: tuple[int, ...] = (5, 4, 2)  # transformer blocks per generator stage
    heads: int = 4
    mlp_ratio: int = 4  # MLP hidden width = mlp_ratio × the stage's token width
    dropout: float = 0.5  # the generator's (the thesis' setting)
    ode: str = "none"  # the last generator stage's blocks: a Runge-Kutta method, or "none"
    d_dim: int = 384
    d_depth: int = 7  # not stated by the thesis: the TransGAN re-implementations' default
    d_patch: int = 4
    d_dropout: float = 0.0
    quantum: QuantumSpec | None = None
    window: int | None = None  # stages wider than this run windowed attention (`Windowed`); None: full attention
    output_tanh: bool = True  # tanh on the generated image (TransGAN has none)
    init: str = "torch"  # "torch": PyTorch's defaults; "transgan": truncated normal (std 0.02) weights, zero biases

    def __post_init__(self):
        object.__setattr__(self, "quantum", QuantumSpec.read(self.quantum))
        object.__setattr__(self, "depths", tuple(self.depths))
        stages = len(self.depths)
        if stages < 1 or min(self.depths) < 1:
            raise ValueError(f"depths must be one or more positive block counts, got {self.depths!r}")
        if self.image_size != self.bottom * 2 ** (stages - 1):
            raise ValueError(f"image_size={self.image_size} must be bottom·2^(stages-1) = "
                             f"{self.bottom}·2^{stages - 1} = {self.bottom * 2 ** (stages - 1)}")
        if self.dim % (4 ** (stages - 1) * self.heads):
            raise ValueError(f"dim={self.dim} must be a multiple of 4^(stages-1)·heads = {4 ** (stages - 1) * self.heads}, "
                             "so that every PixelShuffle stage keeps a whole number of channels per head")
        check_block(self.ode)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.image_size % self.d_patch:
            raise ValueError(f"image_size={self.image_size} is not a multiple of d_patch={self.d_patch}")
        if self.d_dim % self.heads:
            raise ValueError(f"d_dim={self.d_dim} must be a multiple of heads={self.heads}")
        if self.window is not None and (self.window < 1 or self.bottom % self.window and self.window % self.bottom):
            raise ValueError(f"window={self.window} must divide every stage's side ({self.bottom}·2^k) or be a "
                             "multiple of the first")
        if self.init not in INITS:
            raise ValueError(f"unknown GAN init {self.init!r}; choose one of: {', '.join(INITS)}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Token width of each generator stage."""
        return tuple(self.dim // 4**i for i in range(len(self.depths)))

    @property
    def kind(self) -> str:
        """``"QRKT-GAN"`` with quantum maps, else ``"TransGAN"`` (``+ <ode>`` for a classical ODE ablation)."""
        if self.quantum is not None:
            return "QRKT-GAN"
        return "TransGAN" if self.ode == "none" else f"TransGAN+{self.ode}"

    def critic_config(self) -> ViTConfig:
        """The critic as a `ViTConfig`: one logit from the CLS token, plain pre-norm layers."""
        return ViTConfig(image_size=self.image_size, channels=self.channels, patch_size=self.d_patch, n_classes=1,
                         dim=self.d_dim, heads=self.heads, mlp_dim=self.mlp_ratio * self.d_dim, blocks=self.d_depth,
                         ode="none", pool="cls", dropout=self.d_dropout, quantum=self.quantum)


INITS = ("torch", "transgan")

# thesis: the thesis' TransGAN settings (for a GPU); small: the first pair that trained on 2 CPU
# cores (widths 64/16/4, 4 heads of width 1 in the last stage; it draws strokes, not digits);
# cpu: capacity where the pixels are (widths 128/32/8, as asarigun's MNIST TransGAN) with 8×8
# windows in the 16×16 and 32×32 stages, TransGAN's init and no tanh; gpu: between cpu and thesis.
GAN_PRESETS = {
    "thesis": GANConfig(),
    "small": GANConfig(latent_dim=64, dim=64, depths=(1, 1, 1), mlp_ratio=2, dropout=0.0, d_dim=32, d_depth=1),
    "cpu": GANConfig(latent_dim=128, dim=128, depths=(2, 2, 1), heads=4, mlp_ratio=2, dropout=0.0, d_dim=96, d_depth=2,
                     d_patch=4, window=8, output_tanh=False, init="transgan"),
    "gpu": GANConfig(latent_dim=256, dim=256, depths=(4, 3, 2), heads=4, mlp_ratio=4, dropout=0.0, d_dim=192,
                     d_depth=4, d_patch=4, window=8, output_tanh=False, init="transgan"),
}


def gan_config(preset: str, *, quantum: QuantumSpec | None = None, **overrides) -> GANConfig:
    """A preset by name. With ``quantum`` it becomes QRKT-GAN: quantum maps and an ``rk4_enh`` last stage.

    Raises:
        ValueError: for an unknown preset or an invalid override.
    """
    if preset not in GAN_PRESETS:
        raise ValueError(f"unknown GAN preset {preset!r}; choose one of: {', '.join(GAN_PRESETS)}")
    if quantum is not None:
        overrides.setdefault("ode", "rk4_enh")
    return dataclasses.replace(GAN_PRESETS[preset], quantum=quantum, **overrides)


class Generator(nn.Module):
    """Noise ``(B, latent_dim)`` to images ``(B, channels, image_size, image_size)`` in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = c = config
        self.to_tokens = nn.Linear(c.latent_dim, c.bottom**2 * c.dim)
        sides = [c.bottom * 2**i for i in range(len(c.depths))]
        self.pos_embeddings = nn.ParameterList(
            nn.Parameter(torch.randn(1, side * side, width) * 0.02) for side, width in zip(sides, c.widths))
        last = len(c.depths) - 1
        # One ODE block, the very last (the author's script: depth3 = 1); plain layers elsewhere.
        self.stages = nn.ModuleList(
            nn.ModuleList(self._block(width, side, ode=c.ode if (i, j) == (last, depth - 1) else "none")
                          for j in range(depth))
            for i, (depth, width, side) in enumerate(zip(c.depths, c.widths, sides)))
        self.to_image = nn.Conv2d(c.widths[-1], c.channels, kernel_size=1)  # TransGAN's 1×1 "deconv"
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


def gan_summary(config: GANConfig) -> dict:
    """Parameters of both networks and, for QRKT-GAN, the thesis-style qubit totals.

    The qubit total sums the circuit widths over every circuit run of one forward pass
    (`resource_report`), for the generator and for the critic.
    """
    from ..resources import resource_report

    g, d = Generator(config), discriminator(config)
    summary = {"kind": config.kind, "generator_parameters": sum(p.numel() for p in g.parameters()),
               "critic_parameters": sum(p.numel() for p in d.parameters())}
    if config.quantum is not None:
        g_report = resource_report(g, torch.zeros(1, config.latent_dim))
        d_report = resource_report(d, torch.zeros(1, config.channels, config.image_size, config.image_size))
        summary.update(generator_qubits=g_report.qubit_total, critic_qubits=d_report.qubit_total,
                       widest_circuit=max(g_report.widest_circuit, d_report.widest_circuit),
                       circuit_weights=g_report.quantum_weights + d_report.quantum_weights)
    return summary
