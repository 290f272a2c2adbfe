"""Faults and mistakes: empty batches, interrupts at any point, locked run directories, hostile files, bad numbers."""

import pytest
import torch

from qrkt_qiskit.backends import get_profile
from qrkt_qiskit.layers import QuantumLayer


@pytest.mark.parametrize("backend", ["native", "estimator", "aer", "fake-manila",
                                     get_profile("fake-manila", simulator="aer", shots=None)],
                         ids=["native", "estimator", "aer", "fake-native", "fake-aer"])
@pytest.mark.parametrize("layers", [1, 2])  # closed form and statevector
def test_an_empty_batch_gives_an_empty_output_on_every_backend(backend, layers):
    layer = QuantumLayer(2, layers=layers, backend=backend)
    x = torch.rand(0, 2, requires_grad=True)
    out = layer(x)
    assert out.shape == (0, 2)
    out.sum().backward()
    assert x.grad.shape == (0, 2) and torch.equal(layer.weight.grad, torch.zeros(2 * layers))
    assert layer(torch.rand(3, 0, 2)).shape == (3, 0, 2)


# --- interrupts: a signal at any point ends with a checkpoint of the last completed step ------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from torch.nn.modules.module import register_module_forward_hook  # noqa: E402
from torch.optim.optimizer import register_optimizer_step_pre_hook  # noqa: E402

from qrkt_qiskit.errors import Interrupted  # noqa: E402
from qrkt_qiskit.training import TrainConfig, load_checkpoint, train  # noqa: E402
from qrkt_qiskit.training.gan import GANTrainConfig, train_gan  # noqa: E402

from .training.test_gan import tiny_model  # noqa: E402

CLASSIFIER = TrainConfig(blocks=1, ode="rk1", epochs=2, batch_size=128, lr=1e-2)  # 8 steps an epoch
GAN = GANTrainConfig(model=tiny_model(), dataset="digits", limit=48, batch_size=8, epochs=2, grid=4)  # 6 steps an epoch


def _train(kind, run_dir, **kw):
    return train(CLASSIFIER, run_dir, progress=False, **kw) if kind == "classifier" else \
        train_gan(GAN, run_dir, progress=False, **kw)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    for kind in ("classifier", "gan"):
        _train(kind, root / kind)
    return root


class _SignalDuring:
    """Sends SIGTERM (or ``signum``) to this process from inside the ``at``-th module forward, backward pass or optimizer step.

    Forward and optimizer use torch's global hooks; backward a gradient hook on the tensor
    ``backward()`` is called on (a global module backward hook would change the critic's
    double-backward numerics).
    """

    def __init__(self, phase: str, at: int, times: int = 1, signum: int = signal.SIGTERM):
        self.phase, self.at, self.times, self.count, self.signum = phase, at, times, 0, signum

    def __enter__(self):
        hook = lambda *args, **kwargs: self._tick()  # noqa: E731
        if self.phase == "backward":
            original = self.original = torch.Tensor.backward

            def backward(tensor, *args, **kwargs):
                tensor.register_hook(lambda grad: (self._tick(), grad)[1])
                return original(tensor, *args, **kwargs)

            torch.Tensor.backward = backward
            return self
        register = {"forward": register_module_forward_hook, "optimizer": register_optimizer_step_pre_hook}[self.phase]
        self.handle = register(hook)
        return self

    def _tick(self):
        self.count += 1
        if self.at <= self.count < self.at + self.times:
            os.kill(os.getpid(), self.signum)

    def __exit__(self, *exc):
        if self.phase == "backward":
            torch.Tensor.backward = self.original
        else:
            self.handle.remove()


def _same_weights(a, b, key):
    a, b = (load_checkpoint(p / "last.pt")[key] for p in (a, b))
    return all(torch.equal(v, b[k]) for k, v in a.items())


