"""Training across devices, noise scales and shots: what a run draws, records and resumes, and what it buys.

A run that draws its noise from several devices must say what it drew from (config.json, a
column per pair in metrics.csv), resume bit-identically after SIGTERM (the draws and the shots
come from generators saved in last.pt), and give a model that holds better than its
exact-trained twin on a device it never saw, judged by Aer.
"""

import csv
import json
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from qrkt_qiskit.errors import Interrupted
from qrkt_qiskit.layers import QuantumLayer, to_backend
from qrkt_qiskit.training import TrainConfig, load_checkpoint, load_model, save_checkpoint, train
from qrkt_qiskit.training.noise import TrainingNoise, sample_shots

# A tiny quantum ViT (3- and 2-qubit circuits, so fake-manila's 5 qubits fit): one epoch of 20 steps.
TINY = dict(dataset="digits", dim=3, heads=1, mlp_dim=2, blocks=1, ode="rk1", epochs=1, batch_size=64)
ACROSS = TrainConfig(noise=("fake-nairobi", "fake-manila"), noise_scale=(1.0, 2.0), train_shots=64, **TINY)
PAIRS = [f"draws {d} x{s}" for d in ("fake-nairobi", "fake-manila") for s in (1, 2)]


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(f)]


def _same_weights(a, b):
    for name in ("last", "best"):
        _, want = load_model(a, name)
        _, got = load_model(b, name)
        for (key, x), y in zip(want.state_dict().items(), got.state_dict().values()):
            assert torch.equal(x, y), (name, key)


@pytest.fixture(scope="module")
def across(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("across")
    train(ACROSS, run_dir, progress=False)
    return run_dir


def test_a_run_across_devices_states_what_it_draws_from_and_what_it_drew(across):
    stored = json.loads((across / "config.json").read_text())["train"]
    assert stored["noise"] == ["fake-nairobi", "fake-manila"] and stored["noise_scale"] == [1.0, 2.0]
    assert stored["train_shots"] == 64 and stored["resilience_level"] == 0
    rows = _metrics(across)
    draws = [int(rows[0][p]) for p in PAIRS]
    assert len(rows) == 1 and sum(draws) == 20 and min(draws) > 0, draws  # one pair per step, every pair drawn


def test_a_run_across_devices_resumes_bit_identically_after_sigterm(tmp_path, across):
    def on_step(step):
        if step == 13:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted, match="holds 0 epoch"):
        train(ACROSS, tmp_path, progress=False, on_step=on_step)
    assert load_checkpoint(tmp_path / "last.pt")["state"]["step"] == 13
    train(ACROSS, tmp_path, resume=True, progress=False)
    _same_weights(across, tmp_path)
    assert _metrics(tmp_path) == _metrics(across)


def test_a_run_saved_with_one_device_as_a_string_still_resumes(tmp_path):
    """Runs written before --noise took a list hold ``"noise": "fake-manila"`` and ``"noise_scale": 1.0``."""
    config = TrainConfig(noise="fake-manila", noise_scale=1.0, **TINY)
    assert config.noise == ("fake-manila",) and config.noise_scale == (1.0,)
    train(config, tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False, on_step=lambda step: step == 4 and _raise(KeyboardInterrupt()))
    old = {**config.to_dict(), "noise": "fake-manila", "noise_scale": 1.0}
    path = tmp_path / "run" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "train": old}))
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    del ckpt["noise"]  # nothing of the training noise was saved then
    save_checkpoint({**ckpt, "config": old}, tmp_path / "run" / "last.pt")
    train(TrainConfig.from_dict(old), tmp_path / "run", resume=True, progress=False)
    _same_weights(tmp_path / "whole", tmp_path / "run")


def _raise(exc):
    raise exc


def test_sampled_outputs_are_a_devices_shots_with_the_exact_gradient_in_training_only():
    out = torch.full((20_000, 2), 0.6, requires_grad=True)
    sampled = sample_shots(out, 100, torch.Generator().manual_seed(0))
    assert set((sampled.detach() * 100).round().long().remainder(2).unique().tolist()) == {0}  # 2k/N - 1, N = 100
    assert abs(sampled.mean().item() - 0.6) < 0.01 and abs(sampled.var().item() - (1 - 0.36) / 100) < 5e-4
    sampled.sum().backward()
    assert torch.equal(out.grad, torch.ones_like(out))  # straight through

    torch.manual_seed(0)
    layer = QuantumLayer(3, post_norm=True)
    noise = TrainingNoise(layer, shots=16, seed=3)
    x = torch.rand(64, 3)
    with noise.step():
        trained = layer(x)
        layer.eval()
        evaluated = layer(x)
    assert torch.equal(evaluated, layer(x))  # exact in eval mode, even inside a step
    assert not torch.allclose(trained, evaluated, atol=1e-3)  # sampled, then normalised over the batch
    assert trained.mean(0).abs().max() < 1e-5


