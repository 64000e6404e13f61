"""Services import mitigate's public API only: a planted private import makes this fail.

Public means: ``mitigate`` and the public modules listed in ``PUBLIC_MODULES``, and from
each only the names in its ``__all__``. ``mitigate._x``, ``mitigate.x._y`` and any deeper
module (``mitigate.durable.queue``) are private: their names are reachable through the
public modules, which may change what lives where without breaking a service.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PUBLIC_MODULES = frozenset(
    {
        "mitigate",
        "mitigate.bus",
        "mitigate.catalog",
        "mitigate.chaos",
        "mitigate.clock",
        "mitigate.durable",
        "mitigate.errors",
        "mitigate.guard",
        "mitigate.integrity",
        "mitigate.observe",
        "mitigate.policy",
        "mitigate.testing",
        "mitigate.web",
    }
)


def _public_names(module: str) -> frozenset[str]:
    names = frozenset(importlib.import_module(module).__all__)
    if module == "mitigate":  # `from mitigate import chaos` is the same as importing it
        names |= {m.split(".", 1)[1] for m in PUBLIC_MODULES if "." in m}
    return names


def private_imports(root: Path) -> list[str]:
    """Every import of a private mitigate module or name under ``root``, as
    ``path:line: what`` (empty when ``root`` does not exist)."""
    problems: list[str] = []
    if not root.exists():
        return problems
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(root.parent) if root.parent in path.parents else path
        for node in ast.walk(tree):
            for problem in _check(node):
                problems.append(f"{where}:{getattr(node, 'lineno', 0)}: {problem}")
    return problems


def _check(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [
            f"import {alias.name} (not a public module)"
            for alias in node.names
            if _is_mitigate(alias.name) and alias.name not in PUBLIC_MODULES
        ]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if not _is_mitigate(node.module):
            return []
        if node.module not in PUBLIC_MODULES:
            return [f"from {node.module} import ... (not a public module)"]
        public = _public_names(node.module)
        return [
            f"from {node.module} import {alias.name} (not in {node.module}.__all__)"
            for alias in node.names
            if alias.name == "*" or alias.name not in public
        ]
    if (  # importlib.import_module("mitigate.x._y")
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        in ("import_module", "__import__")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and _is_mitigate(node.args[0].value)
        and node.args[0].value not in PUBLIC_MODULES
    ):
        return [f"import_module({node.args[0].value!r}) (not a public module)"]
    return []


def _is_mitigate(module: str) -> bool:
    return module == "mitigate" or module.startswith("mitigate.")


def test_services_import_only_public_mitigate() -> None:
    problems = private_imports(ROOT / "services")
    assert not problems, "services import private mitigate modules:\n" + "\n".join(problems)


def test_every_public_module_has_an_all_and_its_names_exist() -> None:
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        assert isinstance(mod.__all__, list | tuple) and mod.__all__, module
        missing = [name for name in mod.__all__ if not hasattr(mod, name)]
        assert not missing, f"{module}.__all__ names what it lacks: {missing}"


def test_the_check_passes_without_services(tmp_path: Path) -> None:
    assert private_imports(tmp_path / "services") == []


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("import mitigate._internal\n", "import mitigate._internal"),
        ("from mitigate.durable._saga_sql import X\n", "mitigate.durable._saga_sql"),
        ("from mitigate.durable.queue import WorkQueue\n", "mitigate.durable.queue"),
        ("import mitigate.web.errors\n", "import mitigate.web.errors"),
        ("from mitigate.web import _trace_id\n", "_trace_id (not in mitigate.web.__all__)"),
        ("from mitigate import default_clock\n", "default_clock (not in mitigate.__all__)"),
        ("from mitigate.guard import *\n", "import *"),
        ("import importlib\nimportlib.import_module('mitigate.policy._async')\n", "_async"),
    ],
)
def test_a_planted_private_import_fails_the_check(tmp_path: Path, source: str, needle: str) -> None:
    services = tmp_path / "services" / "content"
    services.mkdir(parents=True)
    (services / "__init__.py").write_text("")
    (services / "app.py").write_text(
        "from __future__ import annotations\n\nimport mitigate\nfrom mitigate.web import Health\n"
        "from . import store\n" + source
    )
    (problem,) = private_imports(tmp_path / "services")
    assert needle in problem and problem.startswith("services/content/app.py:")


def test_public_imports_pass(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "ok.py").write_text(
        "import mitigate\nimport mitigate.chaos\nfrom mitigate import WorkQueue, chaos, web\n"
        "from mitigate.web import ErrorEnvelopeMiddleware, Health\n"
        "from mitigate.guard import assert_no_protected\nfrom mitigate.durable import open_store\n"
        "from mitigate.observe import OpenTelemetryObserver\nfrom mitigate.chaos import Run\n"
        "from .kit import settings\nimport httpx\n"
    )
    assert private_imports(services) == []
