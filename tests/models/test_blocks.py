"""ODE blocks against their analytic updates, attention's padding mask, shared stage weights."""

import pytest
import torch
from torch import nn

from qrkt_qiskit.models import ODE_METHODS, Attention, ODEBlock, QuantumSpec, TransformerLayer

DIM = 4


def _taylor(a: torch.Tensor, coefficients) -> torch.Tensor:
    """Σ c_k A^k: what each Runge-Kutta step is for the linear field F(y) = A y."""
    out, power = torch.zeros_like(a), torch.eye(len(a), dtype=a.dtype)
    for c in coefficients:
        out, power = out + c * power, power @ a
    return out


# For F(y) = A y every method is a polynomial in A: the textbook ones are the Taylor series of
# exp(A) to their order; rk4_enh (y + F1 + F4, each stage a full step from the last) is I + 2A + A² + A³ + A⁴.
ANALYTIC = {
    "rk1": (1, 1),
    "rk2": (1, 1, 1 / 2),
    "rk3": (1, 1, 1 / 2, 1 / 6),
    "rk4": (1, 1, 1 / 2, 1 / 6, 1 / 24),
    "rk4_enh": (1, 2, 1, 1, 1),
}


class _Linear(ODEBlock):
    """The block with its field replaced by F(y) = A y."""

    def __init__(self, method, a):
        super().__init__(DIM, heads=2, mlp_dim=3, method=method)
        self.a_matrix = a

    def f(self, y, padding_mask=None, stage=0):
        return y @ self.a_matrix.T


@pytest.mark.parametrize("method", ODE_METHODS)
def test_rk_step_is_its_analytic_update_for_a_linear_field(method):
    torch.manual_seed(0)
    a = 0.3 * torch.randn(DIM, DIM, dtype=torch.float64)
    y = torch.randn(2, 5, DIM, dtype=torch.float64)
    got = _Linear(method, a).double()(y)
    want = y @ _taylor(a, ANALYTIC[method]).T
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("quantum", [None, QuantumSpec()])
def test_stages_share_one_field(quantum):
    counts = {m: sum(p.numel() for p in ODEBlock(6, heads=2, mlp_dim=3, method=m, quantum=quantum).parameters())
              for m in ODE_METHODS}
    assert len(set(counts.values())) == 1
    block = ODEBlock(6, heads=2, mlp_dim=3, method="rk4")
    calls = []
    block.attention.register_forward_hook(lambda *_: calls.append(1))
    block(torch.randn(1, 3, 6))
    assert len(calls) == block.stages == 4


def test_entry_norm_starts_from_the_normalised_input():
    torch.manual_seed(1)
    block = ODEBlock(6, heads=2, mlp_dim=3, method="rk2", norm="entry")
    x = 3 + 2 * torch.randn(2, 4, 6)
    y = nn.functional.layer_norm(x, (6,))
    field = lambda v: block.attention(v) + block.mlp(v)  # noqa: E731: no norm inside F
    f1 = field(y)
    assert torch.allclose(block(x), y + 0.5 * (f1 + field(y + f1)), atol=1e-6)
    assert isinstance(block.attention_norm, nn.Identity)


def test_plain_layer_is_two_pre_norm_residuals():
    torch.manual_seed(2)
    layer = TransformerLayer(6, heads=3, mlp_dim=5)
    x = torch.randn(2, 4, 6)
    h = x + layer.attention(layer.attention_norm(x))
    assert torch.allclose(layer(x), h + layer.mlp(layer.mlp_norm(h)), atol=1e-6)


@pytest.mark.parametrize("quantum", [None, QuantumSpec()])
def test_padding_does_not_change_real_tokens(quantum):
    torch.manual_seed(3)
    attention = Attention(6, 2, quantum=quantum)
    x = torch.randn(2, 5, 6)
    padded = torch.cat([x, torch.randn(2, 4, 6)], dim=1)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[:, 5:] = True
    assert torch.allclose(attention(padded, mask)[:, :5], attention(x), atol=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(method="rk5"), r"unknown ODE method 'rk5'; choose one of: rk1, rk2, rk3, rk4, rk4_enh"),
    (dict(norm="post"), r"unknown norm 'post'; choose one of: pre, entry"),
    (dict(heads=4), r"dim=6 must be a positive multiple of heads=4"),
])
def test_block_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ODEBlock(6, **{"heads": 2, "mlp_dim": 3, **kwargs})


def test_quantum_spec_errors():
    with pytest.raises(ValueError, match=r"unknown ansatz 'xyz'; choose one of: qrkt, qrkt-2n, qrkt-reupload, basic"):
        QuantumSpec(ansatz="xyz")
    with pytest.raises(ValueError, match=r"quantum layers must be a positive integer, got 0"):
        QuantumSpec(layers=0)
    with pytest.raises(ValueError, match=r"max_qubits must be a positive integer or None, got -1"):
        QuantumSpec(max_qubits=-1)
