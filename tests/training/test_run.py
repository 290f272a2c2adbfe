"""The run machinery against hostile and failing file systems: links, full disks, runs that fail before writing."""

import os

import pytest

from qrkt_qiskit.cli import main
from qrkt_qiskit.errors import QrktError
from qrkt_qiskit.training import TrainConfig, train

TINY = ["--blocks", "1", "--ode", "rk1", "--epochs", "1", "--batch-size", "256", "--no-progress"]
CONFIG = TrainConfig(quantum=False, blocks=1, ode="rk1", epochs=2, batch_size=256)  # 5 steps an epoch


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a_lock_file_that_is_a_link_is_refused_and_what_it_points_to_is_untouched(tmp_path, link, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("a file the runner may write, but must not\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(precious) if link == "symbolic" else os.link(precious, run / ".lock")
    assert main(["train", "--classical", *TINY, "--run-dir", str(run)]) == 2
    kind = ("is a symbolic link, which qrkt never writes through" if link == "symbolic"
            else "is not a plain file of its own (a hard link or a device), which qrkt never writes to")
    assert capsys.readouterr().err == f"qrkt train: error: {run / '.lock'} {kind}; remove it and run again\n"
    assert precious.read_text() == "a file the runner may write, but must not\n"
    assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing else written


@pytest.mark.parametrize("argv, message", [
    (["--classical", "--dataset", "cifar10", "--data-root", "{tmp}"], "cifar10 not found: {tmp}/cifar-10-batches-py lacks data_batch_1"),
    (["--noise", "fake-nowhere"], "unknown fake device 'nowhere' for backend 'fake-nowhere'"),
])
def test_a_train_that_fails_before_writing_leaves_no_run_directory(tmp_path, argv, message, capsys):
    run = tmp_path / "runs" / "new"
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["train", *TINY, *argv, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and err.count("\n") == 1
    assert not run.exists()
    assert main(["train", "--classical", *TINY, "--run-dir", str(run)]) == 0  # the same directory takes the corrected run


def _fill(folder):
    """Write zeros into ``folder`` until its file system is full (unbuffered: closing must not write a last part)."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(1 << 16))
        except OSError:
            pass


def test_a_disk_that_fills_mid_run_is_one_sentence_and_the_run_resumes_from_the_last_checkpoint(small_disk, capsys):
    disk = small_disk("16m")
    run = disk / "run"

    def fill_after_the_first_epoch(row):
        if row["epoch"] == 1:
            _fill(disk)

    with pytest.raises(QrktError) as refused:
        train(CONFIG, run, progress=False, on_epoch=fill_after_the_first_epoch)
    message = str(refused.value)
    assert message.startswith(f"{run}/") and ": no space left on its device; free some space, then continue with " \
        f"--resume --run-dir {run} ({run / 'last.pt'} holds 1 epoch(s) and 0 of 5 steps into the next)" in message
    assert not [p for p in run.iterdir() if ".tmp" in p.name]  # no half-written file left
    (disk / "filler").unlink()
    assert main(["train", "--resume", "--run-dir", str(run), "--no-progress"]) == 0
    assert "epoch 2/2" in capsys.readouterr().err


def test_a_disk_full_before_the_first_checkpoint_is_one_line_on_the_command_line(small_disk, capsys):
    run = small_disk("64k") / "run"
    assert main(["train", "--classical", *TINY, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qrkt train: error: {run}/") and err.count("\n") == 1
    assert err.endswith(": no space left on its device; free some space, then start the run again (no checkpoint "
                        f"was written yet, so {run} cannot be resumed)\n")


def test_an_interrupt_while_the_tokenizer_trains_says_nothing_was_trained_and_leaves_no_run(tmp_path):
    import signal
    import subprocess
    import sys

    from ..text_data import write_csv

    write_csv(tmp_path / "data", n_train=20_000, n_test=10)
    run = tmp_path / "run"
    train_ = subprocess.Popen([sys.executable, "-m", "qrkt_qiskit", "train", "--dataset", "imdb", "--data-root",
                               str(tmp_path / "data"), "--classical", "--blocks", "1", "--vocab-size", "500",
                               "--run-dir", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = "started"
    while line and "WordPiece tokenizer" not in line:
        line = train_.stderr.readline()
    train_.send_signal(signal.SIGINT)
    err = line + train_.stderr.read()
    assert train_.wait(timeout=300) == 130
    assert err.endswith("qrkt train: interrupted: while preparing the run, before its first step: nothing was "
                        "trained, so start the run again\n")
    assert not (run / "last.pt").exists() and not (run / ".lock").exists()
