"""Shared test helpers: Qiskit's `Statevector` as the independent reference."""

import os
import signal

if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n N` runs N processes: one thread each, or they fight for the cores
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"  # before torch loads; subprocesses inherit it

import numpy as np
import pytest
import torch
from hypothesis import settings
from qiskit.quantum_info import Statevector

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # in case a plugin imported torch before the line above
    # xdist's workers ignore SIGINT, and an ignored signal stays ignored in every child they
    # start: a `qrkt` subprocess a test interrupts would never see its Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("ci")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Every engine test body runs on the CPU, and on CUDA where a GPU is present."""
    return torch.device(request.param)


def bindings(ansatz, x_row, w):
    return dict(zip(ansatz.inputs, np.asarray(x_row, dtype=float))) | dict(zip(ansatz.weights, np.asarray(w, dtype=float)))


def reference(ansatz, x, w) -> np.ndarray:
    """Expectation values by `qiskit.quantum_info.Statevector`, row by row: ``(batch, n_obs)``."""
    x, w = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(w, dtype=float)
    rows = []
    for row in x:
        state = Statevector(ansatz.circuit.assign_parameters(bindings(ansatz, row, w)))
        rows.append([state.expectation_value(obs).real for obs in ansatz.observables])
    return np.array(rows)


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """`qrkt --threads N` sets torch's thread count; a CLI test must not change it for the next test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _cache_in_a_temporary_folder(tmp_path_factory, monkeypatch):
    """Trained classifiers (the GAN classifier score) go to a test folder, never to the user's ~/.cache."""
    monkeypatch.setenv("QRKT_CACHE", str(tmp_path_factory.getbasetemp() / "qrkt-cache"))


def _mount(args: list[str], target) -> None:
    """Run ``mount args… target``, or skip the test saying why it cannot run here."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root to mount a file system of its own (a tmpfs); run the suite as root to include it")
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a file system here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a fresh tmpfs of ``size`` (``"64k"``, ``"8m"``) under the test's folder, unmounted after."""
    import subprocess

    mounted = []

    def make(size: str):
        target = tmp_path / f"disk{len(mounted)}"
        target.mkdir()
        _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs"], target)
        mounted.append(target)
        return target

    yield make
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def read_only(tmp_path):
    """``read_only(folder)``: ``folder`` seen through a read-only bind mount (a new path), unmounted after."""
    import subprocess

    mounted = []

    def make(folder):
        target = tmp_path / f"read-only{len(mounted)}"
        target.mkdir()
        _mount(["--bind", str(folder)], target)
        mounted.append(target)
        _mount(["-o", "remount,bind,ro"], target)
        return target

    yield make
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture(scope="session")
def rk1_run(tmp_path_factory):
    """A quantum rk1 ViT of one block trained one epoch on digits by `qrkt train` (shared: seconds to make)."""
    from qrkt_qiskit.cli import main

    run = tmp_path_factory.mktemp("rk1") / "run"
    assert main(["train", "--blocks", "1", "--ode", "rk1", "--epochs", "1", "--batch-size", "128",
                 "--no-progress", "--run-dir", str(run)]) == 0
    return run


@pytest.fixture
def rk1_run_copy(rk1_run, tmp_path):
    """This test's own copy of `rk1_run`: what a command writes into a run (evaluations, calibrations, job records)
    is not seen by the next test, whichever process (`pytest -n`) or order runs them."""
    import shutil

    return shutil.copytree(rk1_run, tmp_path / "rk1-run")
