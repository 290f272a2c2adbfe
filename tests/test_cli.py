"""The qrkt command line: a run end to end, and one line for each mistake."""

import argparse
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from qrkt_qiskit.cli import main


@pytest.fixture
def run_dir(rk1_run):
    return rk1_run


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


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--resume"], "qrkt train: error: --resume needs --run-dir naming the run to continue"),
    (["evaluate", "/nonexistent/run"], "qrkt evaluate: error: /nonexistent/run is not a run directory: it has no config.json"),
    (["results", "/nonexistent/run"], "qrkt results: error: /nonexistent/run is not a run directory: it has no config.json"),
    (["train", "--epochs", "0"], "qrkt train: error: epochs must be at least 1, got 0"),
    (["train", "--dataset", "mnist"], "qrkt train: error: dataset 'mnist' needs a data root (--data-root) holding its files"),
    (["train", "--device", "tpu"], "qrkt train: error: unknown device 'tpu'; use cpu, cuda or cuda:N"),
])
def test_mistakes_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu_is_one_line(capsys):
    assert main(["train", "--device", "cuda"]) == 2
    assert capsys.readouterr().err == ("qrkt train: error: device 'cuda' asked for, but torch sees no CUDA GPU here; "
                                       "use cpu\n")


def test_a_classical_run_has_no_circuits_for_a_backend(tmp_path, capsys):
    run = tmp_path / "classical"
    assert main(["train", "--classical", "--blocks", "1", "--epochs", "1", "--batch-size", "256", "--no-progress",
                 "--run-dir", str(run)]) == 0
    assert main(["evaluate", str(run), "--backend", "aer", "--limit", "4"]) == 2
    assert "VisionTransformer has no QuantumLayer to put on backend 'aer'; a classical model runs only on torch" in capsys.readouterr().err


