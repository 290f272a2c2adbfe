"""The engine under torch's transforms: ``torch.compile``, ``torch.export``, ``vmap``, ``jacrev``.

Both strategies are checked through a `QuantumLayer`, the way users meet them: the
one-layer ``qrkt`` circuit takes the closed form, two layers the statevector path.
"""

import pytest
import torch
import torch._dynamo
from torch import nn

from qrkt_qiskit import QuantumLayer

STRATEGIES = {"closed-form": 1, "statevector": 2}  # the strategy -> layers of the qrkt ansatz that take it


def _layer(strategy: str, n: int = 4, dtype=torch.float64) -> QuantumLayer:
    torch.manual_seed(0)
    layer = QuantumLayer(n, layers=STRATEGIES[strategy]).to(dtype)
    assert (layer._exact_program().simulator() == "closed-form") == (strategy == "closed-form")
    return layer


@pytest.fixture
def no_recompiles():
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        yield
    torch._dynamo.reset()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_compile_cold_matches_eager_and_never_recompiles(strategy, no_recompiles):
    # A model compiled before its quantum layer ever ran (the circuit is compiled when the
    # layer is built and moved, not lazily inside forward, which dynamo would trace into).
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), _layer(strategy, dtype=torch.float32), nn.Linear(4, 2))
    twin = nn.Sequential(nn.Linear(3, 4), QuantumLayer(4, layers=STRATEGIES[strategy]), nn.Linear(4, 2))
    twin.load_state_dict(model.state_dict())
    compiled = torch.compile(model)
    opt, twin_opt = (torch.optim.Adam(m.parameters(), lr=0.05) for m in (model, twin))
    x = torch.rand(16, 3)
    for _ in range(3):  # optimiser steps change the weights: no step may recompile
        for m, o in ((compiled, opt), (twin, twin_opt)):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
        for p, q in zip(model.parameters(), twin.parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(compiled(x), twin(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_export_matches_eager(strategy):
    layer = _layer(strategy)
    x = torch.rand(5, 4, dtype=torch.float64)
    exported = torch.export.export(layer, (x,))
    torch.testing.assert_close(exported.module()(x), layer(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_vmap_matches_a_loop(strategy):
    layer = _layer(strategy)
    x = torch.rand(6, 3, 4, dtype=torch.float64)  # vmap over the first dimension, batches of 3 inside
    expected = torch.stack([layer(sample) for sample in x])
    torch.testing.assert_close(torch.func.vmap(layer)(x), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_jacrev_matches_autograd_for_inputs_and_weights(strategy):
    layer = _layer(strategy)
    x = torch.rand(4, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(layer, x)
    torch.testing.assert_close(torch.func.jacrev(layer)(x), expected, atol=1e-12, rtol=0)

    weights = dict(layer.named_parameters())
    xs = torch.rand(3, 4, dtype=torch.float64)
    by_weight = torch.func.jacrev(lambda p: torch.func.functional_call(layer, p, (xs,)))(weights)["weight"]
    expected = torch.autograd.functional.jacobian(lambda w: torch.func.functional_call(layer, {"weight": w}, (xs,)),
                                                  layer.weight.detach())
    torch.testing.assert_close(by_weight, expected, atol=1e-12, rtol=0)


def test_a_moved_layer_is_ready_for_tracing():
    # .double() after construction builds the float64 program then, so compile and vmap
    # on the moved layer never meet an uncompiled circuit.
    layer = QuantumLayer(3)
    assert (torch.float32, torch.device("cpu")) in layer._exact
    layer.double()
    assert (torch.float64, torch.device("cpu")) in layer._exact
    x = torch.rand(2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(layer)(x), layer(x), atol=1e-12, rtol=0)
