"""A quantum layer on a backend profile: who runs its calls, and Qiskit's EstimatorQNN as a torch function.

`Placement` is what `layers.QuantumLayer` holds once `to_backend` moves it off the exact
engine: the device's noise in the native noisy engine (a `CompiledCircuit`, as the exact
engine's), or an EstimatorQNN on the profile's primitive, wrapped in `_QNNFunction`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import torch

from . import backends
from .backends import BackendProfile
from .circuits import Ansatz, parameterised_gate_arguments
from .engine.validation import check_call, check_dtype, empty_result

__all__ = ["Placement", "hardware_step_cost", "recording"]

# Set by qrkt_qiskit.levels while it sends a model's calls one job per dependency level.
recording: ContextVar = ContextVar("qrkt_levels_recording", default=None)


@dataclass
class Placement:
    """A layer on a backend profile: the profile, who simulates it, and what was built for it."""

    profile: BackendProfile
    simulator: str | None
    ansatz: Ansatz
    user: backends.UserPrimitive | None = None  # an estimator or backend object the user passed
    noisy: dict = field(default_factory=dict)  # (dtype, device) -> the native noisy engine's program
    _prepared: object | None = None  # backends.Prepared, built on first use
    _qnn: object | None = None  # the EstimatorQNN, built on first use

    def run(self, layer, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``layer``'s call on this placement: ``(..., n_inputs) -> (..., n_outputs)``, checked once."""
        if self.simulator == "native":
            out = self.noisy_program(weight)(x, weight)
        else:
            check_dtype(x)
            check_call(x, weight, self.ansatz)
            if x.shape[:-1].numel() == 0:  # no sample: nothing to run
                return empty_result(x, weight.to(x.dtype), self.ansatz.n_observables)
            if (levels := recording.get()) is not None:
                out = levels.call(layer, x)  # sent with the other calls of its dependency level (qrkt_qiskit.levels)
            else:
                self.check_not_training(layer, x)
                out = self.function(self.values(self.ansatz, x, weight)).reshape(*x.shape[:-1], -1)
            if zeros := self.prepared.zeros:  # measured as the identity (see backends.Prepared)
                out = out.index_fill(-1, torch.tensor(zeros, device=out.device), 0.0)
        backends.progress.count(circuits=x.shape[:-1].numel())
        return out

    def noisy_program(self, weight: torch.Tensor):
        key = (weight.dtype, weight.device)
        if key not in self.noisy:
            self.noisy[key] = backends.noisy_program(self.profile, self.ansatz, dtype=weight.dtype, device=weight.device)
        return self.noisy[key]

    @property
    def prepared(self):
        """The circuit, parameters, observables and estimator of this placement (built on first use)."""
        if self._prepared is None:
            self._prepared = (backends.prepare(self.profile, self.ansatz) if self.user is None
                              else self.user.prepare(self.ansatz))
        return self._prepared

    @property
    def estimator(self):
        return self.prepared.estimator

    @property
    def qnn(self):
        """The EstimatorQNN: it takes the weights as extra inputs, so its input gradients reach the layer's ``weight``."""
        if self._qnn is None:
            self._qnn = _estimator_qnn(self.prepared)
        return self._qnn

    def values(self, ansatz: Ansatz, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Every sample's parameter values ``(P, n_inputs + n_weights)``, in the order of ``prepared.parameters``."""
        flat = x.reshape(-1, ansatz.n_inputs)
        return torch.cat([flat, weight.to(flat.dtype).expand(flat.shape[0], -1)], dim=1)

    def pub(self, values: torch.Tensor) -> tuple:
        """One call's PUB: every observable, broadcast as ``(k, 1)`` against every sample's values."""
        from qiskit.primitives.containers.bindings_array import BindingsArray

        p = self.prepared
        bound = BindingsArray({tuple(p.parameters): values.detach().cpu().double().numpy()})
        return p.circuit, [[o] for o in p.observables], bound

    def function(self, values: torch.Tensor, outputs: torch.Tensor | None = None) -> torch.Tensor:
        """The call as a torch function ``(P, n) -> (P, k)``: run now, or with ``outputs`` measured already."""
        return _QNNFunction.apply(values, self, outputs)

    @property
    def refuses_training(self) -> bool:
        """An IBM device's profile without ``allow_hardware_training``: no gradient is paid for on it."""
        return (self.profile.kind == "ibm" and self.user is None
                and not self.profile.option("allow_hardware_training", False))

    def check_not_training(self, layer, x: torch.Tensor) -> None:
        """Refuse, before any job, a forward pass that builds a graph to train through IBM hardware."""
        if not (self.refuses_training and layer.training and torch.is_grad_enabled()
                and (x.requires_grad or layer.weight.requires_grad)):
            return
        samples = x.shape[:-1].numel()
        cost = hardware_step_cost(self, samples)
        raise backends.BudgetExceededError(
            f"training through backend {self.profile.name!r} runs on IBM hardware: this layer's forward pass and "
            f"parameter-shift gradient on {samples} sample(s) alone are {cost.describe()}; set "
            "allow_hardware_training = true in the profile (or pass allow_hardware_training=True to to_backend) "
            "to pay for it, or call model.eval() or use torch.no_grad() to only evaluate")


def hardware_step_cost(placement: Placement, samples: int):
    """The estimated cost of one call of ``placement``'s layer on ``samples`` samples and its gradient."""
    p = placement.prepared
    n = len(p.parameters)
    shifts = 2 * parameterised_gate_arguments(p.circuit)
    observables = [[o] for o in p.observables]
    model = backends.qpu_model(placement.profile)
    return model.job([(p.circuit, observables, np.zeros((samples, n)))]) + model.job(
        [(p.circuit, observables, np.zeros((samples * shifts, n)))])


def _estimator_qnn(prepared):
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    # The registry gives the (ISA) circuit, observables laid out onto it, and an estimator
    # that decides shots and batching itself.
    return EstimatorQNN(
        circuit=prepared.circuit,
        observables=list(prepared.observables),
        input_params=list(prepared.parameters),
        weight_params=[],
        estimator=prepared.estimator,
        input_gradients=True,  # without it the layers before this one get no gradient
        default_precision=0.0,  # the default would add Gaussian noise to an exact estimator
    )


class _QNNFunction(torch.autograd.Function):
    """An EstimatorQNN as a torch function, in the caller's dtype and device.

    qiskit-machine-learning's TorchConnector returns float32 whatever it is given; the QNN
    itself computes in float64 numpy, so a float64 model keeps its precision here.
    """

    @staticmethod
    def forward(values, placement, outputs=None):
        if outputs is not None:  # measured already, with the other calls of its level
            return outputs.to(values.dtype).clone()
        out = placement.qnn.forward(values.detach().cpu().double().numpy(), np.zeros(0))
        return torch.as_tensor(out, dtype=values.dtype, device=values.device)

    @staticmethod
    def setup_context(ctx, inputs, output):
        values, ctx.placement, _ = inputs
        ctx.save_for_backward(values)

    @staticmethod
    def backward(ctx, grad):
        # The QNN's input Jacobian J (batch, outputs, inputs): dL/dvalues[b] = grad[b] @ J[b].
        values, = ctx.saved_tensors
        placement = ctx.placement
        if placement.refuses_training:
            cost = hardware_step_cost(placement, values.shape[0])
            raise backends.BudgetExceededError(
                f"a backward pass through backend {placement.profile.name!r} runs the parameter-shift gradient on "
                f"IBM hardware ({cost.describe()} with its forward pass); nothing was submitted for it: set "
                "allow_hardware_training = true in the profile to pay for it")
        jacobian, _ = placement.qnn.backward(values.detach().cpu().double().numpy(), np.zeros(0))
        jacobian = torch.as_tensor(np.asarray(jacobian), dtype=grad.dtype, device=grad.device)
        return torch.einsum("bo,boi->bi", grad, jacobian), None, None
