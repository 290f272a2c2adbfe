"""Calibration on a few target samples: an affine map per quantum output, fitted on the device, no retraining.

A device's noise mostly shrinks and shifts each circuit output: a readout error ``e``
multiplies a Z expectation by ``1 - 2e``, relaxation pulls it towards +1. A model trained
exactly then meets outputs of another scale than it learned (fake-lagos reads four of six
outputs with 14-35 % error). `fit_calibration` runs ``K`` training images through the model
once, its quantum layers already on the target device, and fits each layer call in forward
order, so a later layer is fitted on inputs the earlier ones already calibrated:

- a layer without ``post_norm``: per output, the device values are mapped onto the exact
  engine's values on the same inputs by matching mean and standard deviation (moment
  matching). A least-squares fit would shrink its slope by the shot noise's share of the
  device values' variance (regression dilution); matching moments does not.
- a ``post_norm`` layer: the ``K`` samples' mean and standard deviation replace the batch
  statistics, so the model evaluates one image at a time as it would in a batch; or, given
  ``reference`` training images, the device values are matched to the exact ones as above
  and then normalised with the exact engine's statistics on the reference images (free), so a
  few device images suffice (the K images' own statistics need K >= 128).

`Calibration.apply` sets the maps (`QuantumLayer.set_output_map`); `Calibration.save` and
`Calibration.load` keep them as JSON beside the checkpoint (``qrkt calibrate``).
"""

from __future__ import annotations

import contextlib
import json
import warnings
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from .engine import compile_ansatz
from .layers import QuantumLayer, running_natively
from .levels import by_level
from .output import write_text

__all__ = ["FORMAT", "Calibration", "LayerMap", "fit_calibration", "remove_calibration"]

FORMAT = "qrkt-calibration/1"
POST_NORM_EPS = 1e-5  # the eps of the batch statistics post_norm uses (layers._post_norm), so the two agree
_SETTINGS = ("shots", "noise_scale", "resilience_level")  # differing, the map fits less well: a warning
_RESTARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its forward pre-hook's handle


@dataclass(frozen=True)
class LayerMap:
    """One quantum layer's map: call ``i`` of a forward pass returns ``out * scale[i] + shift[i]``.

    ``scale`` and ``shift`` are ``(calls, n_outputs)`` float64; ``fitted`` says what they do:
    ``"moments"`` (device values onto exact ones) or ``"post_norm"`` (the batch statistics).
    """

    scale: torch.Tensor
    shift: torch.Tensor
    fitted: str


