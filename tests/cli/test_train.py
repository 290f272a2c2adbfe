"""`qrkt train`: its manual, its run directory, its progress lines and the options a resumed run refuses."""

import pytest
import torch

from qrkt_qiskit.cli import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu_is_one_line(capsys):
    assert main(["train", "--device", "cuda"]) == 2
    assert capsys.readouterr().err == ("qrkt train: error: device 'cuda' asked for, but torch sees no CUDA GPU here; "
                                       "use cpu\n")


def test_help_reads_like_a_manual(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for text in ("Runge-Kutta", "--resume", "torchrun", "examples:", "--recipe thesis", "the recipe's"):
        assert text in out


def test_resume_refuses_options_that_would_change_the_run(run_dir, capsys):
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--epochs", "5", "--classical", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == (f"qrkt train: error: --resume continues {run_dir} with its own config.json, so it cannot take "
                   "--epochs 5, --classical (the run has epochs=1, quantum=True); start a new run to change them\n")
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--epochs", "1", "--no-progress"]) == 0  # no change


def test_the_run_directory_is_named_before_training_starts(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--blocks", "1", "--ode", "rk1", "--epochs", "1", "--batch-size", "256", "--classical",
                 "--no-progress", "--run-dir", str(run)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"run directory: {run}\n")
    assert captured.err.startswith("epoch 1/1: train_loss ")  # one line per epoch that stays on screen


def test_progress_written_to_a_log_file_is_one_line_per_phase(tmp_path, capsys):
    # a bar redraws itself ten times a second: thousands of updates in a log (571 KB for one demo)
    assert main(["train", "--classical", "--blocks", "1", "--ode", "rk1", "--epochs", "2", "--batch-size", "128",
                 "--run-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    assert "\r" not in err
    assert [line.split(": ")[0] for line in err.splitlines()] == [
        "building the classical digits model (rk1) ...", "loading digits ...",
        "epoch 1/2", "val", "test", "epoch 1/2", "epoch 2/2", "val", "test", "epoch 2/2"]
    assert err.splitlines()[2].startswith("epoch 1/2: 10/10 done in ")
