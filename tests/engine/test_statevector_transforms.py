"""The statevector path under `torch.func` transforms and `torch.compile`, as whole models will use it."""

import pytest
import torch
from hypothesis import assume, given, settings
from torch.func import grad, jacrev, vmap

from qrkt_qiskit import compile_ansatz, make_ansatz

from ..strategies import random_ansatze


def program(ansatz):
    """The statevector program without the call-time checks that read values (they cannot run under vmap)."""
    prog = compile_ansatz(ansatz, torch.float64, method="statevector")
    return lambda x, w: prog(x, w)


def samples(ansatz, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, ansatz.n_inputs, generator=g, dtype=torch.float64) * 6 - 3,
            torch.rand(ansatz.n_weights, generator=g, dtype=torch.float64) * 6 - 3)


@settings(max_examples=10, deadline=None)
@given(random_ansatze(max_qubits=4, max_gates=10))
def test_vmap_over_samples_and_over_weights(ansatz):
    f = program(ansatz)
    x, w = samples(ansatz)
    assert torch.allclose(vmap(lambda row: f(row, w))(x), f(x, w), atol=1e-12)
    ws = torch.stack([w, w + 0.5, -w])
    assert torch.allclose(vmap(lambda wi: f(x, wi))(ws), torch.stack([f(x, wi) for wi in ws]), atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(random_ansatze(max_qubits=4, max_gates=10))
def test_jacrev_and_per_sample_gradients_match_autograd(ansatz):
    assume(ansatz.n_inputs > 0 and ansatz.n_weights > 0)
    f = program(ansatz)
    x, w = samples(ansatz)
    jx, jw = jacrev(f, argnums=(0, 1))(x, w)
    ref_x, ref_w = torch.autograd.functional.jacobian(f, (x, w))
    assert torch.allclose(jx, ref_x, atol=1e-12) and torch.allclose(jw, ref_w, atol=1e-12)
    per_sample = vmap(grad(lambda row, w: f(row, w).sum()), in_dims=(0, None))(x, w)
    assert torch.allclose(per_sample, ref_x.sum(1).diagonal(dim1=0, dim2=1).T, atol=1e-12)


def test_hessian_by_jacrev_of_jacrev():
    f = program(make_ansatz("qrkt", 3, 2))
    x, w = samples(make_ansatz("qrkt", 3, 2))
    hessian = jacrev(jacrev(lambda w: f(x, w).sum()))(w)
    assert torch.allclose(hessian, torch.autograd.functional.hessian(lambda w: f(x, w).sum(), w), atol=1e-10)


@pytest.mark.parametrize("name, layers", [("qrkt", 2), ("basic", 3)])
def test_torch_compile_has_no_graph_break_and_no_recompile_when_weights_change(name, layers):
    ansatz = make_ansatz(name, 4, layers)
    f = program(ansatz)
    x, w = samples(ansatz)
    explained = torch._dynamo.explain(f)(x, w)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(f, backend=counter)
    for step in range(3):
        ws = (w + 0.1 * step).requires_grad_()
        xs = x.clone().requires_grad_()
        out = compiled(xs, ws)
        out.sum().backward()
        xr, wr = x.clone().requires_grad_(), (w + 0.1 * step).requires_grad_()
        f(xr, wr).sum().backward()
        assert torch.allclose(out, f(x, ws.detach()), atol=1e-12)
        assert torch.allclose(xs.grad, xr.grad, atol=1e-12) and torch.allclose(ws.grad, wr.grad, atol=1e-12)
    assert counter.frame_count == 1


@pytest.mark.parametrize("name, layers", [("qrkt", 2), ("basic", 2)])
def test_inductor_gradients_match_eager_inside_a_model(name, layers):
    """torch.compile's default backend, the circuit fed by a layer inside the compiled graph.

    Inductor once returned zero gradients for the weights of a block here (complex matmuls
    of transposed or conjugated operands; `sweep._cmatmul` avoids them).
    """
    torch.manual_seed(0)
    ansatz = make_ansatz(name, 4, layers)
    prog = compile_ansatz(ansatz, torch.float32, method="statevector")
    linear, w = torch.nn.Linear(3, 4), torch.nn.Parameter(torch.rand(ansatz.n_weights) * 6)
    x = torch.rand(16, 3)

    def loss(x):
        return prog(linear(x), w).square().sum()

    grads = []
    for fn in (loss, torch.compile(loss)):
        w.grad = linear.weight.grad = None
        fn(x).backward()
        grads.append((w.grad.clone(), linear.weight.grad.clone()))
    for eager, compiled in zip(*grads):
        assert torch.allclose(eager, compiled, atol=1e-4, rtol=1e-4)
