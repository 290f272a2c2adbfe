"""`TrainConfig`: everything a classification run depends on, stored in its run directory."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..data import IMAGE_DATASETS, TEXT_DATASETS
from ..models import QuantumSpec, TextConfig, ViTConfig, text_config, vit_config
from .distributed import check_device

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """A training run: data, model, optimiser and schedule (thesis defaults where it has one)."""

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    model: str | None = None  # a ViT or text preset; None: the preset named after the dataset
    ode: str = "rk4_enh"
    blocks: int | None = None  # None: the preset's (so are dim, heads and mlp_dim)
    dim: int | None = None
    heads: int | None = None
    mlp_dim: int | None = None
    norm: str = "pre"
    quantum: bool = True
    ansatz: str = "qrkt"
    circuit_layers: int = 1
    max_qubits: int | None = None
    noise: str | None = None  # train through this device profile's noise (the native noisy engine)
    noise_scale: float = 1.0  # its error rates times this
    post_norm: bool = False  # QuantumNAT's post-measurement normalisation of every circuit's outputs
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 65  # the thesis'
    lr: float = 1e-3  # the thesis' peak rate
    weight_decay: float = 0.01  # torch's AdamW default
    warmup_steps: int | None = None  # the thesis used 5000; None: 10 % of all steps
    clip_norm: float = 1.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 0  # also checkpoint every this many steps (0: at epoch ends only)
    max_length: int = 512  # text: token ids per review, [CLS] and [SEP] included
    vocab_size: int = 20_000  # text: the WordPiece vocabulary trained on the training split

    def __post_init__(self):
        if self.dataset not in IMAGE_DATASETS + TEXT_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; "
                             f"choose one of: {', '.join(IMAGE_DATASETS + TEXT_DATASETS)}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.clip_norm <= 0:
            raise ValueError(f"lr and clip_norm must be positive, got lr={self.lr}, clip_norm={self.clip_norm}")
        if self.checkpoint_every < 0 or (self.warmup_steps is not None and self.warmup_steps < 0):
            raise ValueError("checkpoint_every and warmup_steps must not be negative")
        check_device(self.device)
        if self.noise is not None and not self.quantum:
            raise ValueError("noise-aware training needs a quantum model; drop --noise or --classical")
        if not (math.isfinite(self.noise_scale) and self.noise_scale >= 0):
            raise ValueError(f"noise_scale must be a finite number >= 0, got {self.noise_scale}")

    @property
    def is_text(self) -> bool:
        return self.dataset in TEXT_DATASETS

    @property
    def preset(self) -> str:
        """The model preset: ``model``, else the dataset's (for IMDb, the thesis' quantum or classical one)."""
        if self.model:
            return self.model
        if self.is_text:
            return f"{self.dataset}-quantum" if self.quantum else self.dataset
        return {"fashion-mnist": "mnist"}.get(self.dataset, self.dataset)

    def model_config(self) -> ViTConfig | TextConfig:
        quantum = QuantumSpec(self.ansatz, self.circuit_layers, self.max_qubits, self.post_norm) if self.quantum else None
        overrides = {k: getattr(self, k) for k in ("blocks", "dim", "heads", "mlp_dim") if getattr(self, k) is not None}
        if self.is_text:
            overrides.update(vocab_size=self.vocab_size, max_length=self.max_length)
            return text_config(self.preset, quantum=quantum, ode=self.ode, norm=self.norm, dropout=self.dropout,
                               **overrides)
        return vit_config(self.preset, quantum=quantum, ode=self.ode, norm=self.norm, dropout=self.dropout, **overrides)

    def warmup(self, total_steps: int) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, total_steps // 10)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)}")
        return cls(**values)
