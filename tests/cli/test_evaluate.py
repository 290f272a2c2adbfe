"""`qrkt evaluate` and `qrkt results`: a trained run on any backend, and runs side by side in the thesis' table."""

import csv
import shutil

from qrkt_qiskit.cli import main


def test_train_prints_the_thesis_table(run_dir, capsys):
    assert main(["results", str(run_dir), "--output", str(run_dir / "table.md")]) == 0
    out = capsys.readouterr().out
    assert "| Run | ODE | Train Time (s) | Test Accuracy | Test F1 | Best AUC Epoch | # Parameters | # Qubits |" in out
    assert "| QRK1 |" in out and "| 27 |" in out
    assert (run_dir / "table.md").read_text().strip() == out.strip()


def test_evaluate_runs_the_same_weights_through_qiskit(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--backend", "native", "--limit", "8"]) == 0
    assert main(["evaluate", str(run_dir), "--backend", "estimator", "--limit", "8"]) == 0
    assert main(["evaluate", str(run_dir), "--backend", "fake-nairobi", "--shots", "128", "--noise-scale", "0",
                 "--limit", "2"]) == 0
    # the same device exactly, in the native noisy engine and on Aer: the same numbers
    for simulator in ("native", "aer"):
        assert main(["evaluate", str(run_dir), "--backend", "fake-nairobi", "--exact", "--simulator", simulator,
                     "--limit", "2"]) == 0
    with open(run_dir / "evaluations.csv") as f:
        native, estimator, device, noisy_native, noisy_aer = list(csv.DictReader(f))
    assert (device["shots"], device["noise_scale"], native["shots"]) == ("128", "0.0", "")
    assert (noisy_native["backend"], noisy_aer["backend"], noisy_aer["shots"]) == (
        "fake-nairobi (native)", "fake-nairobi (aer)", "exact")
    assert abs(float(noisy_native["loss"]) - float(noisy_aer["loss"])) < 1e-4
    assert (native["backend"], estimator["backend"], native["images"]) == ("native", "estimator", "8")
    assert abs(float(native["loss"]) - float(estimator["loss"])) < 1e-4
    assert native["accuracy"] == estimator["accuracy"]


def test_a_classical_run_has_no_circuits_for_a_backend(tmp_path, capsys):
    run = tmp_path / "classical"
    assert main(["train", "--classical", "--blocks", "1", "--epochs", "1", "--batch-size", "256", "--no-progress",
                 "--run-dir", str(run)]) == 0
    assert main(["evaluate", str(run), "--backend", "aer", "--limit", "4"]) == 2
    assert "VisionTransformer has no QuantumLayer to put on backend 'aer'; a classical model runs only on torch" in capsys.readouterr().err


def test_an_interrupted_evaluation_says_it_kept_nothing(run_dir, monkeypatch, capsys):
    import qrkt_qiskit.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(qrkt_qiskit.training, "evaluate", interrupted)
    before = (run_dir / "evaluations.csv").read_text() if (run_dir / "evaluations.csv").exists() else None
    assert main(["evaluate", str(run_dir), "--limit", "4"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == ("qrkt evaluate: interrupted: the evaluation keeps no partial "
                                                        "result: nothing was written")
    after = (run_dir / "evaluations.csv").read_text() if (run_dir / "evaluations.csv").exists() else None
    assert after == before


def test_evaluate_of_a_read_only_run_prints_its_metrics_and_says_in_one_line_why_it_kept_no_row(
        run_dir, tmp_path, read_only, capsys):
    shutil.copytree(run_dir, tmp_path / "run")
    run = read_only(tmp_path / "run")
    assert main(["evaluate", str(run), "--limit", "8"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("backend=native  split=test  checkpoint=best  images=8  loss=") and "accuracy=" in out
    assert err.replace("\r", "\n").splitlines()[-1] == (  # after the progress bar
        f"qrkt evaluate: error: {run / 'evaluations.csv'}: its file system is read-only; copy the run to a writable "
        "place, then run the command again")
    assert "Traceback" not in err
    assert main(["train", "--resume", "--run-dir", str(run), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"qrkt train: error: {run / '.lock'}: its file system is read-only; copy the run "
                                       "to a writable place, then run the command again\n")


def test_a_text_run_is_evaluated_studied_and_costed_with_its_own_tokenizer(tmp_path, capsys):
    from ..text_data import write_csv

    root = write_csv(tmp_path / "data", n_train=120, n_test=40)
    run = tmp_path / "text"
    assert main(["train", "--dataset", "imdb", "--data-root", str(root), "--quantum", "--max-length", "24",
                 "--vocab-size", "100", "--epochs", "1", "--batch-size", "32", "--no-progress", "--run-dir", str(run)]) == 0
    assert main(["evaluate", str(run), "--backend", "aer", "--limit", "4"]) == 0
    assert main(["noise-study", str(run), "--backends", "aer", "--limit", "4"]) == 0
    assert main(["resources", str(run)]) == 0
    assert "| tokens | 24 |" in capsys.readouterr().out
