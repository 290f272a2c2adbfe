"""The example scripts' own logic (the demo itself takes minutes: `make demo`)."""

import importlib.util
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "vit_demo.py"


def _demo():
    spec = importlib.util.spec_from_file_location("vit_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_replaces_only_a_previous_demo(tmp_path):
    demo = _demo()
    runs = tmp_path / "demo"
    demo._replace_previous_demo(runs)  # new: created and marked
    (runs / "quantum").mkdir()
    demo._replace_previous_demo(runs)  # a previous demo: replaced
    assert not (runs / "quantum").exists() and (runs / demo.MARK).exists()
    mine = tmp_path / "mine"
    (mine / "precious").mkdir(parents=True)
    with pytest.raises(SystemExit, match="holds no mark of this demo .* so it is not deleted; move it away or pass --runs"):
        demo._replace_previous_demo(mine)
    assert (mine / "precious").exists()


def test_the_demo_takes_its_threads_from_qrkt_threads_and_says_how_to_rerun_when_interrupted(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "QRKT_THREADS": "1", "OMP_NUM_THREADS": "2"}  # QRKT_THREADS decides
    demo = subprocess.Popen([sys.executable, str(DEMO), "--epochs", "1", "--runs", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert demo.stdout.readline() == "torch uses 1 CPU thread(s) (--threads or QRKT_THREADS to change it)\n"
    assert demo.stdout.readline().startswith("training the quantum rk4_enh ViT on digits")
    demo.send_signal(signal.SIGINT)
    assert demo.wait(timeout=120) == 130
    err = demo.stderr.read()
    assert err.endswith(f"\ndemo interrupted; run it again (make demo, or python {DEMO} --epochs 1 --runs "
                        f"{tmp_path / 'demo'}) to start over\n")
    assert "--resume" not in err and "Traceback" not in err
