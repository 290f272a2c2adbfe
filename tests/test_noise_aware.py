"""The device's noise through the toolkit: native vs Aer per layer, refusals, post-norm, noise-aware training.

The engine itself is checked against Aer in tests/engine/test_noisy.py; here the same
profiles run through `QuantumLayer`, `to_backend`, `train` and `noise_study`, and a
noise-aware model is shown to beat its exact-trained twin on the device, judged by Aer.
"""

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.backends import get_profile
from qrkt_qiskit.engine import UnsupportedCircuitError
from qrkt_qiskit.layers import QuantumLayer, to_backend
from qrkt_qiskit.noise_study import noise_study
from qrkt_qiskit.training import TrainConfig, train


@pytest.mark.parametrize("device, n, layers", [("fake-manila", 3, 2), ("fake-lagos", 4, 1)])
def test_native_and_aer_simulators_agree_through_a_layer(device, n, layers):
    torch.manual_seed(0)
    layer = QuantumLayer(n, layers=layers, backend=get_profile(device, shots=None))
    assert layer.simulator == "native" and "simulator='native'" in repr(layer)
    x = torch.rand(6, n) * 3
    native = layer(x)
    layer.to_backend(device, shots=None, simulator="aer")
    assert "simulator='aer'" in repr(layer)
    aer = layer(x)
    assert (native - aer).abs().max() < 1e-5
    # readout error is part of the exact value on both: without it, outputs are larger in magnitude
    layer.to_backend(device, shots=None, readout_error=False)
    assert layer(x).abs().mean() > native.abs().mean()


def test_noise_scale_zero_is_the_exact_engine_and_gradients_flow():
    torch.manual_seed(1)
    layer = QuantumLayer(3, layers=2)
    x = torch.rand(5, 3, requires_grad=True)
    exact = layer(x)
    layer.to_backend("fake-manila", shots=None, noise_scale=0.0)
    assert (layer(x) - exact).abs().max() < 1e-5
    layer.to_backend("fake-manila", shots=None)
    layer(x).sum().backward()
    assert x.grad.abs().sum() > 0 and layer.weight.grad.abs().sum() > 0


def test_a_circuit_too_wide_for_the_noisy_engine_is_refused_natively_and_runs_on_aer_by_default():
    with pytest.raises(UnsupportedCircuitError, match=r"^the circuit uses 1[1-6] qubits of fake_guadalupe \(backend "
                                                      r"'fake-guadalupe'\) after transpilation, more than the 10 the "
                                                      r"noisy engine simulates .*; use simulator='aer'"):
        QuantumLayer(11, backend=get_profile("fake-guadalupe", simulator="native"))
    layer = QuantumLayer(11, backend="fake-guadalupe")
    assert layer.simulator == "aer"


def test_a_device_without_calibration_is_refused(monkeypatch):
    from qiskit.providers.fake_provider import GenericBackendV2

    monkeypatch.setattr(backends.devices, "_device", lambda profile: GenericBackendV2(5, noise_info=False, seed=1))
    with pytest.raises(ValueError, match=r"^backend 'fake-manila': device generic_backend_5q carries no calibration "
                                         r"\(no gate errors, readout errors or T1/T2 in its Target\)"):
        QuantumLayer(2, backend=get_profile("fake-manila", layout_seed=99))  # a layout of its own: a fresh device setup


def test_simulator_option_is_validated():
    with pytest.raises(ValueError, match=r"key 'simulator' must be one of 'auto', 'native', 'aer', got 'gpu'"):
        get_profile("fake-manila", simulator="gpu")
    assert backends.simulator(get_profile("fake-manila")) == "auto"
    assert backends.simulator(get_profile("ibm", device="fake-manila")) == "runtime"
    assert backends.simulator(get_profile("aer")) is None


def test_post_norm_normalises_each_output_over_the_call_and_needs_two_samples():
    layer = QuantumLayer(3, post_norm=True)
    out = layer(torch.rand(4, 5, 3))
    flat = out.reshape(-1, 3)
    assert flat.mean(0).abs().max() < 1e-5 and (flat.std(0, unbiased=False) - 1).abs().max() < 1e-3
    assert "post_norm=True" in repr(layer)
    with pytest.raises(ValueError, match=r"^post-measurement normalisation uses the statistics of the samples in "
                                         r"one call, so it needs at least 2 of them, got 1"):
        layer(torch.rand(1, 3))


def _digits():
    x, y = load_digits(return_X_y=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), perm[:1200], perm[1200:1300]


