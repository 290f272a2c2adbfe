"""The package's shape: no module imports another's private name (``from .x import _y``).

A private name is a module's own business; what two modules share is promoted to a public name
in the module where it belongs. Read with `ast`, so nothing is imported.
"""

import ast
from pathlib import Path

import qrkt_qiskit

PACKAGE = Path(qrkt_qiskit.__file__).parent


def private_imports(source: str, where: str) -> list[str]:
    """``where:line: from module import _name`` for each private name ``source`` imports from this package."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        ours = isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] == PACKAGE.name)
        for alias in node.names if ours else ():
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{where}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    return found


def test_no_module_imports_a_private_name_of_another():
    offenders = [line for path in sorted(PACKAGE.rglob("*.py"))
                 for line in private_imports(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert offenders == []


def test_the_check_sees_relative_and_absolute_imports_of_the_package_only():
    source = "from .a import _b, c\nfrom qrkt_qiskit.x import _y\nfrom os import _exit\nfrom . import __version__\n"
    assert private_imports(source, "m.py") == ["m.py:1: from .a import _b", "m.py:2: from qrkt_qiskit.x import _y"]
