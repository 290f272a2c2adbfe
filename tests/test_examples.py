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
