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


APP_MODULES = sorted((ROOT / "app").rglob("*.py"))


@pytest.mark.parametrize("path", APP_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_the_app_factory(path):
    """Only entry points (wsgi.py, scripts, tests) build the app; code that needs one gets the factory passed in."""
    for module, name in imports_of(path):
        assert not (module == "app" and name == "create_app"), f"{path.name} imports the app factory"


@pytest.mark.parametrize("path", LOWER, ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_layers_never_import_the_demo_data(path):
    """Demo data sits above the services (it drives them); only the CLI and tests import it."""
    for module, _name in imports_of(path):
        assert not module.startswith("app.demo"), f"{path.name} imports {module}"
