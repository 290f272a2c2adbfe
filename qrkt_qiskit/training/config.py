"""`TrainConfig`: everything a classification run depends on, stored in its run directory.

It imports neither torch nor Qiskit (its choices come from `qrkt_qiskit.catalog`, the model
code is imported where a model is made), so ``qrkt train`` checks its options first.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..catalog import (ANSATZ_NAMES, ARCHS, CIRCUIT_INITS, IMAGE_DATASETS, ODE_METHODS, TEXT_DATASETS, TEXT_PRESET_NAMES,
                       VIT_PRESET_NAMES)

__all__ = ["RECIPES", "TrainConfig", "check_numbers", "from_data", "option"]


def check_numbers(config) -> None:
    """Every float field of a config dataclass finite (``inf`` and ``nan`` train to NaN weights silently).

    Raises:
        ValueError: naming the first field that is not a finite number.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v}")


_TYPES = {"int": (int, "an integer"), "float": ((int, float), "a number"), "str": (str, "a string"),
          "bool": (bool, "true or false")}
_QUOTED = 40  # characters of a bad value a message shows: a hand-edited file may hold anything


def from_data(cls, values, what: str):
    """``cls(**values)`` from JSON data, after checking each value against its field's type and choices.

    A ``config.json`` edited by hand can hold ``"2"`` for 2, ``2.5`` for a batch size or ``[4]``
    for a width; each is refused here in one sentence naming the option, instead of failing
    deep in training or training something else than asked.

    Args:
        cls: a config dataclass whose fields are typed ``int``, ``float``, ``str``, ``bool``
            (each possibly ``| None``) or something else (not checked here).
        values: the data, e.g. a parsed ``config.json``.
        what: names the config in messages ("training").

    Raises:
        ValueError: for something other than an object, an unknown option, or a value of
            the wrong type or outside the option's choices.
    """
    if not isinstance(values, dict):
        raise ValueError(f"the {what} options must be a JSON object, got {_shortened(repr(values))}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown {what} option(s) {_shortened(', '.join(unknown))}")
    for name, value in values.items():
        kind, optional = fields[name].type.removesuffix(" | None"), fields[name].type.endswith(" | None")
        if kind not in _TYPES or (value is None and optional):
            continue
        accepted, described = _TYPES[kind]
        if not isinstance(value, accepted) or (isinstance(value, bool) and kind != "bool"):
            described += " or null" if optional else ""
            raise ValueError(f"option {name} must be {described}, got {_shortened(repr(value))}")
        choices = fields[name].metadata.get("choices")
        if choices is not None and value not in choices:
            raise ValueError(f"option {name} must be one of: {', '.join(choices)}; got {_shortened(repr(value))}")
    return cls(**values)