@dataclass(frozen=True)
class Calibration:
    """Per-layer output maps fitted on one backend, and where they came from.

    Args:
        maps: quantum layer module name (``model.named_modules()``) -> its `LayerMap`.
        backend: the profile the maps were fitted on: ``name``, ``device``, ``simulator``,
            ``shots`` (``None``: exact values), ``noise_scale``, ``resilience_level``, ``seed``.
        samples: ``K``, the images fitted on.
        indices: which training images, where the caller said.
        reference: the training images a post-norm layer's statistics were taken from on the
            exact engine (0: none, the device values' statistics on the ``samples`` images).
        version: the qrkt version that fitted it.
        created: when (UTC, ISO 8601).
    """

    maps: dict[str, LayerMap]
    backend: dict
    samples: int
    indices: list[int] | None = None
    reference: int = 0
    version: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def apply(self, model: nn.Module):
        """Set every quantum layer's output map; returns a context manager that removes them on exit.

        ``calibration.apply(model)`` keeps them until `remove_calibration`; ``with
        calibration.apply(model): ...`` only inside the block.

        Raises:
            ValueError: if the model's quantum layers (names, widths) are not those fitted, or run
                on another backend or device than the one fitted.

        Warns:
            UserWarning: if they run on the fitted device with other shots, noise scale or
                resilience level (the map still applies, but was fitted for other values).
        """
        layers = dict(_named_layers(model))
        if set(layers) != set(self.maps):
            extra = sorted(set(layers) ^ set(self.maps))[0]
            raise ValueError(f"this calibration does not match the model: quantum layer {extra!r} is in one but not "
                             "the other; fit a calibration for this model (qrkt calibrate)")
        for name, layer in layers.items():
            width = self.maps[name].scale.shape[1]
            if layer.n_outputs != width:
                raise ValueError(f"this calibration does not match the model: layer {name!r} has {layer.n_outputs} "
                                 f"outputs, the calibration {width}; fit a calibration for this model (qrkt calibrate)")
        self._check_backend(layers)
        remove_calibration(model)
        for name, layer in layers.items():
            layer.set_output_map(self.maps[name].scale, self.maps[name].shift)
        _RESTARTS[model] = model.register_forward_pre_hook(_restart)  # each forward pass starts at row 0
        return _Applied(model)

    def _check_backend(self, layers: dict[str, QuantumLayer]) -> None:
        fitted = self.backend
        for name, layer in layers.items():
            here = backend_settings(layer)
            if (here["name"], here["device"]) != (fitted["name"], fitted["device"]):
                raise ValueError(f"this calibration was fitted on {_where(fitted)}, but layer {name!r} runs on "
                                 f"{_where(here)}; fit one there (qrkt calibrate --backend {here['name']})")
        differ = [f"{key} {here[key]} (fitted with {fitted[key]})" for key in _SETTINGS if here[key] != fitted[key]]
        if differ:
            warnings.warn(f"applying a calibration fitted on {_where(fitted)} with other settings: "
                          f"{', '.join(differ)}", UserWarning, stacklevel=3)

    def summary(self) -> str:
        """One line: layers, calls, and the range of the fitted scales per kind of map."""
        parts = []
        for kind in ("moments", "post_norm"):
            scales = [m.scale for m in self.maps.values() if m.fitted == kind]
            if scales:
                flat = torch.cat([s.flatten() for s in scales])
                parts.append(f"{len(scales)} layer(s) {kind.replace('_', '-')}, scale {flat.min():.3g} to {flat.max():.3g}")
        if self.reference:
            parts.append(f"post-norm statistics of {self.reference} images on the exact engine")
        return f"{self.samples} images on {_where(self.backend)}: " + "; ".join(parts)

    def save(self, path: str | Path) -> None:
        """Write this calibration to ``path`` as JSON, atomically (a crash leaves the old file or the new one)."""
        payload = {"format": FORMAT, "backend": self.backend, "samples": self.samples, "indices": self.indices,
                   "reference": self.reference, "version": self.version, "created": self.created,
                   "maps": {name: {"fitted": m.fitted, "scale": m.scale.tolist(), "shift": m.shift.tolist()}
                            for name, m in self.maps.items()}}
        write_text(path, json.dumps(payload, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration `save` wrote.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            ValueError: when the file is not a qrkt calibration, or is damaged.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no calibration at {path}")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != FORMAT:
                raise ValueError(f"format {payload.get('format')!r}")
            maps = {name: LayerMap(*_rows(m["scale"], m["shift"]), m["fitted"]) for name, m in payload["maps"].items()}
            return cls(maps, dict(payload["backend"]), int(payload["samples"]), payload.get("indices"),
                       int(payload.get("reference", 0)), payload.get("version", ""), payload.get("created", ""))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} is not a calibration written by qrkt calibrate (expected format {FORMAT!r}): "
                             f"{exc}") from exc


class _Applied(contextlib.AbstractContextManager):
    """What `Calibration.apply` returns: the maps are set; leaving a ``with`` block removes them."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self) -> nn.Module:
        return self.model

    def __exit__(self, *exc) -> None:
        remove_calibration(self.model)


def remove_calibration(model: nn.Module) -> nn.Module:
    """Remove every quantum layer's output map (post_norm layers use batch statistics again); returns ``model``."""
    for _, layer in _named_layers(model):
        layer.set_output_map(None)
    handle = _RESTARTS.pop(model, None)
    if handle is not None:
        handle.remove()
    return model


