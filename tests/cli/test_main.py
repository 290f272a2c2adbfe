"""`qrkt` itself (qrkt_qiskit/cli/__init__.py): the parser, one line for each mistake, --debug, --threads, signals."""

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

from qrkt_qiskit.cli import main


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


def test_debug_shows_the_traceback_an_error_otherwise_hides(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("qrkt evaluate: error: ")
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        main(["--debug", "evaluate", str(tmp_path / "nowhere")])


def test_top_level_help_imports_neither_torch_nor_qiskit():
    # in a fresh interpreter, since this one has imported both
    code = ("import sys\nfrom qrkt_qiskit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'qiskit', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "train a quantum or classical ODE vision or text transformer" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"


def test_every_command_summary_is_its_full_parsers_help(monkeypatch):
    from qrkt_qiskit.cli import COMMANDS, build_parser

    monkeypatch.setenv("COLUMNS", "400")  # no help line wrapped in `qrkt --help` (a long name puts its help below)
    listed = dict(re.findall(r"^ {4}(\S+)\s+(\S.*)$", build_parser().format_help(), re.M))
    assert listed == {name: help for name, (_, help) in COMMANDS.items()}


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


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "MNIST"], "argument --dataset: invalid choice: 'MNIST'"),
    (["search", "--study-dir", "s", "--ode", "rk5"], "argument --ode: invalid choice: 'rk5'"),
    (["evaluate", "x", "--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, got 0"),
    (["noise-study", "x", "--backends", "aer", "--aer-check", "-1"], "argument --aer-check: expected an integer"),
    (["resources", "--model", "MNIST"], "argument --model: invalid choice: 'MNIST'; did you mean 'mnist'?"),
    (["evaluate", "x", "--set", "resilience level=2"], "argument --set: expected KEY=VALUE with a profile key"),
    (["evaluate", "no-such-run"], "qrkt evaluate: error: no-such-run is not a run directory: it has no config.json"),
])
def test_a_mistaken_option_is_refused_before_torch_or_qiskit_is_imported(argv, message):
    # seconds of imports before a typo is answered (docs/benchmarks.md: 10 s against 0.2 s)
    code = (f"import sys\nfrom qrkt_qiskit.cli import main\ntry:\n    print(main({argv!r}))\nexcept SystemExit as exc:\n"
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
