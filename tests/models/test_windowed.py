"""Windowed attention: full attention when the window covers the grid, and exactly local otherwise."""

import pytest
import torch

from qrkt_qiskit.models import ODEBlock, TransformerLayer
from qrkt_qiskit.models.windowed import Windowed


def _block():
    torch.manual_seed(0)
    return TransformerLayer(8, heads=2, mlp_dim=16).eval()


def test_a_window_covering_the_grid_is_full_attention():
    block = _block()
    x = torch.randn(3, 64, 8)
    torch.testing.assert_close(Windowed(block, side=8, window=8)(x), block(x), atol=0, rtol=0)


def test_each_window_is_full_attention_on_its_own_tokens_and_sees_no_other():
    block = ODEBlock(8, heads=2, mlp_dim=16, method="rk4_enh").eval()
    windowed = Windowed(block, side=8, window=4)
    x = torch.randn(2, 64, 8)
    y = windowed(x)
    grid = torch.arange(64).view(8, 8)
    first = grid[:4, :4].flatten()  # the top-left window's tokens
    torch.testing.assert_close(y[:, first], block(x[:, first]), atol=1e-6, rtol=0)  # full attention inside it
    perm = first[torch.randperm(16, generator=torch.Generator().manual_seed(1))]
    shuffled = x.clone()
    shuffled[:, first] = x[:, perm]  # permute tokens inside one window
    z = windowed(shuffled)
    torch.testing.assert_close(z[:, first], y[:, perm], atol=1e-6, rtol=0)  # equivariant inside it
    others = torch.tensor([i for i in range(64) if i not in set(first.tolist())])
    torch.testing.assert_close(z[:, others], y[:, others], atol=0, rtol=0)  # nothing outside it moved
    nudged = x.clone()
    nudged[:, first[0]] += 1.0
    changed = (windowed(nudged) - y).abs().amax(dim=(0, 2)) > 0
    assert changed[first].all() and not changed[others].any()  # every token of the window attends to it


def test_a_window_that_does_not_divide_the_grid_is_refused():
    with pytest.raises(ValueError, match=r"the window \(5\) must divide the grid's side \(16\)"):
        Windowed(_block(), side=16, window=5)
