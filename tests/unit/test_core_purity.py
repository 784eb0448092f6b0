"""The pure core imports no outside world: clock, randomness and clients are injected."""

import ast
from pathlib import Path

import lab.core

FORBIDDEN = {"docker", "dns", "prometheus_client", "time", "random", "requests", "socket",
             "subprocess", "tenacity"}


def test_core_modules_import_nothing_impure():
    core = Path(lab.core.__file__).parent
    offenders = []
    for path in sorted(core.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert list(core.rglob("*.py")), "no core modules found"
    assert offenders == []
