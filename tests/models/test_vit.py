"""The vision transformer counts as documented and patchifies row-major (every variant's gradients: test_models.py)."""

import pytest
import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models import ODE_METHODS, QuantumSpec, VisionTransformer, vit_config
from qrkt_qiskit.models.inputs import patchify
from qrkt_qiskit.resources import resource_report

def _linear(i, o):
    return i * o + o


@pytest.mark.parametrize("blocks", [1, 3])
def test_mnist_parameter_counts_follow_the_architecture(blocks):
    """Ours, derived by hand: see docs/models.md for why the thesis' tables differ."""
    embed = _linear(196, 6) + 6 + 5 * 6  # patches, CLS token, positions
    head = 2 * 6 + _linear(6, 10)  # final LayerNorm + classifier
    norms = 2 * 2 * 6
    classical = 4 * _linear(6, 6) + _linear(6, 3) + _linear(3, 6) + norms
    quantum = 4 * 6 + _linear(6, 3) + 3 + _linear(3, 6) + norms  # qrkt: n weights per circuit
    preset = "mnist" if blocks == 3 else "mnist-1block"
    for method in ODE_METHODS:
        for spec, block in ((None, classical), (QuantumSpec(), quantum)):
            model = VisionTransformer(vit_config(preset, quantum=spec, ode=method))
            assert sum(p.numel() for p in model.parameters()) == embed + blocks * block + head


def test_thesis_qubit_totals_count_every_stage():
    """27 qubits per field evaluation (4 maps × 6 + QMLP 3), 3 blocks: 81 per stage."""
    image = torch.zeros(1, 1, 28, 28)
    reports = [resource_report(VisionTransformer(vit_config("mnist", quantum=QuantumSpec(), ode=m)), image)
               for m in ODE_METHODS]
    assert [r.qubit_total for r in reports] == [81, 162, 243, 324, 324]
    assert {r.distinct_qubits for r in reports} == {81}  # the stages share their circuits
    assert {r.circuits_per_inference for r in reports[3:]} == {4 * 3 * 5 * 5}  # stages x blocks x maps x tokens


def test_cifar_preset_splits_nothing_and_uses_12_qubit_circuits():
    model = VisionTransformer(vit_config("cifar10", quantum=QuantumSpec()))
    widths = sorted({m.ansatz.n_qubits for m in model.modules() if isinstance(m, QuantumLayer)})
    assert widths == [6, 12]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_patches_are_row_major_and_shape_errors_are_one_sentence():
    model = VisionTransformer(vit_config("digits"))
    images = torch.arange(64.0).view(1, 1, 8, 8)
    patches = patchify(images, model.config)
    assert patches.shape == (1, 4, 16)
    assert patches[0, 1].tolist() == [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 8, 8\), got \(2, 1, 28, 28\)"):
        model(torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(patch_size=3), r"image_size=8 is not a multiple of patch_size=3"),
    (dict(ode="euler"), r"unknown ode 'euler'; choose one of: rk1, rk2, rk3, rk4, rk4_enh, none"),
    (dict(pool="max"), r"unknown pool 'max'; choose one of: cls, mean"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vit_config("digits", **kwargs)
    with pytest.raises(ValueError, match=r"unknown model 'imagenet'; choose one of: mnist, mnist-1block, cifar10, digits, digits-lean"):
        vit_config("imagenet")