def test_help_reads_like_a_manual(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for text in ("Runge-Kutta", "--resume", "torchrun", "examples:", "--recipe thesis", "the recipe's"):
        assert text in out


def test_noise_study_of_a_run(run_dir, capsys):
    assert main(["noise-study", str(run_dir), "--backends", "aer", "fake-nairobi", "--shots", "512",
                 "--noise-scale", "0", "1", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "| native | native |" in out and "| fake-nairobi | fake |" in out
    names = {p.name for p in (run_dir / "noise-study").iterdir()}
    assert names == {"noise_study.csv", "noise_study.md", "noise_study.png"}
    assert main(["noise-study", str(run_dir), "--backends", "fake-nowhere"]) == 2
    assert "fake-nowhere" in capsys.readouterr().err


def test_resources_of_a_thesis_preset_and_of_a_run(run_dir, capsys):
    assert main(["resources", "--model", "mnist", "--ode", "rk4"]) == 0
    assert "| qubit total (thesis: Σ width over calls) | 324 |" in capsys.readouterr().out
    assert main(["resources", str(run_dir), "--backend", "fake-nairobi"]) == 0
    out = capsys.readouterr().out
    assert "| qubit total (thesis: Σ width over calls) | 27 |" in out and "device depth" in out


def test_a_text_run_is_evaluated_studied_and_costed_with_its_own_tokenizer(tmp_path, capsys):
    from .text_data import write_csv

    root = write_csv(tmp_path / "data", n_train=120, n_test=40)
    run = tmp_path / "text"
    assert main(["train", "--dataset", "imdb", "--data-root", str(root), "--quantum", "--max-length", "24",
                 "--vocab-size", "100", "--epochs", "1", "--batch-size", "32", "--no-progress", "--run-dir", str(run)]) == 0
    assert main(["evaluate", str(run), "--backend", "aer", "--limit", "4"]) == 0
    assert main(["noise-study", str(run), "--backends", "aer", "--limit", "4"]) == 0
    assert main(["resources", str(run)]) == 0
    assert "| tokens | 24 |" in capsys.readouterr().out


def _subparser(parser, *path):
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


@pytest.mark.parametrize("path, config", [(("train",), "TrainConfig"), (("gan", "train"), "GANTrainConfig")])
def test_every_cli_default_is_the_config_default(path, config):
    from qrkt_qiskit.cli import build_parser
    from qrkt_qiskit.training import gan
    from qrkt_qiskit.training.config import TrainConfig

    cls = {"TrainConfig": TrainConfig, "GANTrainConfig": gan.GANTrainConfig}[config]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    parser = _subparser(build_parser(), *path)
    options = {a.dest: a.default for a in parser._actions if a.dest in defaults}
    documented = {f.name for f in dataclasses.fields(cls) if "help" in f.metadata}
    assert set(options) == documented and documented >= set(defaults) - {"model", "betas"}
    assert options == {name: defaults[name] for name in options}
    assert cls(**{k: v for k, v in vars(parser.parse_args([])).items() if k in documented}) == cls()


def test_a_non_finite_number_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--lr", "inf"])
    assert "argument --lr: expected a finite number, got 'inf'" in capsys.readouterr().err


def test_debug_shows_the_traceback_an_error_otherwise_hides(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("qrkt evaluate: error: ")
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        main(["--debug", "evaluate", str(tmp_path / "nowhere")])


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


def test_top_level_help_imports_neither_torch_nor_qiskit():
    # in a fresh interpreter, since this one has imported both
    code = ("import sys\nfrom qrkt_qiskit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'qiskit', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "train a quantum or classical ODE vision or text transformer" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"


def test_every_command_summary_is_its_full_parsers_help():
    from qrkt_qiskit.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest: c.help for c in sub._choices_actions} == {name: help for name, (_, help) in COMMANDS.items()}


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("qrkt 0.")


def test_threads_are_set_for_every_command(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    main(["--threads", "2", "backends"])
    monkeypatch.setenv("QRKT_THREADS", "3")
    main(["backends"])
    main(["--threads", "0", "backends"])  # torch's own choice: nothing set
    monkeypatch.delenv("QRKT_THREADS")
    main(["backends"])  # the default is torch's own choice too
    assert seen == [2, 3]
    with pytest.raises(SystemExit):
        main(["--threads", "-1", "backends"])
    assert "argument --threads: expected a number of threads of at least 0, got -1" in capsys.readouterr().err


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


@pytest.mark.parametrize("key, value, message", [
    ("epochs", "2", "option epochs must be an integer or null, got '2'"),
    ("lr", "0.01", "option lr must be a number or null, got '0.01'"),
    ("dim", [4], "option dim must be an integer or null, got [4]"),
    ("batch_size", 2.5, "option batch_size must be an integer or null, got 2.5"),
    ("blocks", True, "option blocks must be an integer or null, got True"),
    ("data_root", {}, "option data_root must be a string or null, got {}"),
    ("ode", "x" * 50_000, "option ode must be one of: rk1, rk2, rk3, rk4, rk4_enh, none; got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                          "... (50,002 characters)"),
    ("epochs", 0, "epochs must be at least 1, got 0"),
])
def test_a_hand_edited_config_json_is_one_sentence_naming_the_file_and_the_option(run_dir, tmp_path, key, value, message,
                                                                                  capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    saved = json.loads((run / "config.json").read_text())
    saved["train"][key] = value
    (run / "config.json").write_text(json.dumps(saved))
    for argv in (["evaluate", str(run)], ["train", "--resume", "--run-dir", str(run)]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (f"qrkt {argv[0]}: error: {run / 'config.json'}: {message}; "
                                           "was it edited by hand?\n")


def test_sigterm_stops_a_noise_study_in_one_line_keeping_its_finished_rows(run_dir, tmp_path):
    import signal

    shots = [str(s) for s in range(100, 140)]  # 40 rows: far more than run before the signal lands
    study = subprocess.Popen([sys.executable, "-m", "qrkt_qiskit", "noise-study", str(run_dir), "--backends", "aer",
                              "--shots", *shots, "--aer-check", "0", "--limit", "4", "--out", str(tmp_path / "s")],
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ,
                                                                                                "OMP_NUM_THREADS": "1"})
    seen = ""
    while "aer (101 shots): " not in seen:  # the first aer row is done (one line per finished bar: not a terminal)
        seen += study.stderr.readline() or pytest.fail(f"the study ended early: {seen}")
    study.send_signal(signal.SIGTERM)
    err = seen + study.stderr.read()
    assert study.wait(timeout=120) == 130
    last = err.replace("\r", "\n").splitlines()[-1]
    assert last.startswith("qrkt noise-study: interrupted: the ") and last.endswith(
        f" finished row(s) of 41 are in {tmp_path / 's'}")
    with open(tmp_path / "s" / "noise_study.csv") as f:
        assert len(list(csv.DictReader(f))) == int(last.split("the ")[1].split(" ")[0]) >= 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "MNIST"], "argument --dataset: invalid choice: 'MNIST'"),
    (["search", "--study-dir", "s", "--ode", "rk5"], "argument --ode: invalid choice: 'rk5'"),
    (["evaluate", "x", "--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, got 0"),
    (["noise-study", "x", "--backends", "aer", "--aer-check", "-1"], "argument --aer-check: expected an integer"),
    (["resources", "--model", "MNIST"], "argument --model: invalid choice: 'MNIST'; did you mean 'mnist'?"),
    (["evaluate", "x", "--set", "resilience level=2"], "argument --set: expected KEY=VALUE with a profile key"),
])
def test_a_mistaken_option_is_refused_before_torch_or_qiskit_is_imported(argv, message):
    # seconds of imports before a typo is answered (docs/benchmarks.md: 10 s against 0.2 s)
    code = (f"import sys\nfrom qrkt_qiskit.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit as exc:\n"
            "    print(exc.code)\nprint(sorted(m for m in ('torch', 'qiskit', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["2", "[]"] and message in done.stderr


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "MNIST"], "qrkt train: error: argument --dataset: invalid choice: 'MNIST'; did you mean "
                                      "'mnist'? (choose from 'digits', 'mnist', 'fashion-mnist', 'cifar10', 'imdb')"),
    (["train", "--ode", "rk4-enh"], "qrkt train: error: argument --ode: invalid choice: 'rk4-enh'; did you mean "
                                    "'rk4_enh'? (choose from "),
    (["trian"], "qrkt: error: argument COMMAND: invalid choice: 'trian'; did you mean 'train'? (choose from 'train', "),
    (["gan", "trian"], "qrkt gan: error: argument ACTION: invalid choice: 'trian'; did you mean 'train'? (choose from "),
    (["train", "--dataset", "zzz"], "qrkt train: error: argument --dataset: invalid choice: 'zzz' (choose from "),
])
def test_an_unknown_choice_is_answered_with_the_closest_one(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and capsys.readouterr().err.splitlines()[-1].startswith(message)


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