def test_resilience_level_trains_through_runtimes_mitigation_of_each_pair():
    torch.manual_seed(0)
    layer = QuantumLayer(2)
    x = torch.rand(8, 2)
    TrainingNoise(layer, devices=("fake-manila",), resilience_level=1)
    mitigated = layer(x)
    mitigated.sum().backward()
    assert layer.weight.grad.abs().sum() > 0
    to_backend(layer, "fake-manila", simulator="native", shots=None, resilience_level=1)
    assert torch.equal(layer(x), mitigated)
    to_backend(layer, "fake-manila", simulator="native", shots=None)
    assert (layer(x) - mitigated).abs().max() > 1e-3  # TREX moved the values


@pytest.mark.parametrize("options, message", [
    (dict(noise=()), r"^noise must list at least one value, got none"),
    (dict(noise=("fake-manila", "fake-manila")), r"^noise lists 'fake-manila' more than once; give each value once"),
    (dict(noise=("fake-manila", 3)), r"^noise must be a device name or a list of them, got \('fake-manila', 3\)"),
    (dict(noise="fake-manila", noise_scale=()), r"^noise_scale must list at least one value, got none"),
    (dict(noise="fake-manila", noise_scale=(1.0, -2.0)), r"^noise_scale must be a finite number >= 0, got -2.0"),
    (dict(noise="fake-manila", noise_scale="1 2"), r"^noise_scale must be a number or a list of them, got '1 2'"),
    (dict(noise="fake-manila", noise_scale=(1.0, 1)), r"^noise_scale lists 1.0 more than once; give each value once"),
    (dict(train_shots=0), r"^train_shots must be a whole number of shots of at least 1, got 0"),
    (dict(train_shots=64, quantum=False), r"^--train-shots samples circuit outputs, so it needs a quantum model; "
                                          r"drop --train-shots or --classical"),
    (dict(resilience_level=3, noise="fake-manila"), r"^resilience_level must be 0, 1 or 2, got 3"),
    (dict(resilience_level=1), r"^--resilience-level mitigates a device's noise, so it needs --noise DEVICE"),
    (dict(resilience_level=1, noise="fake-manila", train_shots=64),
     r"^--train-shots samples each output as an unmitigated measurement, while at --resilience-level 1 a device's "
     r"shot noise is that of the mitigated estimate; use one of them"),
])
def test_bad_noise_options_are_one_sentence(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_an_unknown_device_anywhere_in_the_list_is_refused_before_anything_is_built(tmp_path):
    with pytest.raises(ValueError, match=r"^unknown fake device 'nairobbi' for backend 'fake-nairobbi' \(did you mean "
                                         r"'fake-nairobi'\?\)"):
        train(TrainConfig(noise=("fake-manila", "fake-nairobbi"), **TINY), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"^--noise needs a device profile \(fake-<device>, or ibm for an IBM "
                                         r"device's calibration\), got 'aer' of kind 'aer'"):
        train(TrainConfig(noise=("fake-manila", "aer"), **TINY), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_the_command_line_takes_lists_and_refuses_a_bad_one(tmp_path, capsys):
    from qrkt_qiskit.cli import main

    assert main(["train", "--noise", "fake-manila", "--noise-scale", "1", "-1", "--run-dir", str(tmp_path)]) != 0
    assert "noise_scale must be a finite number >= 0, got -1.0" in capsys.readouterr().err
    assert main(["train", "--classical", "--train-shots", "8", "--run-dir", str(tmp_path)]) != 0
    assert "--train-shots samples circuit outputs, so it needs a quantum model" in capsys.readouterr().err


def _digits():
    x, y = load_digits(return_X_y=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y), perm[:1200], perm[1200:1400]


def test_training_across_devices_and_shots_beats_exact_training_on_a_device_it_never_saw_as_aer_simulates_it():
    """Same model, initial weights, data and recipe; one trained through fake-nairobi and fake-manila at noise
    scales 1 and 2 with 128 shots, judged on fake-lagos at noise scale 1.4, a stand-in for hardware harsher than
    its snapshot (one of the layout's qubits then reads with 49 % readout error; at scale 1 the two score alike
    there, 77.3 % and 77.7 % natively)."""
    x, y, train_idx, test_idx = _digits()

    def fitted(noise_options):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 4), QuantumLayer(4), nn.Linear(4, 10))
        noise = TrainingNoise(model, **noise_options)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        g = torch.Generator().manual_seed(1)
        for _ in range(150):
            idx = train_idx[torch.randint(len(train_idx), (64,), generator=g)]
            with noise.step():
                loss = F.cross_entropy(model(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return model

    models = {"exact": fitted({}),
              "across": fitted(dict(devices=("fake-nairobi", "fake-manila"), scales=(1.0, 2.0), shots=128))}
    accuracy = {}
    for name, model in models.items():
        to_backend(model, "fake-lagos", shots=None, noise_scale=1.4, simulator="aer")  # the independent simulator
        with torch.no_grad():
            accuracy[name] = (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
    assert accuracy["across"] >= accuracy["exact"] + 0.05, accuracy  # measured: 0.540 against 0.435
