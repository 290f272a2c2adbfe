"""`GANTrainConfig`: a GAN run's data, networks, recipe and optimiser, importing neither torch nor Qiskit.

``qrkt gan train`` builds its parser from this class and checks every option before the
training loop (`qrkt_qiskit.training.gan`) and torch are imported, so a mistaken option is
refused at once (issue 36: it took ~6 s). A recipe fills in the objective, the critic steps per
generator step and the learning rates a run does not give:

- ``thesis``: the thesis' WGAN-GP with the drift term, 5 critic steps per generator step,
  learning rates 1e-4 (TransGAN's);
- ``cpu``: off the thesis, the non-saturating loss with a lazy R1 penalty (StyleGAN2's, ViTGAN's)
  and one critic step per generator step, learning rates 2e-4: on 2 CPU cores it takes ~4× the
  generator steps per CPU-second and reached in 240 CPU-seconds what WGAN-GP showed after ~645
  (issue 35; docs/gan.md has the pilots).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..catalog import IMAGE_DATASETS
from ..gan_networks import GAN_PRESETS, GANConfig
from .config import check_numbers, from_data, option

__all__ = ["DIFF_AUGMENTATIONS", "GAN_DATASETS", "GAN_RECIPES", "GANRecipe", "GANTrainConfig", "LOSSES", "extended"]

GAN_DATASETS = IMAGE_DATASETS  # qrkt_qiskit.data.gan reads the same four (a test holds them equal)
DIFF_AUGMENTATIONS = ("color", "translation", "cutout")  # qrkt_qiskit.training.augment.AUGMENTATIONS' names
LR_DECAYS = ("none", "linear")
LOSSES = ("wgan-gp", "ns-r1")


@dataclass(frozen=True)
class GANRecipe:
    """What a named GAN recipe fills in where a run does not say."""

    loss: str
    n_critic: int
    lr_g: float
    lr_d: float
    summary: str


GAN_RECIPES = {
    "cpu": GANRecipe("ns-r1", 1, 2e-4, 2e-4, "off the thesis, for CPUs: non-saturating loss with lazy R1, one critic "
                     "step per generator step, learning rates 2e-4"),
    "thesis": GANRecipe("wgan-gp", 5, 1e-4, 1e-4, "the thesis' WGAN-GP with the drift term, 5 critic steps per "
                        "generator step, learning rates 1e-4"),
}


@dataclass(frozen=True)
class GANTrainConfig:
    """A GAN run: data, the two networks (`GANConfig`), the recipe's objective and its optimiser."""

    model: GANConfig = GAN_PRESETS["cpu"]
    dataset: str = option("digits", "digits needs no files (resized to the model's size); the others read "
                          "torchvision's layouts under --data-root", group="data", choices=GAN_DATASETS)
    data_root: str | None = option(None, "folder holding MNIST/raw, FashionMNIST/raw or cifar-10-batches-py",
                                   group="data", metavar="DIR")
    limit: int | None = option(None, "train on the first N images only", group="data", metavar="N",
                               default_help="all")
    recipe: str | None = option(None, "fills in --loss, --n-critic, --lr-g and --lr-d where not given: "
                                + "; ".join(f"{name}: {r.summary}" for name, r in GAN_RECIPES.items()),
                                group="optimisation", choices=tuple(GAN_RECIPES), default_help="cpu")
    epochs: int = option(10, "passes of the critic over the data", group="optimisation")
    batch_size: int = option(32, "images per critic and generator step (the thesis')", group="optimisation")
    lr_g: float | None = option(None, "generator learning rate", group="optimisation", default_help="the recipe's")
    lr_d: float | None = option(None, "critic learning rate", group="optimisation", default_help="the recipe's")
    betas: tuple[float, float] = (0.0, 0.99)  # the thesis' Adam(0, 0.99)
    weight_decay: float = option(0.0, "Adam's L2 penalty on generator and critic (the thesis: 1e-3)", group="optimisation")
    lr_decay: str = option("none", "none: constant learning rates, as the references effectively are (they decay "
                           "over 500k iterations); linear: to 0 over the run", group="optimisation",
                           choices=LR_DECAYS)
    loss: str | None = option(None, "wgan-gp: the thesis' WGAN-GP with the drift term; ns-r1: off the thesis, the "
                              "non-saturating loss with a lazy R1 penalty on real images (ViTGAN's, StyleGAN2's)",
                              group="optimisation", choices=LOSSES, default_help="the recipe's")
    r1_gamma: float = option(1.0, "ns-r1: γ, the R1 penalty's weight (γ/2 · E‖∇D(x)‖²)", group="optimisation")
    r1_every: int = option(16, "ns-r1: apply R1 every N critic steps, scaled by N (lazy regularisation)",
                           group="optimisation", metavar="N")
    n_critic: int | None = option(None, "critic steps per generator step", group="optimisation", metavar="N",
                                  default_help="the recipe's")
    gp_weight: float = option(10.0, "λ, the gradient penalty's weight", group="optimisation")
    drift: float = option(1e-3, "ε, the drift term's weight", group="optimisation")
    phi: float = option(1.0, "φ, the gradient norm the penalty aims at", group="optimisation")
    diff_aug: str = option("translation", "DiffAugment policy (color, translation, cutout, comma-separated), or none; "
                           "the thesis: all three", group="optimisation", metavar="POLICY")
    ema: float = option(0.999, "generator EMA decay per generator step, after a warm-up", group="optimisation")
    grid: int = option(64, "samples in each epoch's grid", group="run", metavar="N")
    seed: int = option(0, "seeds weights, data order and noise", group="optimisation")
    device: str = option("cpu", "cpu, cuda or cuda:N", group="optimisation")
    checkpoint_every: int = option(0, "also checkpoint every STEPS critic steps, not only at epoch ends", group="run",
                                   metavar="STEPS")
    snapshot_every: int = option(0, "keep the EMA generator of every N-th epoch in snapshots/, for the FID curve of "
                                 "`qrkt gan fid --curve`", group="run", metavar="N")

    def __post_init__(self):
        if isinstance(self.model, dict):  # from a run directory's config.json
            object.__setattr__(self, "model", GANConfig(**self.model))
        self._fill_in_recipe()
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.r1_gamma < 0 or self.r1_every < 1:
            raise ValueError(f"r1_gamma must not be negative and r1_every at least 1, got {self.r1_gamma}, {self.r1_every}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"unknown lr_decay {self.lr_decay!r}; choose one of: {', '.join(LR_DECAYS)}")
        object.__setattr__(self, "betas", tuple(self.betas))
        check_numbers(self)
        if self.dataset not in GAN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(GAN_DATASETS)}")
        for name in ("epochs", "batch_size", "n_critic", "grid", "limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if min(self.lr_g, self.lr_d, self.phi) <= 0 or min(self.gp_weight, self.drift, self.checkpoint_every,
                                                            self.snapshot_every, self.weight_decay) < 0:
            raise ValueError("lr_g, lr_d and phi must be positive; gp_weight, drift, weight_decay, checkpoint_every "
                             "and snapshot_every not negative")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):  # whether this machine has it: `train_gan` asks torch
            raise ValueError(f"unknown device {self.device!r}; use cpu, cuda or cuda:N")
        unknown = [n.strip() for n in self.diff_aug.split(",") if n.strip() not in DIFF_AUGMENTATIONS + ("", "none")]
        if unknown:
            raise ValueError(f"unknown DiffAugment {unknown[0]!r}; choose from: {', '.join(DIFF_AUGMENTATIONS)}")

    def _fill_in_recipe(self) -> None:
        """Name the recipe (``cpu`` by default) and take its values where the run gave none.

        A saved config holds every value, so a run resumes with the numbers it started with
        even if a recipe changes later.
        """
        name = self.recipe or "cpu"
        if name not in GAN_RECIPES:
            raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(GAN_RECIPES)}")
        object.__setattr__(self, "recipe", name)  # frozen: set once, here
        for key in ("loss", "n_critic", "lr_g", "lr_d"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, getattr(GAN_RECIPES[name], key))

    @property
    def extensible(self) -> bool:
        """Whether nothing but the run's length depends on ``epochs``: constant learning rates, not a linear decay
        whose schedule spans the run (see `extended`)."""
        return self.lr_decay != "linear"

    def to_dict(self) -> dict:
        """The config as JSON-ready data, as ``config.json`` and checkpoints store it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GANTrainConfig:
        """A config from `to_dict`'s data; options it lacks (added since it was saved) take their defaults.

        A run saved before recipes existed holds its loss, critic steps and learning rates: it is
        named after the recipe of its loss, and keeps every value it holds.

        Raises:
            ValueError: for an option this version does not know, or a value of the wrong type (`from_data`).
        """
        if isinstance(values, dict) and isinstance(values.get("lr_decay"), bool):  # from before it named a schedule
            values = {**values, "lr_decay": "linear" if values["lr_decay"] else "none"}
        if isinstance(values, dict) and "recipe" not in values:  # from before recipes: keep its own values
            values = {**values, "recipe": "thesis" if values.get("loss", "wgan-gp") == "wgan-gp" else "cpu",
                      **{k: v for k, v in _BEFORE_RECIPES.items() if k not in values}}
        return from_data(cls, values, "GAN training")


# What a run saved before recipes existed trained with where its config.json is silent (the defaults then).
_BEFORE_RECIPES = {"loss": "wgan-gp", "n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4}


def extended(config: GANTrainConfig, epochs: int) -> GANTrainConfig:
    """``config`` trained for ``epochs`` epochs in all: a finished run resumed goes on to there.

    With constant learning rates nothing else depends on the run's length (data order and
    noise are seeded per epoch and step), so the run reaches what one started with
    ``epochs`` would have.

    Raises:
        ValueError: with a linear learning-rate decay, whose schedule spans the run's length.
    """
    if not config.extensible:
        raise ValueError(f"the run's learning rates decay linearly to 0 over its {config.epochs} epochs, so more "
                         "epochs would change its schedule; start a new run instead")
    return dataclasses.replace(config, epochs=epochs)