@torch.no_grad()
def fit_calibration(model: nn.Module, images: torch.Tensor, *, indices=None,
                    reference: torch.Tensor | None = None) -> Calibration:
    """Fit every quantum layer's output map from one forward pass of ``images`` on the layers' backend.

    Put the model's quantum layers on the target device first (`qrkt_qiskit.to_backend`; on
    the exact engine a post-norm layer gets the K images' statistics, any other the identity);
    the pass runs there in eval mode, all ``images`` in one call (off the native engines, one
    job per dependency level, as `qrkt_qiskit.levels.by_level` sends it). Any map already set is removed first; the model
    ends without maps (`Calibration.apply` sets them).

    Args:
        model: a trained model with quantum layers, on the target backend.
        images: ``(K, ...)`` model inputs, ``K >= 2`` (training images: never the test set).
        indices: which images of the training split they are, recorded in the calibration.
        reference: ``(N, ...)`` more training images for a post-norm layer, run on the exact
            engine only (free): its map becomes the device values matched to the exact ones on
            ``images`` (as a layer without post-norm), then normalised with the exact engine's
            statistics on ``reference``, so a few device images suffice. ``None``: the
            statistics of the device values on ``images``.

    Raises:
        ValueError: for a model without quantum layers, layers on several backends, or fewer
            than 2 images.
    """
    layers = dict(_named_layers(model))
    if not layers:
        raise ValueError(f"{type(model).__name__} has no QuantumLayer to calibrate")
    settings = {name: backend_settings(layer) for name, layer in layers.items()}
    first = next(iter(settings.values()))
    if any(s != first for s in settings.values()):
        where = sorted({_where(s) for s in settings.values()})
        raise ValueError(f"calibration fits a model's quantum layers on one backend, but they run on "
                         f"{', '.join(where)}; put them all on the target device first (to_backend(model, 'fake-lagos'))")
    if len(images) < 2:
        raise ValueError(f"calibration fits statistics over several images, so it needs at least 2, got {len(images)}")
    remove_calibration(model)
    post_norm = {name for name, layer in layers.items() if layer.post_norm}
    normalising = None
    if reference is not None and post_norm:
        with running_natively(model):
            normalising = fit_calibration(model, reference).maps
    names = {id(layer): name for name, layer in layers.items()}
    exact: dict[str, object] = {}
    fits: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def new_pass(module: nn.Module, args) -> None:  # by_level runs planning passes first: the last one counts
        fits.clear()
        fits.update({name: [] for name in layers})

    def fit_call(layer: QuantumLayer, args: tuple, out: torch.Tensor) -> torch.Tensor:
        name = names[id(layer)]
        if name in post_norm and normalising is None:
            scale, shift = _normalising(out.detach())
        else:
            x = args[0].detach()
            if name not in exact:
                exact[name] = compile_ansatz(layer.ansatz, dtype=x.dtype, device=x.device)
            scale, shift = _matching_moments(out.detach(), exact[name](x, layer.weight.detach().to(x.dtype)))
            if name in post_norm:  # then normalised as on the exact engine over the reference images
                norm = normalising[name]
                row = len(fits[name]) % len(norm.scale)
                scale, shift = scale * norm.scale[row], shift * norm.scale[row] + norm.shift[row]
        fits[name].append((scale, shift))
        return out * scale.to(out) + shift.to(out)  # what the calibrated layer returns: later layers see it

    was_training = model.training
    hooks = [model.register_forward_pre_hook(new_pass)]
    hooks += [layer.register_forward_hook(fit_call) for layer in layers.values()]
    try:
        for name in post_norm:
            layers[name].post_norm = False  # the hook sees the device's raw values
        by_level(model.eval(), images)  # off the native engines: one job per dependency level
    finally:
        for hook in hooks:
            hook.remove()
        for name in post_norm:
            layers[name].post_norm = True
        model.train(was_training)
    uncalled = [name for name, rows in fits.items() if not rows]
    if uncalled:
        raise ValueError(f"quantum layer {uncalled[0]!r} was not called on these images, so nothing fits it")
    maps = {name: LayerMap(torch.stack([s for s, _ in rows]), torch.stack([b for _, b in rows]),
                           "post_norm" if name in post_norm else "moments") for name, rows in fits.items()}
    return Calibration(maps, first, len(images), None if indices is None else [int(i) for i in indices],
                       0 if normalising is None else len(reference), _version())


def backend_settings(layer: QuantumLayer) -> dict:
    """What a calibration records of the backend ``layer`` runs on (``name`` ``"native"``: the exact engine)."""
    profile = layer.profile
    if profile is None:
        return {"name": "native", "device": None, "simulator": None, "shots": None, "noise_scale": None,
                "resilience_level": None, "seed": None}
    return {"name": profile.name, "device": profile.option("device"), "simulator": layer.simulator,
            "shots": profile.shots, "noise_scale": profile.option("noise_scale", 1.0),
            "resilience_level": profile.option("resilience_level", 0), "seed": profile.option("seed")}


def _normalising(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` making each output of ``out`` zero-mean, unit-variance over all its samples, as post_norm does."""
    flat = out.reshape(-1, out.shape[-1]).double()
    scale = 1 / torch.sqrt(flat.var(dim=0, unbiased=False) + POST_NORM_EPS)  # batch_norm's biased variance
    return scale, -flat.mean(dim=0) * scale


def _matching_moments(device: torch.Tensor, exact: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` giving each output of ``device`` the mean and standard deviation of ``exact``.

    An output that does not vary on the device carries nothing to scale: it is only shifted.
    """
    device, exact = device.reshape(-1, device.shape[-1]).double(), exact.reshape(-1, exact.shape[-1]).double()
    spread = device.std(dim=0)
    scale = torch.where(spread > 1e-9, exact.std(dim=0) / spread.clamp_min(1e-9), torch.ones_like(spread))
    return scale, exact.mean(dim=0) - scale * device.mean(dim=0)


def _named_layers(model: nn.Module) -> list[tuple[str, QuantumLayer]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, QuantumLayer)]


def _restart(model: nn.Module, args) -> None:
    for _, layer in _named_layers(model):
        layer.restart_output_map()


def _rows(scale, shift) -> tuple[torch.Tensor, torch.Tensor]:
    scale, shift = torch.tensor(scale, dtype=torch.float64), torch.tensor(shift, dtype=torch.float64)
    if scale.dim() != 2 or scale.shape != shift.shape or not (scale.isfinite().all() and shift.isfinite().all()):
        raise ValueError("a layer's scale and shift are not two finite tables of the same shape")
    return scale, shift


def _where(settings: dict) -> str:
    device = settings.get("device")
    name = settings["name"]
    return name if device is None or device in name else f"{name} (device {device})"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qrkt-qiskit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"
