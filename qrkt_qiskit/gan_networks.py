"""`GANConfig`: the shape of a GAN's generator and critic, and its presets, importing neither torch nor Qiskit.

It lives apart from the networks (`qrkt_qiskit.models.gan`) so that ``qrkt gan train`` can
build its parser and refuse a mistaken option before torch is imported (issue 36: that took
~6 s). `qrkt_qiskit.models.gan` builds the networks from it and re-exports these names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .catalog import ODE_METHODS

__all__ = ["DECODERS", "GAN_PRESETS", "GANConfig", "INITS", "gan_config"]

INITS = ("torch", "transgan")
# How the last token grid becomes pixels. conv1x1: TransGAN's 1×1 convolution on the last grid (whose side
# is the image's); upconv: Odena et al.'s resize-convolution, nearest ×2 then two 3×3 convolutions, so the
# last transformer stage works on a grid half the image's side and no PixelShuffle checkerboard reaches it.
DECODERS = ("conv1x1", "upconv")


@dataclass(frozen=True)
class GANConfig:
    """A generator and its critic.

    The generator maps ``latent_dim`` noise to ``bottom × bottom`` tokens of width ``dim``;
    each later stage doubles the side with PixelShuffle(2), which divides the width by 4, so
    the stages' widths are ``dim, dim/4, dim/16, …``. The decoder makes pixels of the last
    grid: ``image_size = bottom · 2^(stages-1)``, doubled once more by the ``upconv`` decoder.
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
    ode: str = "none"  # the last generator stage's last block: a Runge-Kutta method, or "none"
    d_dim: int = 384
    d_depth: int = 7  # not stated by the thesis: the TransGAN re-implementations' default
    d_patch: int = 4
    d_dropout: float = 0.0
    quantum: Any = None  # a models.quantum.QuantumSpec (or its dict from a config.json); None: classical
    window: int | None = None  # stages wider than this run windowed attention (`Windowed`); None: full attention
    output_tanh: bool = True  # tanh on the generated image (TransGAN has none)
    init: str = "torch"  # "torch": PyTorch's defaults; "transgan": truncated normal (std 0.02) weights, zero biases
    decoder: str = "conv1x1"  # see DECODERS; runs saved before it existed used conv1x1

    def __post_init__(self):
        if isinstance(self.quantum, dict):  # from a run directory's config.json: only then is torch needed
            from .models.quantum import QuantumSpec

            object.__setattr__(self, "quantum", QuantumSpec.read(self.quantum))
        object.__setattr__(self, "depths", tuple(self.depths))
        stages = len(self.depths)
        if stages < 1 or min(self.depths) < 1:
            raise ValueError(f"depths must be one or more positive block counts, got {self.depths!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choose one of: {', '.join(DECODERS)}")
        if self.image_size != self.last_side * self.scale:
            grid = f"bottom·2^(stages-1) = {self.bottom}·2^{stages - 1}"
            upconv = f"·2 (the upconv decoder) = {self.last_side * 2}" if self.decoder == "upconv" else ""
            raise ValueError(f"image_size={self.image_size} must be {grid}{upconv or f' = {self.last_side}'}")
        if self.dim % (4 ** (stages - 1) * self.heads):
            raise ValueError(f"dim={self.dim} must be a multiple of 4^(stages-1)·heads = {4 ** (stages - 1) * self.heads}, "
                             "so that every PixelShuffle stage keeps a whole number of channels per head")
        if self.ode not in ODE_METHODS + ("none",):
            raise ValueError(f"unknown ode {self.ode!r}; choose one of: {', '.join(ODE_METHODS + ('none',))}")
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
    def sides(self) -> tuple[int, ...]:
        """Token-grid side of each generator stage."""
        return tuple(self.bottom * 2**i for i in range(len(self.depths)))

    @property
    def last_side(self) -> int:
        return self.sides[-1]

    @property
    def scale(self) -> int:
        """How many pixels the decoder makes of one token, per side."""
        return 2 if self.decoder == "upconv" else 1

    @property
    def kind(self) -> str:
        """``"QRKT-GAN"`` with quantum maps, else ``"TransGAN"`` (``+ <ode>`` for a classical ODE ablation)."""
        if self.quantum is not None:
            return "QRKT-GAN"
        return "TransGAN" if self.ode == "none" else f"TransGAN+{self.ode}"

    def critic_config(self):
        """The critic as a `ViTConfig`: one logit from the CLS token, plain pre-norm layers."""
        from .models.vit import ViTConfig

        return ViTConfig(image_size=self.image_size, channels=self.channels, patch_size=self.d_patch, n_classes=1,
                         dim=self.d_dim, heads=self.heads, mlp_dim=self.mlp_ratio * self.d_dim, blocks=self.d_depth,
                         ode="none", pool="cls", dropout=self.d_dropout, quantum=self.quantum)


# thesis: the thesis' TransGAN settings (for a GPU); small: the first pair that trained on 2 CPU
# cores (widths 64/16/4, 4 heads of width 1 in the last stage; it draws strokes, not digits);
# cpu: widths 128/32 on 8×8 and 16×16 grids (8×8 windows at 16×16), tanh, and the upconv decoder
# to 32×32 (issue 35: the earlier 32×32 token stage of width 8 drew 4×4 blocks with a checkerboard
# texture, and its output without tanh never settled at the background); TransGAN's init;
# gpu: between cpu and thesis.
GAN_PRESETS = {
    "thesis": GANConfig(),
    "small": GANConfig(latent_dim=64, dim=64, depths=(1, 1, 1), mlp_ratio=2, dropout=0.0, d_dim=32, d_depth=1),
    "cpu": GANConfig(latent_dim=128, dim=128, depths=(2, 2), heads=4, mlp_ratio=2, dropout=0.0, d_dim=96, d_depth=2,
                     d_patch=4, window=8, output_tanh=True, init="transgan", decoder="upconv"),
    "gpu": GANConfig(latent_dim=256, dim=256, depths=(4, 3, 2), heads=4, mlp_ratio=4, dropout=0.0, d_dim=192,
                     d_depth=4, d_patch=4, window=8, output_tanh=False, init="transgan"),
}


def gan_config(preset: str, *, quantum=None, **overrides) -> GANConfig:
    """A preset by name. With ``quantum`` (a `QuantumSpec`) it becomes QRKT-GAN: quantum maps and an ``rk4_enh``
    last block.

    Raises:
        ValueError: for an unknown preset or an invalid override.
    """
    if preset not in GAN_PRESETS:
        raise ValueError(f"unknown GAN preset {preset!r}; choose one of: {', '.join(GAN_PRESETS)}")
    if quantum is not None:
        overrides.setdefault("ode", "rk4_enh")
    return dataclasses.replace(GAN_PRESETS[preset], quantum=quantum, **overrides)