@pytest.mark.parametrize("kind", ["classifier", "gan"])
@pytest.mark.parametrize("phase, at", [("forward", 37), ("backward", 3), ("optimizer", 5)])
def test_a_signal_inside_a_step_checkpoints_that_step_and_resumes_bit_identically(tmp_path, references, kind,
                                                                                  phase, at, capsys):
    with _SignalDuring(phase, at) as probe, pytest.raises(Interrupted, match="continue with --resume") as stopped:
        _train(kind, tmp_path / "run")
    assert probe.count >= at
    state = load_checkpoint(tmp_path / "run" / "last.pt")["state"]
    assert state["step"] + state["epoch"] > 0 and f"{state['epoch']} epoch(s) and {state['step']} of" in str(stopped.value)
    assert "finishing the step in hand" in capsys.readouterr().err
    _train(kind, tmp_path / "run", resume=True)
    assert _same_weights(references / kind, tmp_path / "run", "model" if kind == "classifier" else "generator")


def test_a_hangup_inside_a_step_checkpoints_that_step_as_sigterm_does(tmp_path, references, capsys):
    # a closed terminal or a lost ssh session sends SIGHUP, whose default would end the run unsaved
    with _SignalDuring("optimizer", 5, signum=signal.SIGHUP), pytest.raises(Interrupted, match="continue with --resume"):
        _train("classifier", tmp_path / "run")
    assert "finishing the step in hand" in capsys.readouterr().err
    _train("classifier", tmp_path / "run", resume=True)
    assert _same_weights(references / "classifier", tmp_path / "run", "model")


def test_a_second_signal_stops_at_once_and_says_what_last_pt_holds(tmp_path):
    with _SignalDuring("forward", 3, times=2), pytest.raises(Interrupted) as stopped:
        _train("classifier", tmp_path / "run")
    assert str(stopped.value) == f"no checkpoint was written yet, so {tmp_path / 'run'} cannot be resumed"
    assert not (tmp_path / "run" / "last.pt").exists()


