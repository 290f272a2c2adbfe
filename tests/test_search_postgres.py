"""A search spanning machines: two workers on one PostgreSQL study, one killed mid-trial; nothing lost or doubled.

The test starts a throwaway PostgreSQL server from Debian's ``postgresql`` package in a
temporary directory (Unix socket only, trust authentication, run as the ``postgres`` user
when the tests run as root), and skips with the reason where the binaries are absent.
"""

import dataclasses
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from qrkt_qiskit.training import TrainConfig

from .test_search import SPACE
from .text_data import write_csv

N_TRIALS = 4


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2", reason="psycopg2 (the postgres extra) is not installed")
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl: Debian's postgresql package) are not installed")
    root = Path(tempfile.mkdtemp(prefix="qrkt-pg-"))
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("the tests run as root and there is no 'postgres' user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "qrkt", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-k {root} -c listen_addresses='' -p 54329 -F"
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", root / "server.log", "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://qrkt@/postgres?host={root}&port=54329"
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _worker(base: TrainConfig, study_dir: Path, url: str, n_trials: int, *, resume: bool = False) -> subprocess.Popen:
    """One machine's ``search`` on the shared study, in its own process (heartbeat 1 s for the test)."""
    code = ("import sys; from qrkt_qiskit import search as s; from qrkt_qiskit.training import TrainConfig\n"
            "s.HEARTBEAT_SECONDS = 1\n"
            f"s.search(TrainConfig.from_dict({base.to_dict()!r}), {str(study_dir)!r}, n_trials={n_trials}, "
            f"space=s.SearchSpace(**{dataclasses.asdict(SPACE)!r}), storage={url!r}, resume={resume}, prune=False)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def test_two_workers_share_a_postgres_study_and_a_killed_one_loses_nothing(postgres_url, tmp_path):
    root = write_csv(tmp_path / "imdb", 160, 40)
    base = TrainConfig(dataset="imdb", data_root=str(root), quantum=False, epochs=2, max_length=24, vocab_size=500)
    a_dir, b_dir = tmp_path / "machine-a", tmp_path / "machine-b"
    a, b = _worker(base, a_dir, postgres_url, N_TRIALS), _worker(base, b_dir, postgres_url, N_TRIALS)
    deadline = time.monotonic() + 240
    while not any(a_dir.glob("trials/0*/config.json")):  # worker a is inside a trial: kill it there
        assert a.poll() is None and time.monotonic() < deadline, a.stderr.read() if a.poll() is not None else "timeout"
        time.sleep(0.05)
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert b.wait(timeout=300) == 0, b.stderr.read()

    # a third run on machine a resumes the study, and takes up whatever a's death left behind
    c = _worker(base, a_dir, postgres_url, N_TRIALS + 1, resume=True)
    assert c.wait(timeout=300) == 0, c.stderr.read()
    study = optuna.load_study(study_name="qrkt", storage=postgres_url)
    states = [t.state for t in study.trials]
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert optuna.trial.TrialState.RUNNING not in states and optuna.trial.TrialState.WAITING not in states
    assert len(finished) == N_TRIALS + 1
    assert len(failed) == 1  # the killed trial, marked failed once its heartbeat stopped ...
    retried = [t for t in finished if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].params == failed[0].params  # ... and run again, once
    draws = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(draws)) == len(draws)  # two workers started together drew different configurations
    runs = [p.name for d in (a_dir, b_dir) for p in d.glob("trials/0*") if (p / "summary.json").is_file()]
    assert sorted(runs) == sorted(f"{t.number:04d}" for t in finished)  # every finished trial's run, in one place
