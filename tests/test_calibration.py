"""Calibration on a few target samples: per-output maps fitted on a device, one image at a time, kept as JSON."""

import json

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from qrkt_qiskit.calibration import FORMAT, Calibration, fit_calibration, remove_calibration
from qrkt_qiskit.layers import QuantumLayer, to_backend


class _Twice(nn.Module):
    """One quantum layer called twice per forward pass, as an ODE block calls its layers once per stage."""

    def __init__(self, n_in=8, n_qubits=3, post_norm=True):
        super().__init__()
        self.to_angles = nn.Linear(n_in, n_qubits)
        self.circuit = QuantumLayer(n_qubits, post_norm=post_norm)
        self.head = nn.Linear(n_qubits, 4)

    def forward(self, x):
        h = self.circuit(self.to_angles(x))
        return self.head(self.circuit(h + 0.5))


@pytest.fixture
def manila_model():
    torch.manual_seed(0)
    return to_backend(_Twice().eval(), "fake-manila", shots=None)


@torch.no_grad()
def test_one_image_at_a_time_equals_the_batch_with_the_fitted_statistics(manila_model):
    images = torch.rand(16, 8)
    batch = manila_model(images)  # post_norm: each call normalised with this batch's statistics
    with pytest.raises(ValueError, match="needs at least 2 of them, got 1"):
        manila_model(images[:1])
    calibration = fit_calibration(manila_model, images)
    assert calibration.maps["circuit"].scale.shape == (2, 3) and calibration.maps["circuit"].fitted == "post_norm"
    with calibration.apply(manila_model):
        single = torch.cat([manila_model(image[None]) for image in images])
        assert "output_map=2 call(s)" in repr(manila_model.circuit)
    assert (single - batch).abs().max() < 1e-5
    with pytest.raises(ValueError, match="needs at least 2 of them"):  # leaving the block removed the maps
        manila_model(images[:1])