def test_sigterm_from_outside_at_a_random_moment_resumes_bit_identically(tmp_path, references):
    started = tmp_path / "started"
    # the same thread count as this process, whose reference run it must reproduce bit for bit
    code = ("import pathlib, torch; from qrkt_qiskit.training import TrainConfig, train\n"
            f"torch.set_num_threads({torch.get_num_threads()})\n"
            f"config = TrainConfig(**{CLASSIFIER.to_dict()!r})\n"
            f"train(config, {str(tmp_path / 'run')!r}, progress=False, "
            f"on_step=lambda s: pathlib.Path({str(started)!r}).touch())\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    while not started.exists() and proc.poll() is None:
        pass
    delay = float(torch.rand(1, generator=torch.Generator().manual_seed(os.getpid()))) * 0.3
    subprocess.run(["sleep", f"{delay:.3f}"])
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert "Interrupted" in err and (tmp_path / "run" / "last.pt").exists(), err[-2000:]
    _train("classifier", tmp_path / "run", resume=True)
    assert _same_weights(references / "classifier", tmp_path / "run", "model")


# --- run directories: locked, checked for their kind, cleaned of orphans -----------------------

from qrkt_qiskit.cli import main  # noqa: E402
from qrkt_qiskit.training.run import RunDirectory, RunLockedError  # noqa: E402


def test_a_second_writer_of_a_run_directory_is_refused_naming_the_holder(tmp_path):
    code = ("import sys, time; from qrkt_qiskit.training.run import RunDirectory\n"
            "from qrkt_qiskit.training import TrainConfig\n"
            f"with RunDirectory({str(tmp_path)!r}, TrainConfig(), resume=False):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"^{tmp_path} is in use by another run \(pid {holder.pid}\); "
                                                 "wait for it to finish or choose another directory$"):
            train(CLASSIFIER, tmp_path, progress=False)
    finally:
        holder.kill()
        holder.wait()
    with RunDirectory(tmp_path, CLASSIFIER, resume=False):  # the lock died with its holder
        pass


def test_a_crashed_writers_temporary_files_are_cleared_when_the_run_resumes(tmp_path):
    (tmp_path / "samples").mkdir()
    orphans = [tmp_path / ".last.k2j3h.tmp.pt", tmp_path / "samples" / ".epoch_001.x1.tmp.png"]
    for orphan in orphans:
        orphan.write_bytes(b"half")
    with RunDirectory(tmp_path, CLASSIFIER, resume=False):
        assert not any(o.exists() for o in orphans)


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{gan}"], "{gan} holds a gan run (qrkt gan train), but this takes a classification run (qrkt train)"),
    (["noise-study", "{gan}", "--backends", "aer"], "{gan} holds a gan run (qrkt gan train), but this takes a classification run (qrkt train)"),
    (["resources", "{gan}"], "{gan} holds a gan run (qrkt gan train), but this takes a classification run (qrkt train)"),
    (["train", "--resume", "--run-dir", "{gan}"],
     "{gan} holds a gan run (qrkt gan train), but this takes a classification run (qrkt train)"),
    (["results", "{gan}"], "{gan} holds a gan run (qrkt gan train), but this takes a classification run (qrkt train)"),
    (["gan", "fid", "{cls}"], "{cls} holds a classification run (qrkt train), but this takes a GAN run (qrkt gan train)"),
    (["gan", "train", "--resume", "--run-dir", "{cls}"],
     "{cls} holds a classification run (qrkt train), but this takes a GAN run (qrkt gan train)"),
    (["train", "--run-dir", "{cls}"], "{cls} already holds a run; resume it (--resume) or choose another directory"),
    (["gan", "train", "--run-dir", "{gan}"], "{gan} already holds a run; resume it (--resume) or choose another directory"),
    (["train", "--run-dir", "{file}"], "{file} is a file, not a run directory; choose a directory"),
    (["evaluate", "{bad}"], "{bad}/config.json is not valid JSON (Expecting value: line 1 column 1 (char 0)); "
                            "was it edited by hand?"),
])
def test_every_command_checks_the_kind_of_run_it_is_given(references, tmp_path, argv, message, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("not json")
    paths = {"gan": references / "gan", "cls": references / "classifier", "file": tmp_path / "file",
             "bad": tmp_path / "bad"}
    argv = [a.format(**paths) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"error: {message.format(**paths)}") and "\n" not in err


# --- data: a crafted CIFAR-10 batch runs nothing ------------------------------------------------

import pickle  # noqa: E402

from qrkt_qiskit.data import load_images  # noqa: E402
from qrkt_qiskit.data.gan import load_gan_images  # noqa: E402


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what an attacker's batch does: name a callable for the unpickler to call
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("loader", ["classification", "gan"])
def test_a_malicious_cifar_batch_runs_nothing(tmp_path, loader):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": [0]}))
    with pytest.raises(ValueError, match=r"data_batch_1 is not a CIFAR-10 python batch \(it refers to builtins.exec, "
                                         r"which a CIFAR-10 batch never does\); nothing in it was run"):
        load_images("cifar10", tmp_path) if loader == "classification" else load_gan_images("cifar10", tmp_path)
    assert not marker.exists()


# --- one sentence for every mistake a user can make ---------------------------------------------

import re  # noqa: E402
import shutil  # noqa: E402

from qrkt_qiskit.backends import load_profile  # noqa: E402


@pytest.mark.parametrize("argv, message", [
    (["train", "--mlp-dim", "-1"], "mlp_dim must be at least 1, got -1"),
    (["train", "--device", "meta"], "device 'meta' cannot train or evaluate here; use cpu, cuda or cuda:N"),
    (["train", "--lr", "nan"], "argument --lr: expected a finite number, got 'nan'"),
    (["gan", "train", "--gp-weight", "nan"], "argument --gp-weight: expected a finite number, got 'nan'"),
    (["gan", "train", "--lr-d", "inf"], "argument --lr-d: expected a finite number, got 'inf'"),
    (["evaluate", "x", "--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, got 0"),
    (["evaluate", "x", "--limit", "0"], "argument --limit: expected an integer of at least 1, got 0"),
    (["noise-study", "x", "--backends", "aer", "--limit", "-2"], "argument --limit: expected an integer of at least 1, got -2"),
    (["resources", "--tokens", "-1"], "argument --tokens: expected an integer of at least 1, got -1"),
    (["resources", "--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, got 0"),
    (["resources", "--dataset-size", "-5"], "argument --dataset-size: expected an integer of at least 1, got -5"),
    (["train", "--dataset", "cifar10", "--data-root", "{tmp}", "--download", "--run-dir", "{tmp}/run"],
     "cifar10 could not be downloaded into {tmp} ("),
    (["noise-study", "x", "--backends", "aer", "--aer-check", "-3"],
     "argument --aer-check: expected an integer of at least 0, got -3"),
])
def test_a_mistake_on_the_command_line_is_one_sentence(argv, message, tmp_path, capsys, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    try:
        status = main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse's own refusals exit from inside parse_args
        status = exc.code
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and message.format(tmp=tmp_path) in err and "error: " in err


def test_a_search_storage_that_cannot_be_opened_is_one_sentence_and_leaves_no_search(tmp_path, capsys):
    argv = ["search", "--study-dir", str(tmp_path / "s"), "--trials", "1", "--dataset", "digits", "--epochs", "1"]
    assert main(argv + ["--storage", "bogus://x"]) == 2
    assert "cannot open the study storage 'bogus://x' (NoSuchModuleError: " in capsys.readouterr().err
    assert not (tmp_path / "s" / "search.json").exists()


def test_another_models_checkpoint_is_one_sentence(references, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(references / "classifier", run)
    other = TrainConfig(blocks=2, ode="rk1", epochs=1, batch_size=128)
    train(other, tmp_path / "other", progress=False)
    shutil.copy(tmp_path / "other" / "best.pt", run / "best.pt")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'best.pt'} holds another model than its run's config.json describes (" in err
    assert "was it copied from another run?" in err and err.count("\n") == 1


@pytest.mark.parametrize("content, message", [
    (None, "is not a file; a profile is a TOML file"),
    (b"kind = \"aer\"\ndescription = \"\xff\xfe\"\n", "is not UTF-8 text (byte 28); a profile is a TOML file"),
    (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests its tables or arrays too deeply to read"),
])
def test_an_unreadable_profile_names_its_file(tmp_path, content, message):
    path = tmp_path / "mine.toml"
    path.mkdir() if content is None else path.write_bytes(content)
    with pytest.raises(ValueError, match="^" + re.escape(f"{path} {message}")):
        load_profile(path)


# --- checkpoints: a changed byte is caught ------------------------------------------------------

from qrkt_qiskit.training import CheckpointError, save_checkpoint  # noqa: E402
from qrkt_qiskit.training.checkpoint import FORMAT  # noqa: E402


def test_a_bit_flipped_checkpoint_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint({"model": {"w": torch.arange(1000, dtype=torch.float32)}}, path)
    data = bytearray(path.read_bytes())
    flipped = 0
    for offset in range(0, len(data), 97):  # every 97th byte, one at a time: each flip is caught or harmless
        data[offset] ^= 0x10
        path.write_bytes(bytes(data))
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            flipped += 1
        else:  # a flip in zip padding or metadata torch ignores: the weights read back unchanged
            assert torch.equal(state["model"]["w"], torch.arange(1000, dtype=torch.float32))
        data[offset] ^= 0x10
    assert flipped > 0
    payload_flip = bytearray(path.read_bytes())
    start = payload_flip.find(b"PK", 64)  # inside the envelope: the inner checkpoint's bytes
    payload_flip[start + 200] ^= 0xFF
    path.write_bytes(bytes(payload_flip))
    with pytest.raises(CheckpointError, match=r"is corrupt: its content does not match the SHA-256 digest stored "
                                              r"with it \(a changed byte\)|is not a readable checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_from_before_digests_still_loads(tmp_path):
    torch.save({"format": "qrkt-checkpoint/1", "model": {"w": torch.ones(2)}}, tmp_path / "old.pt")
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["model"]["w"], torch.ones(2))
    save_checkpoint({"x": 1}, tmp_path / "new.pt")
    assert torch.load(tmp_path / "new.pt", weights_only=True)["format"] == FORMAT == "qrkt-checkpoint/2"


def test_a_finished_run_missing_its_last_metrics_row_gets_it_back_on_resume(tmp_path, references):
    run = tmp_path / "run"
    shutil.copytree(references / "classifier", run)
    lines = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join(lines[:-1]) + "\n")  # a crash between last.pt and metrics.csv
    train(CLASSIFIER, run, resume=True, progress=False)
    assert (run / "metrics.csv").read_text().splitlines() == lines


# --- low: weights, observables, descriptions ----------------------------------------------------

from qiskit.circuit import Parameter, QuantumCircuit  # noqa: E402
from qiskit.quantum_info import SparsePauliOp  # noqa: E402

from qrkt_qiskit import Ansatz  # noqa: E402


def test_nan_or_wrong_size_weights_are_refused_in_one_sentence():
    layer = QuantumLayer(3)
    with pytest.raises(ValueError, match=r"^weight contains NaN or infinite values; a circuit's weights are angles$"):
        layer.load_state_dict({"weight": torch.tensor([0.1, float("nan"), 0.2])})
    with pytest.raises(ValueError, match=r"^weight has shape \(5,\), but this 3-qubit circuit has 3 weights$"):
        layer.load_state_dict({"weight": torch.zeros(5)})
    layer.weight = torch.nn.Parameter(torch.zeros(4))
    with pytest.raises(ValueError, match=r"^weight has shape \(4,\), but this circuit has 3 weights$"):
        layer(torch.rand(2, 3))


def test_parameterised_observable_coefficients_are_refused_when_the_ansatz_is_made():
    x, w, c = Parameter("x"), Parameter("w"), Parameter("c")
    qc = QuantumCircuit(1)
    qc.ry(x, 0)
    qc.rz(w, 0)
    obs = SparsePauliOp(["Z"], coeffs=[c])
    with pytest.raises(ValueError, match=r"^observable 0 has parameterised coefficients; "):
        Ansatz(qc, [x], [w], [obs])


def test_a_profile_description_with_terminal_escapes_is_refused(tmp_path):
    path = tmp_path / "evil.toml"
    path.write_text('kind = "aer"\ndescription = "ok\\u001b[2J\\u001b[31mgotcha"\n')
    with pytest.raises(ValueError, match=r"description.*a one-line string of printable characters"):
        load_profile(path)


def test_a_diverging_run_stops_in_one_sentence_naming_the_step_and_keeps_the_good_checkpoint(tmp_path):
    from qrkt_qiskit.training.run import NonFiniteLossError

    config = TrainConfig(blocks=1, ode="rk1", epochs=1, batch_size=128, lr=1e30, quantum=False, checkpoint_every=1)
    with pytest.raises(NonFiniteLossError, match=r"^training diverged at step (\d+) \(loss = (nan|inf)\); the run "
                                                 r"stopped and .*last.pt keeps 0 epoch\(s\) and (\d+) step\(s\): lower "
                                                 r"the learning rate or check the data$") as stopped:
        train(config, tmp_path, progress=False)
    step = int(str(stopped.value).split("step ")[1].split(" ")[0])
    kept = load_checkpoint(tmp_path / "last.pt")
    assert kept["state"]["step"] == step - 1
    assert all(torch.isfinite(v).all() for v in kept["model"].values())


def test_a_quantum_model_that_diverges_is_named_diverged_not_a_circuit_input_error(tmp_path):
    from qrkt_qiskit.training.run import NonFiniteLossError

    config = TrainConfig(blocks=1, ode="rk1", epochs=1, batch_size=128, lr=1e30)
    with pytest.raises(NonFiniteLossError, match=r"^training diverged at step \d+ \((loss|circuit inputs) = nan\)"):
        train(config, tmp_path, progress=False)
