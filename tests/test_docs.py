"""The docs run as written: every Python snippet in README.md and docs/ is executed, every
``qrkt`` command in them is checked against the real parser.

A file's Python snippets run in order in one fresh interpreter (later ones may use what
earlier ones defined), on CPU. A snippet that cannot run here says why on the line before
its fence: ``<!-- not run by tests/test_docs.py: REASON -->`` (an IBM Quantum account, a
trained run, dataset files). Shell commands (blocks with no language, ``sh`` or ``bash``; a
program's output goes in ``text`` blocks) may use placeholders (``RUN``, ``[--post-norm]``), so
they are not run; their subcommands and every ``--option`` must exist.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!-- not run by tests/test_docs\.py: (.+?) -->\s*$")


def _blocks(path: Path):
    """``(language, code, line, skip reason or None)`` for every fenced block of ``path``."""
    text = path.read_text()
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        yield m.group(1), m.group(2), text[:m.start()].count("\n") + 1, skip.group(1) if skip else None


def _python_files():
    return [p for p in DOCS if any(lang == "python" and skip is None for lang, _, _, skip in _blocks(p))]


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: p.name)
def test_python_snippets_run(path, tmp_path):
    parts = []
    for lang, code, line, skip in _blocks(path):
        if lang == "python" and skip is None:
            parts.append(f"# --- {path.name}:{line}\n{code}")
    script = tmp_path / "snippets.py"
    script.write_text("\n".join(parts))
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT),
           "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{path.name}'s snippets failed:\n{done.stderr[-3000:]}"


def test_every_skipped_snippet_says_why():
    for path in DOCS:
        for lang, code, line, skip in _blocks(path):
            if skip is not None:
                assert lang == "python" and len(skip) > 10, f"{path.name}:{line}: a skip needs a reason"


def _commands():
    """Every ``qrkt`` command line in the docs' shell blocks, with where it is."""
    for path in DOCS:
        for lang, code, line, _ in _blocks(path):
            if lang not in ("", "sh", "bash"):
                continue
            for k, text in enumerate(code.splitlines()):
                text = text.split("#", 1)[0].strip()
                words = text.split()
                if "qrkt" in words:  # after env vars, nice, torchrun ...
                    yield f"{path.name}:{line + 1 + k}", words[words.index("qrkt") + 1:]
                elif "qrkt_qiskit" in words and "-m" in words:
                    yield f"{path.name}:{line + 1 + k}", words[words.index("qrkt_qiskit") + 1:]


def _subparser(parser, name):
    import argparse

    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices.get(name)


def test_every_documented_command_and_option_exists():
    from qrkt_qiskit.cli import build_parser

    parser = build_parser()
    checked = 0
    for where, words in _commands():
        words = [w.strip("[]") for w in shlex.split(" ".join(words).replace("|", " "))]
        while words and words[0].startswith("--"):  # qrkt's own options come first; --threads takes a value
            words = words[2:] if words[0] == "--threads" else words[1:]
        options = {w.split("=", 1)[0] for w in words if w.startswith("--")}
        positional = [w for w in words if not w.startswith("-")]
        target = parser
        if positional and positional[0] != "COMMAND":
            target = _subparser(parser, positional[0])
            assert target is not None, f"{where}: no command {positional[0]!r}"
            if positional[0] == "gan":
                target = _subparser(target, positional[1])
                assert target is not None, f"{where}: no gan action {positional[1]!r}"
        known = set(target._option_string_actions) | set(parser._option_string_actions)
        unknown = options - known
        assert not unknown, f"{where}: {' '.join(sorted(unknown))} not an option of qrkt {' '.join(positional[:2])}"
        checked += 1
    assert checked > 30  # the docs hold this many; a broken extractor would find none


# The README's first commands, run with their own arguments and these added to make them take
# seconds; ``runs/<run>`` is the run the first of them trains.
CUT_DOWN = {"train": ["--epochs", "1", "--blocks", "1", "--no-progress"], "evaluate": ["--limit", "8"],
            "noise-study": ["--limit", "8", "--aer-check", "0"]}


def _readme_commands():
    first = next(code for lang, code, _, _ in _blocks(ROOT / "README.md") if lang in ("", "sh", "bash"))
    return [shlex.split(line.split("#", 1)[0])[1:] for line in first.splitlines() if line.startswith("qrkt ")]


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory):
    """A folder holding the run the README's first command trains, which its later commands read as ``runs/<run>``.

    Trained here, not by that command's own test, so that each test stands alone (``pytest -n`` may run
    them in different processes or in any order).
    """
    from qrkt_qiskit.cli import main

    runs = tmp_path_factory.mktemp("readme")
    first = _readme_commands()[0]
    assert main(first + CUT_DOWN[first[0]] + ["--run-dir", str(runs / "0")]) == 0
    return runs


@pytest.mark.parametrize("argv", _readme_commands()[1:], ids=lambda argv: " ".join(argv[:2]))
def test_the_readmes_commands_run_cut_down_to_seconds(argv, readme_runs, capsys):
    """The first command is run by the ``readme_runs`` fixture, the others here."""
    from qrkt_qiskit.cli import main

    runs = sorted(p for p in readme_runs.iterdir() if p.is_dir())
    argv = [str(runs[0]) if a == "runs/<run>" else a for a in argv] + CUT_DOWN.get(argv[0] if argv else "", [])
    if argv[:1] == ["train"]:
        argv += ["--run-dir", str(readme_runs / str(len(runs)))]
    if argv[:1] == ["noise-study"]:
        argv += ["--out", str(readme_runs / "noise-study")]
    try:
        status = main(argv)
    except SystemExit as exc:  # --help
        status = exc.code
    finally:
        if argv[0] == "noise-study":  # finished or not, its finished rows are kept
            assert (readme_runs / "noise-study" / "noise_study.csv").read_text().startswith("backend,")
    assert status == 0, capsys.readouterr().err[-2000:]
