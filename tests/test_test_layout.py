"""The test tree's own layout: test modules share code only through tests/support/, never through each other.

A helper one test module imports from another makes the second a library of the first: moving or deleting a test
then breaks an unrelated one. Shared code lives in tests/support/ (clients, factories, flows, files, harnesses);
conftest.py files hold fixtures and hooks only.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.support.constants import ROOT

TESTS = ROOT / "tests"
SUPPORT = TESTS / "support"
FILES = sorted(TESTS.rglob("*.py"))


def _is_test_module(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py"


def _imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """Every module an import statement names (for `from a import b` also a.b: b may be a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def _names_a_test_module(module: str) -> bool:
    if module.startswith("."):
        return True  # relative imports would reach a sibling test module; tests import by absolute name
    return any(part.startswith("test_") or part == "conftest" for part in module.split("."))


def test_no_module_imports_a_test_module_or_a_conftest():
    offenders = []
    for path in FILES:
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if _names_a_test_module(module):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert offenders == [], "move the shared code to tests/support/:\n" + "\n".join(offenders)


def test_shared_code_lives_in_support():
    helpers = [str(p.relative_to(ROOT)) for p in FILES
               if not _is_test_module(p) and SUPPORT not in p.parents and p.name != "__init__.py"]
    assert helpers == [], "modules that are neither tests nor conftest belong in tests/support/"


def test_conftest_holds_only_fixtures_and_hooks():
    """Besides fixtures and hooks, only private helpers of those fixtures.

    tests/e2e/conftest.py is left out: its live server, page factory and urllib API client are the browser
    fixtures' own machinery, which no other module may import (the first test here holds it to that).
    """
    offenders = []
    for path in (p for p in FILES if p.name == "conftest.py" and p.parent != TESTS / "e2e"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: class {node.name}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
                hook = node.name.startswith("pytest_")
                if not (fixture or hook or node.name.startswith("_")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: def {node.name}")
    assert offenders == [], "a conftest helper others call belongs in tests/support/:\n" + "\n".join(offenders)
