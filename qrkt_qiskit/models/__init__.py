"""Models: attention, MLP and ODE blocks shared by the vision, text and GAN transformers."""

from .attention import Attention
from .blocks import ODE_METHODS, ODEBlock, TransformerLayer
from .gan import GAN_PRESETS, GANConfig, Generator, discriminator, gan_config
from .mlp import MLP
from .quantum import QuantumSpec, feature_map, quantum_mlp
from .text import TEXT_PRESETS, TextConfig, TextTransformer, text_config, text_model
from .vit import VIT_PRESETS, ViTConfig, VisionTransformer, vision_model, vit_config

__all__ = ["MLP", "ODE_METHODS", "TEXT_PRESETS", "VIT_PRESETS", "Attention", "ODEBlock", "QuantumSpec", "TextConfig",
           "TextTransformer", "TransformerLayer", "ViTConfig", "VisionTransformer", "feature_map", "quantum_mlp",
           "text_config", "text_model", "vision_model", "vit_config"]
__all__ += ["GAN_PRESETS", "GANConfig", "Generator", "discriminator", "gan_config"]