@torch.no_grad()
def test_on_the_exact_engine_a_post_norm_layer_gets_the_statistics_and_any_other_the_identity():
    torch.manual_seed(0)
    model = nn.Sequential(_Twice(), _Twice(n_in=4, post_norm=False)).eval()
    images = torch.rand(8, 8)
    calibration = fit_calibration(model, images)
    assert calibration.backend["name"] == "native" and calibration.maps["0.circuit"].fitted == "post_norm"
    assert torch.allclose(calibration.maps["1.circuit"].scale, torch.ones(2, 3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(calibration.maps["1.circuit"].shift, torch.zeros(2, 3, dtype=torch.float64), atol=1e-6)
    batch = model(images)
    with calibration.apply(model):
        assert torch.allclose(torch.cat([model(image[None]) for image in images]), batch, atol=1e-5)


@torch.no_grad()
def test_reference_images_give_a_post_norm_layer_the_exact_engines_statistics(manila_model):
    reference, images = torch.rand(64, 8), torch.rand(4, 8)
    calibration = fit_calibration(manila_model, images, reference=reference)
    assert calibration.reference == 64 and "post-norm statistics of 64 images on the exact engine" in calibration.summary()
    native = _Twice().eval()
    native.load_state_dict(manila_model.state_dict())
    on_exact_engine = fit_calibration(native, images, reference=reference)  # there the device match is the identity
    expected = fit_calibration(native, reference).maps["circuit"]
    assert torch.allclose(on_exact_engine.maps["circuit"].scale, expected.scale, atol=1e-5)
    assert torch.allclose(on_exact_engine.maps["circuit"].shift, expected.shift, atol=1e-5)
    with calibration.apply(manila_model):  # the device's values, matched and normalised: close to the exact engine's
        device = torch.cat([manila_model(image[None]) for image in reference[:16]])
    with on_exact_engine.apply(native):
        exact = native(reference[:16])
    assert (device - exact).abs().max() < 0.2


def _digits_classifier():
    """A small digits model trained exactly here: two 6-qubit layers, so a shrunk output is felt downstream."""
    torch.manual_seed(0)
    data = load_digits()
    x, y = torch.tensor(data.data, dtype=torch.float32) / 16, torch.tensor(data.target)
    model = nn.Sequential(nn.Linear(64, 6), QuantumLayer(6), nn.Linear(6, 6), QuantumLayer(6), nn.Linear(6, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        loss = F.cross_entropy(model(x[:300]), y[:300])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), x, y


def test_calibration_recovers_accuracy_on_a_device_with_large_readout_error():
    model, x, y = _digits_classifier()
    test_x, test_y = x[1400:], y[1400:]

    @torch.no_grad()
    def accuracy():
        return (model(test_x).argmax(1) == test_y).float().mean().item()

    exact = accuracy()
    to_backend(model, "fake-lagos", shots=None)  # four of six outputs read with 14-35 % error
    noisy = accuracy()
    fit_calibration(model, x[:16]).apply(model)  # 16 training images
    calibrated = accuracy()
    assert noisy < exact - 0.1  # measured: 71.3 % exact, 53.1 % on fake-lagos
    assert calibrated > exact - 0.03  # measured: 71.3 %


@torch.no_grad()
def test_the_fit_matches_each_output_to_the_exact_engine_and_keeps_where_it_came_from():
    model = to_backend(_Twice(post_norm=False).eval(), "fake-manila", shots=None, noise_scale=2.0)
    images = torch.rand(32, 8)
    calibration = fit_calibration(model, images, indices=range(32))
    first = model.circuit(model.to_angles(images))  # device values of the first call
    with calibration.apply(model):
        mapped = model.circuit(model.to_angles(images))
    exact = QuantumLayer(3, initial_weights=model.circuit.weight)(model.to_angles(images))
    assert torch.allclose(mapped.mean(0), exact.mean(0), atol=1e-5)
    assert torch.allclose(mapped.std(0), exact.std(0), atol=1e-5)
    assert (first.std(0) < exact.std(0)).all()  # the device shrank every output
    assert calibration.backend == {"name": "fake-manila", "device": "manila", "simulator": "native", "shots": None,
                                   "noise_scale": 2.0, "resilience_level": 0, "seed": None}
    assert (calibration.samples, calibration.indices[-1]) == (32, 31)
    assert "32 images on fake-manila: 1 layer(s) moments, scale " in calibration.summary()


@torch.no_grad()
def test_a_saved_calibration_loads_back_the_same_and_stays_out_of_the_state_dict(manila_model, tmp_path):
    images = torch.rand(8, 8)
    calibration = fit_calibration(manila_model, images, indices=[3, 1, 4, 1, 5, 9, 2, 6])
    keys = set(manila_model.state_dict())
    path = tmp_path / "calibrations" / "fake-manila.json"
    path.parent.mkdir()
    calibration.save(path)
    assert json.loads(path.read_text())["format"] == FORMAT
    assert [p.name for p in path.parent.iterdir()] == ["fake-manila.json"]  # no temporary file left behind
    loaded = Calibration.load(path)
    assert (loaded.backend, loaded.samples, loaded.indices, loaded.version, loaded.created) == (
        calibration.backend, 8, [3, 1, 4, 1, 5, 9, 2, 6], calibration.version, calibration.created)
    for name, layer_map in calibration.maps.items():
        assert torch.equal(loaded.maps[name].scale, layer_map.scale) and torch.equal(loaded.maps[name].shift, layer_map.shift)
    calibration.apply(manila_model)
    before = manila_model(images[:1])
    loaded.apply(manila_model)
    assert torch.equal(manila_model(images[:1]), before)
    assert set(manila_model.state_dict()) == keys
    remove_calibration(manila_model)
    assert manila_model.circuit.output_map is None


@torch.no_grad()
def test_fitting_refuses_what_it_cannot_fit():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"^Linear has no QuantumLayer to calibrate$"):
        fit_calibration(nn.Linear(2, 2), torch.rand(4, 2))
    model = nn.Sequential(_Twice(), to_backend(nn.Sequential(QuantumLayer(4)), "fake-manila", shots=None)).eval()
    with pytest.raises(ValueError, match=r"^calibration fits a model's quantum layers on one backend, but they run on "
                                         r"fake-manila, native; put them all on the target device first "
                                         r"\(to_backend\(model, 'fake-lagos'\)\)$"):
        fit_calibration(model, torch.rand(4, 8))
    model = to_backend(_Twice().eval(), "fake-manila", shots=None)
    with pytest.raises(ValueError, match=r"^calibration fits statistics over several images, so it needs at least 2, got 1$"):
        fit_calibration(model, torch.rand(1, 8))
    idle = nn.ModuleDict({"used": model, "unused": QuantumLayer(3, backend=model.circuit.profile)})
    idle.forward = model.forward
    with pytest.raises(ValueError, match=r"^quantum layer 'unused' was not called on these images, so nothing fits it$"):
        fit_calibration(idle, torch.rand(4, 8))


@torch.no_grad()
def test_a_calibration_is_applied_only_to_its_model_and_device(manila_model):
    calibration = fit_calibration(manila_model, torch.rand(8, 8))
    other = to_backend(nn.Sequential(QuantumLayer(3)), "fake-manila", shots=None)
    with pytest.raises(ValueError, match=r"^this calibration does not match the model: quantum layer '0' is in one but "
                                         r"not the other; fit a calibration for this model \(qrkt calibrate\)$"):
        calibration.apply(other)
    wider = to_backend(_Twice(n_qubits=2), "fake-manila", shots=None)
    with pytest.raises(ValueError, match=r"^this calibration does not match the model: layer 'circuit' has 2 outputs, "
                                         r"the calibration 3; fit a calibration for this model \(qrkt calibrate\)$"):
        calibration.apply(wider)
    to_backend(manila_model, "fake-nairobi", shots=None)
    with pytest.raises(ValueError, match=r"^this calibration was fitted on fake-manila, but layer 'circuit' runs on "
                                         r"fake-nairobi; fit one there \(qrkt calibrate --backend fake-nairobi\)$"):
        calibration.apply(manila_model)
    to_backend(manila_model, "fake-manila", shots=1024, noise_scale=2.0)
    with pytest.warns(UserWarning, match=r"^applying a calibration fitted on fake-manila with other settings: shots 1024 "
                                         r"\(fitted with None\), noise_scale 2.0 \(fitted with 1.0\)$"):
        calibration.apply(manila_model)
    assert manila_model.circuit.output_map is not None


def test_loading_refuses_what_is_not_a_calibration(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^no calibration at .*missing.json$"):
        Calibration.load(tmp_path / "missing.json")
    for text in ("not json", '{"format": "qrkt-checkpoint/2"}', json.dumps({"format": FORMAT, "backend": {}, "samples": 2,
                                                                        "maps": {"q": {"fitted": "moments", "scale": [[1.0]],
                                                                                       "shift": [[0.0, 1.0]]}}})):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ValueError, match=r"bad.json is not a calibration written by qrkt calibrate \(expected "
                                             r"format 'qrkt-calibration/1'\): "):
            Calibration.load(tmp_path / "bad.json")


def test_an_output_map_must_fit_the_layer():
    layer = QuantumLayer(3)
    with pytest.raises(ValueError, match=r"^an output map of this 3-output layer needs scale and shift of shape "
                                         r"\(calls, 3\), got \(3,\) and \(3,\)$"):
        layer.set_output_map(torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"^an output map's scale and shift must be finite$"):
        layer.set_output_map(torch.full((1, 3), float("nan")), torch.zeros(1, 3))