def _fit(model, x, y, train_idx, steps=150):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = train_idx[torch.randint(len(train_idx), (64,), generator=g)]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def test_noise_aware_training_beats_exact_training_on_the_device_as_aer_simulates_it():
    """Same model, initial weights, data and recipe; one trained through fake-lagos' noise."""
    x, y, train_idx, test_idx = _digits()

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, 4), QuantumLayer(4), nn.Linear(4, 10))

    exact = _fit(model(), x, y, train_idx)
    aware = model()
    to_backend(aware, "fake-lagos", shots=None)
    _fit(aware, x, y, train_idx)
    accuracy = {}
    for name, m in (("exact", exact), ("aware", aware)):
        to_backend(m, "fake-lagos", shots=None, simulator="aer")  # the independent simulator judges
        with torch.no_grad():
            accuracy[name] = (m(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
    assert accuracy["aware"] >= accuracy["exact"] + 0.04, accuracy


def test_train_with_noise_records_it_and_refuses_what_is_not_a_device(tmp_path):
    small = dict(dataset="digits", dim=3, heads=1, mlp_dim=2, blocks=1, ode="rk1", epochs=1, batch_size=256)
    summary = train(TrainConfig(noise="fake-manila", noise_scale=0.5, post_norm=True, **small), tmp_path / "run",
                    progress=False)
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    with pytest.raises(ValueError, match=r"^--noise needs a device profile \(fake-<device>, or ibm for an IBM "
                                         r"device's calibration\), got 'aer' of kind 'aer'"):
        train(TrainConfig(noise="aer", **small), tmp_path / "bad", progress=False)
    with pytest.raises(ValueError, match=r"^noise-aware training needs a quantum model"):
        TrainConfig(noise="fake-manila", quantum=False)
    with pytest.raises(ValueError, match=r"^noise_scale must be a finite number >= 0, got -1"):
        TrainConfig(noise="fake-manila", noise_scale=-1)


def test_noise_study_checks_native_rows_against_aer_and_refuses_resilience_without_a_device(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), QuantumLayer(3), nn.Linear(3, 2))
    x, y = torch.rand(12, 4), torch.randint(0, 2, (12,))
    rows = noise_study(model, x, y, backends=["fake-manila"], shots=[None, 256], aer_check=3, out_dir=tmp_path)
    assert [r.simulator for r in rows] == [None, "native", "native"]
    assert all(r.aer_check is not None and r.aer_check < 1e-5 for r in rows[1:])
    assert "max |native − Aer|" in (tmp_path / "noise_study.md").read_text()
    with pytest.raises(ValueError, match=r"^resilience levels apply to device profiles only \(fake-<device> in the "
                                         r"native noisy engine, ibm through Qiskit Runtime or natively\); add one, "
                                         r"e\.g\. --backends fake-lagos$"):
        noise_study(model, x, y, backends=["aer"], resilience_levels=[0, 1], out_dir=tmp_path)


def test_noise_study_resilience_levels_on_runtime_local_mode(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 2), QuantumLayer(2), nn.Linear(2, 2))
    x, y = torch.rand(3, 4), torch.randint(0, 2, (3,))
    rows = noise_study(model, x, y, backends=["ibm"], shots=[256], resilience_levels=[0, 1], out_dir=tmp_path,
                       backends_dir=_ibm_fake_dir(tmp_path))
    assert [(r.simulator, r.resilience) for r in rows[1:]] == [("runtime", 0), ("runtime", 1)]
    assert (tmp_path / "noise_study.png").stat().st_size > 0


def _ibm_fake_dir(tmp_path):
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "ibm.toml").write_text('kind = "ibm"\ndevice = "fake-manila"\nshots = 256\nexecution = "job"\n')
    return d


def test_qrkt_backends_lists_the_simulator(capsys):
    from qrkt_qiskit.cli import main

    assert main(["backends"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["NAME", "KIND", "SIMULATOR", "SHOTS"]
    assert any(r.split()[:3] == ["fake-<device>", "fake", "auto"] for r in rows)


def test_an_ibm_profile_can_be_simulated_from_its_devices_calibration():
    torch.manual_seed(2)
    layer = QuantumLayer(3, backend=get_profile("fake-manila", shots=None))
    x = torch.rand(4, 3)
    fake = layer(x)
    layer.to_backend("ibm", device="fake-manila", simulator="native", shots=None)
    assert layer.simulator == "native" and (layer(x) - fake).abs().max() < 1e-6
