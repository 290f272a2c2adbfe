"""The training loop: it learns, it resumes to the same weights, it runs under torchrun."""

import csv
import os
import subprocess
import sys

import pytest
import torch

from qrkt_qiskit.training import CheckpointError, TrainConfig, load_checkpoint, load_model, train

# A small quantum run on digits: one rk2 block, 20 steps per epoch.
SMALL = TrainConfig(blocks=1, ode="rk2", epochs=2, batch_size=64, lr=1e-2)


class _Stop(Exception):
    """Stands for a crash: nothing catches it, so no checkpoint is written on the way out."""


def _stop_at(step, exc):
    def on_step(global_step):
        if global_step == step:
            raise exc
    return on_step


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(SMALL, run_dir, progress=False)
    return run_dir


def test_quantum_vit_learns_digits(tmp_path):
    config = TrainConfig(blocks=1, ode="rk1", epochs=6, batch_size=32, lr=1e-2)
    summary = train(config, tmp_path, progress=False)
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    assert summary["test_auc"] > 0.85
    assert summary["qubits"] == 27 and summary["circuit_weights"] == 4 * 6 + 3


@pytest.mark.parametrize(("exc", "checkpoint_every"), [(KeyboardInterrupt(), 0), (_Stop(), 5)])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, uninterrupted, exc, checkpoint_every):
    """Ctrl-C checkpoints where it stops; a crash falls back to the last periodic checkpoint."""
    config = TrainConfig(**{**SMALL.to_dict(), "checkpoint_every": checkpoint_every})
    reference = uninterrupted
    if checkpoint_every:  # the reference must have the same config to compare config.json-free state
        reference = tmp_path / "reference"
        train(config, reference, progress=False)
    with pytest.raises(type(exc)):
        train(config, tmp_path / "run", progress=False, on_step=_stop_at(27, exc))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["state"]["step"] == (7 if checkpoint_every == 0 else 5)
    train(config, tmp_path / "run", resume=True, progress=False)
    for name in ("last", "best"):
        _, want = load_model(reference, name)
        _, got = load_model(tmp_path / "run", name)
        for (key, a), b in zip(want.state_dict().items(), got.state_dict().values()):
            assert torch.equal(a, b), key
    assert _metrics(tmp_path / "run") == _metrics(reference)


def test_existing_run_and_changed_config_are_refused(tmp_path, uninterrupted):
    with pytest.raises(FileExistsError, match=r"already holds a run; resume it \(--resume\) or choose another directory"):
        train(SMALL, uninterrupted, progress=False)
    changed = TrainConfig(**{**SMALL.to_dict(), "lr": 0.5, "seed": 4})
    with pytest.raises(ValueError, match=r"cannot resume .* with a different configuration \(changed: lr, seed\)"):
        train(changed, uninterrupted, resume=True, progress=False)


def test_run_directory_holds_what_a_person_reads(uninterrupted):
    names = {p.name for p in uninterrupted.iterdir()}
    assert {"config.json", "metrics.csv", "curves.png", "last.pt", "best.pt", "summary.json"} <= names
    rows = _metrics(uninterrupted)
    assert len(rows) == 2
    assert {"train_loss", "val_auc", "test_f1", "test_accuracy", "lr"} <= set(rows[0])
    assert not [n for n in names if n.endswith(".tmp")]


def test_checkpoint_write_interrupted_leaves_the_previous_one(tmp_path, monkeypatch):
    from qrkt_qiskit.training import checkpoint

    path = tmp_path / "last.pt"
    checkpoint.save_checkpoint({"value": torch.ones(3)}, path)

    def dies_halfway(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint({"value": torch.zeros(3)}, path)
    assert torch.equal(load_checkpoint(path)["value"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_truncated_and_foreign_checkpoints_are_one_sentence(tmp_path, uninterrupted):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match=r"corrupt.pt is not a readable checkpoint \(corrupt or truncated\)"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.pt"
    data = (uninterrupted / "last.pt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated.pt is not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign.pt was not written by qrkt \(expected format 'qrkt-checkpoint/2'\)"):
        load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_torchrun_two_processes_follow_the_single_process_trajectory(tmp_path, uninterrupted):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "qrkt_qiskit",
           "train", "--blocks", "1", "--ode", "rk2", "--epochs", "2", "--batch-size", "64", "--lr", "1e-2",
           "--no-progress", "--run-dir", str(tmp_path / "ddp")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=300)
    single, ddp = _metrics(uninterrupted), _metrics(tmp_path / "ddp")
    for a, b in zip(single, ddp):
        for key in ("train_loss", "val_loss", "test_loss", "val_auc"):
            assert abs(float(a[key]) - float(b[key])) < 1e-4, key
    _, want = load_model(uninterrupted, "last")
    _, got = load_model(tmp_path / "ddp", "last")
    for a, b in zip(want.parameters(), got.parameters()):
        assert torch.allclose(a, b, atol=1e-4)


def test_sigterm_checkpoints_like_ctrl_c(tmp_path):
    code = ("import os, signal; from qrkt_qiskit.training import TrainConfig, train\n"
            "def on_step(step):\n"
            "    if step == 3: os.kill(os.getpid(), signal.SIGTERM)\n"
            f"train(TrainConfig(blocks=1, ode='rk1', epochs=1, batch_size=64), {str(tmp_path)!r}, progress=False, on_step=on_step)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
    assert load_checkpoint(tmp_path / "last.pt")["state"]["step"] == 3


def test_random_bytes_are_always_a_checkpoint_error(tmp_path):
    """Garbage fails anywhere in torch's unpickler; every failure must be the same one sentence."""
    rng = torch.Generator().manual_seed(0)
    path = tmp_path / "garbage.pt"
    for size in [0, 1, 16, 256, 4096] * 20:
        path.write_bytes(bytes(torch.randint(0, 256, (size,), generator=rng, dtype=torch.uint8).tolist()))
        with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
            load_checkpoint(path)


def test_evaluations_accumulate_with_every_column_kept(tmp_path):
    import csv

    from qrkt_qiskit.training.report import append_evaluation

    append_evaluation(tmp_path, {"backend": "native", "accuracy": 0.9})
    append_evaluation(tmp_path, {"backend": "aer", "shots": 1024, "accuracy": 0.8})
    rows = list(csv.DictReader((tmp_path / "evaluations.csv").read_text().splitlines()))
    assert rows == [{"backend": "native", "accuracy": "0.9", "shots": ""},
                    {"backend": "aer", "accuracy": "0.8", "shots": "1024"}]
    assert [p.name for p in tmp_path.iterdir()] == ["evaluations.csv"]  # no temporary file left