def _refuse_empty_or_repeated(name: str, values) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value, got none")
    repeated = sorted({repr(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ValueError(f"{name} lists {', '.join(repeated)} more than once; give each value once")


def _shortened(text: str) -> str:
    return text if len(text) <= _QUOTED else f"{text[:_QUOTED]}... ({len(text):,} characters)"


def option(default, help: str, **cli):
    """A config field that is also a command-line option: ``help`` and the `qrkt_qiskit.cli.options` keys in metadata.

    Keys: ``group`` (the help section), ``metavar``, ``choices``, ``nargs`` (for a tuple field), ``default_help`` (what the
    help says the default is, where the value alone would not tell), ``flag`` (the option's
    name, default ``--field-name``; for a bool that defaults to True, the flag that turns it
    off) and ``negative`` (a second flag that sets a bool False, shown as its own option).
    """
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class Recipe:
    """How long and how fast to train: what a named recipe fills in where a run does not say."""

    epochs: int
    batch_size: int
    lr: float
    warmup_steps: int | None  # None: 10 % of all steps
    summary: str


# The recipes, and each dataset's default. `digits` was chosen on digits (docs/results.md's
# demo and noise-aware rows: 85-94 % test accuracy); the old default, the thesis' batch and
# learning rate for 10 epochs, reached 27 % there.
RECIPES = {
    "thesis": Recipe(65, 65, 1e-3, 5000, "the thesis' MNIST recipe: 65 epochs, batch 65, peak lr 1e-3, 5,000 warmup steps"),
    "short": Recipe(10, 65, 1e-3, None, "the thesis' batch and lr for 10 epochs, warmup 10 %% of the steps"),
    "digits": Recipe(30, 32, 1e-2, None, "for 8×8 digits: 30 epochs, batch 32, peak lr 1e-2, warmup 10 %%"),
}
DEFAULT_RECIPE = {"digits": "digits"}  # every other dataset: short


@dataclass(frozen=True)
class TrainConfig:
    """A training run: data, model, optimiser and schedule (thesis defaults where it has one)."""

    dataset: str = option("digits", "digits needs no files; the others read their standard layouts under --data-root",
                          group="data", choices=IMAGE_DATASETS + TEXT_DATASETS)
    data_root: str | None = option(None, "folder holding MNIST/raw, FashionMNIST/raw, cifar-10-batches-py, aclImdb "
                                   "or imdb/imdb_{train,test}.csv.gz", group="data", metavar="DIR")
    download: bool = option(False, "let torchvision download a missing dataset into --data-root", group="data")
    model: str | None = option(None, "a thesis configuration", group="model", choices=VIT_PRESET_NAMES + TEXT_PRESET_NAMES,
                               default_help="the dataset's; imdb: imdb-quantum with --quantum")
    ode: str = option("rk4_enh", "Runge-Kutta method of every block, or none for plain pre-norm layers", group="model",
                      choices=ODE_METHODS + ("none",))
    blocks: int | None = option(None, "number of blocks", group="model", metavar="N", default_help="the preset's")
    dim: int | None = option(None, "hidden size: token width and Q/K/V circuit width", group="model", metavar="D",
                             default_help="the preset's")
    heads: int | None = option(None, "attention heads", group="model", metavar="H", default_help="the preset's")
    mlp_dim: int | None = option(None, "hidden (Q)MLP size", group="model", metavar="M", default_help="the preset's")
    arch: str = option("shared", "shared: this package's model (one field per ODE block, CLS token); thesis: the "
                       "author's classifier (source and target embeddings, every RK stage its own attention and MLP, "
                       "decoder blocks, mean pooling), which reproduces the thesis' counts",
                       group="model", choices=ARCHS)
    encoders: int = option(0, "thesis arch: plain encoder layers before the RK blocks (the thesis' tables 1/2: 3)",
                           group="model", metavar="N")
    decoders: int = option(1, "thesis arch: decoder blocks (the thesis' classical RK2-RK4_ENH MNIST rows: 3)",
                           group="model", metavar="N")
    norm: str = option("pre", "pre: a LayerNorm before attention and MLP; entry: one at block entry, as the author's code",
                       group="model", choices=("pre", "entry"))
    quantum: bool = option(True, "circuits for Q, K, V, output and the MLP's middle", group="model", flag="--quantum",
                           negative=("--classical", "nn.Linear everywhere: the classical twin"))
    ansatz: str = option("qrkt", "circuit of every quantum map", group="model", choices=ANSATZ_NAMES)
    circuit_layers: int = option(1, "variational layers per circuit", group="model", metavar="L")
    weight_init: str = option("uniform", "how circuit weights start: uniform in [0, 2pi), or normal near zero "
                              "(Xavier normal, as the thesis author's code)", group="model", choices=CIRCUIT_INITS)
    output_scale: bool = option(False, "a learned gain per output after every circuit, so bounded outputs can grow",
                                group="model")
    elementwise: bool = option(False, "with --classical: a diagonal affine map wherever the quantum model has a "
                               "circuit (the quantum model's element-wise control)", group="model")
    max_qubits: int | None = option(None, "split maps wider than Q qubits into several circuits", group="model",
                                    metavar="Q", default_help="one circuit per map")
    dropout: float = option(0.0, "dropout in attention and MLP", group="model")
    noise: tuple[str, ...] | None = option(
        None, "train (and validate) through these devices' noise: fake-<device> profiles, or ibm for an IBM device's "
        "calibration; exact noisy expectation values in the native noisy engine. With several devices (or scales), "
        "each step draws one (device, scale) pair, uniformly, from a generator seeded by --seed and saved in "
        "last.pt; validation and test metrics use the first device at the first scale", group="noise",
        metavar="DEVICE", nargs="+", default_help="noiseless")
    noise_scale: tuple[float, ...] = option((1.0,), "the devices' error rates times S; several values are drawn "
                                            "from like devices (each pair's program is built once, before the first "
                                            "step)", group="noise", metavar="S", nargs="+", default_help="1")
    train_shots: int | None = option(None, "sample every circuit output in training steps as a device returns N "
                                     "shots of it (2 Binomial(N, (1 + e)/2)/N - 1 for an expectation e), with the "
                                     "exact value's gradient (straight-through); validation, test and evaluation "
                                     "stay exact", group="noise", metavar="N", default_help="exact values")
    resilience_level: int = option(0, "with --noise: train through what Runtime's Estimator returns at this "
                                   "resilience level (0 none, 1 TREX, 2 TREX and ZNE; docs/noise.md); not with "
                                   "--train-shots", group="noise", metavar="L")
    post_norm: bool = option(False, "normalise every circuit's outputs over the batch (QuantumNAT's post-measurement "
                             "normalisation), which undoes most of the shrinking and shifting noise causes", group="noise")
    recipe: str | None = option(None, "fills in --epochs, --batch-size, --lr and --warmup-steps where not given: "
                                + "; ".join(f"{name}: {r.summary}" for name, r in RECIPES.items()),
                                group="optimisation", choices=tuple(RECIPES), default_help="digits for digits, else short")
    epochs: int | None = option(None, "passes over the training split", group="optimisation", metavar="N",
                                default_help="the recipe's")
    batch_size: int | None = option(None, "global batch, split across torchrun processes", group="optimisation",
                                    metavar="B", default_help="the recipe's")
    lr: float | None = option(None, "peak learning rate", group="optimisation", default_help="the recipe's")
    weight_decay: float = option(0.01, "AdamW's (torch's default)", group="optimisation")
    warmup_steps: int | None = option(None, "linear warmup steps", group="optimisation", metavar="N",
                                      default_help="the recipe's")
    clip_norm: float = option(1.0, "gradient-norm clipping", group="optimisation")
    seed: int = option(0, "seeds the weights, the validation split and the data order", group="optimisation")
    device: str = option("cpu", "cpu, cuda or cuda:N", group="optimisation")
    checkpoint_every: int = option(0, "also checkpoint every STEPS steps, not only at epoch ends", group="run",
                                   metavar="STEPS")
    max_length: int = option(512, "text: token ids per review, [CLS] and [SEP] included, truncated or padded",
                             group="data", metavar="T")
    vocab_size: int = option(20_000, "text: the WordPiece vocabulary trained on the training split", group="data",
                             metavar="V")

    def __post_init__(self):
        self._coerce_noise()
        check_numbers(self)
        if self.dataset not in IMAGE_DATASETS + TEXT_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; "
                             f"choose one of: {', '.join(IMAGE_DATASETS + TEXT_DATASETS)}")
        self._fill_in_recipe()
        for name in ("epochs", "batch_size", "circuit_layers", "max_length", "vocab_size", "blocks", "dim", "heads",
                     "mlp_dim", "max_qubits"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0 <= self.dropout < 1 or self.weight_decay < 0:
            raise ValueError(f"dropout must be in [0, 1) and weight_decay not negative, got dropout={self.dropout}, "
                             f"weight_decay={self.weight_decay}")
        if self.lr <= 0 or self.clip_norm <= 0:
            raise ValueError(f"lr and clip_norm must be positive, got lr={self.lr}, clip_norm={self.clip_norm}")
        if self.checkpoint_every < 0 or (self.warmup_steps is not None and self.warmup_steps < 0):
            raise ValueError("checkpoint_every and warmup_steps must not be negative")
        from .distributed import check_device

        check_device(self.device)
        if self.noise is not None and not self.quantum:
            raise ValueError("noise-aware training needs a quantum model; drop --noise or --classical")
        if self.train_shots is not None and (isinstance(self.train_shots, bool) or self.train_shots < 1):
            raise ValueError(f"train_shots must be a whole number of shots of at least 1, got {self.train_shots!r}")
        if self.train_shots is not None and not self.quantum:
            raise ValueError("--train-shots samples circuit outputs, so it needs a quantum model; drop --train-shots "
                             "or --classical")
        if self.resilience_level not in (0, 1, 2) or isinstance(self.resilience_level, bool):
            raise ValueError(f"resilience_level must be 0, 1 or 2, got {self.resilience_level!r}")
        if self.resilience_level and self.noise is None:
            raise ValueError("--resilience-level mitigates a device's noise, so it needs --noise DEVICE")
        if self.resilience_level and self.train_shots is not None:
            raise ValueError("--train-shots samples each output as an unmitigated measurement, while at "
                             f"--resilience-level {self.resilience_level} a device's shot noise is that of the "
                             "mitigated estimate; use one of them")
        if self.arch != "shared" and (self.encoders < 0 or self.decoders < 1):
            raise ValueError(f"encoders must be >= 0 and decoders >= 1, got {self.encoders} and {self.decoders}")
        if self.elementwise and self.quantum:
            raise ValueError("--elementwise is the classical control of a quantum model; use it with --classical")

    def _coerce_noise(self) -> None:
        """``noise`` and ``noise_scale`` as tuples: one device or scale (a run saved before lists) is a list of one.

        Raises:
            ValueError: for an empty list, a repeated entry, a device that is not a name, or a
                scale that is not a finite number >= 0.
        """
        devices, scales = self.noise, self.noise_scale
        if devices is not None:
            devices = (devices,) if isinstance(devices, str) else devices
            if not isinstance(devices, (list, tuple)) or not all(isinstance(d, str) and d for d in devices):
                raise ValueError(f"noise must be a device name or a list of them, got {_shortened(repr(self.noise))}")
            _refuse_empty_or_repeated("noise", devices)
            object.__setattr__(self, "noise", tuple(devices))  # frozen: set once, here
        scales = (scales,) if isinstance(scales, (int, float)) and not isinstance(scales, bool) else scales
        if not isinstance(scales, (list, tuple)):
            raise ValueError(f"noise_scale must be a number or a list of them, got {_shortened(repr(scales))}")
        for s in scales:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not (math.isfinite(s) and s >= 0):
                raise ValueError(f"noise_scale must be a finite number >= 0, got {_shortened(repr(s))}")
        scales = tuple(float(s) for s in scales)
        _refuse_empty_or_repeated("noise_scale", scales)
        object.__setattr__(self, "noise_scale", scales)

    @property
    def noise_pairs(self) -> tuple[tuple[str, float], ...]:
        """The (device, scale) pairs a noise-aware run draws from, the first the one it validates on; ``()`` without noise."""
        return tuple((d, s) for d in self.noise for s in self.noise_scale) if self.noise else ()

    def _fill_in_recipe(self) -> None:
        """Name the recipe (the dataset's by default) and take its values where the run gave none.

        A saved config holds every value, so a run resumes with the numbers it started with
        even if a recipe changes later.
        """
        name = self.recipe or DEFAULT_RECIPE.get(self.dataset, "short")
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
        recipe = RECIPES[name]
        object.__setattr__(self, "recipe", name)  # frozen: set once, here
        for key in ("epochs", "batch_size", "lr", "warmup_steps"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, getattr(recipe, key))

    def check_data_root(self) -> None:
        """Refuse, before any work, a dataset that needs files when no ``data_root`` says where they are."""
        if self.dataset != "digits" and self.data_root is None:
            raise ValueError(f"dataset {self.dataset!r} needs a data root (--data-root) holding its files")

    @property
    def is_text(self) -> bool:
        return self.dataset in TEXT_DATASETS

    @property
    def preset(self) -> str:
        """The model preset: ``model``, else the dataset's (for IMDb, the thesis' quantum or classical one)."""
        if self.model:
            return self.model
        if self.is_text:
            return f"{self.dataset}-quantum" if self.quantum or self.elementwise else self.dataset
        return {"fashion-mnist": "mnist"}.get(self.dataset, self.dataset)

    def model_config(self) -> ViTConfig | TextConfig:
        """The model this run trains: its preset with the sizes, ODE method and quantum spec given here."""
        from ..models import QuantumSpec, text_config, vit_config
        from ..models.quantum import DiagonalSpec

        quantum = (QuantumSpec(self.ansatz, self.circuit_layers, self.max_qubits, self.post_norm, self.weight_init,
                               self.output_scale) if self.quantum else DiagonalSpec() if self.elementwise else None)
        overrides = {k: getattr(self, k) for k in ("blocks", "dim", "heads", "mlp_dim") if getattr(self, k) is not None}
        if self.arch == "thesis":
            overrides.update(arch="thesis", encoders=self.encoders, decoders=self.decoders)
        if self.is_text:
            overrides.update(vocab_size=self.vocab_size, max_length=self.max_length)
            return text_config(self.preset, quantum=quantum, ode=self.ode, norm=self.norm, dropout=self.dropout,
                               **overrides)
        if self.arch == "thesis":
            overrides.update(pool="mean")
        return vit_config(self.preset, quantum=quantum, ode=self.ode, norm=self.norm, dropout=self.dropout, **overrides)

    def warmup(self, total_steps: int) -> int:
        """Linear warmup steps: ``warmup_steps``, else 10 % of ``total_steps`` (at least 1)."""
        return self.warmup_steps if self.warmup_steps is not None else max(1, total_steps // 10)

    def to_dict(self) -> dict:
        """The config as JSON-ready data, as ``config.json`` and checkpoints store it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """A config from `to_dict`'s data; options it lacks (added since it was saved) take their defaults.

        Raises:
            ValueError: for an option this version does not know, or a value of the wrong type (`from_data`).
        """
        return from_data(cls, values, "training")
