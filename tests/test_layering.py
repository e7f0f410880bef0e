"""Lower layers never import the web layer, forms or the request (QUALITY.md §1.9)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOWER = [p for layer in ("app/models", "app/services", "app/engine", "app/letters") for p in (ROOT / layer).rglob("*.py")]
FORBIDDEN_MODULES = ("app.web", "app.api", "forms", "flask_wtf", "wtforms", "flask_login")
FORBIDDEN_NAMES = {"request", "session", "g", "render_template", "redirect", "Blueprint"}


def imports_of(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name


@pytest.mark.parametrize("path", LOWER, ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_layer_imports(path):
    for module, name in imports_of(path):
        assert not module.startswith(FORBIDDEN_MODULES), f"{path.name} imports {module}"
        if module == "flask":
            assert name not in FORBIDDEN_NAMES, f"{path.name} imports flask.{name}"


def test_the_check_sees_files():
    assert len(LOWER) > 10
