"""The layers point one way (ARCHITECTURE.md): every import in the app is checked against the table below.

    core  <-  models  <-  engine  <-  services  <-  processes  <-  forms  <-  web / api  <-  app factory, cli
    (letters rendering sits on core; the policy table and demo data sit beside web and api)

Lower layers never import the web layer, forms or the request (QUALITY.md §1.9); the engine knows no domain; no module
imports the app factory; slices are registered in processes.SLICES, never by importing a module for its side effects.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("app", "processes", "forms") for p in (ROOT / folder).rglob("*.py"))

BASE = ("app.extensions", "app.i18n")  # Flask extension objects and the gettext helpers: imported by every layer
# layer -> the app's modules it may import (a prefix allows the package and everything in it)
ALLOWED = {
    "base": (),
    "core": ("app.core",),
    "models": ("app.core", "app.models"),
    "engine": ("app.core", "app.engine", "app.models.workflow"),
    "letters": ("app.core", "app.letters"),
    "services": ("app.core", "app.models", "app.engine", "app.letters", "app.services"),
    "processes": ("app.core", "app.models", "app.engine", "app.letters", "app.services", "processes"),
    "forms": ("app.core", "app.models", "app.services", "processes", "forms"),
    "policy": ("app.core", "app.models"),
    "demo": ("app.core", "app.models", "app.engine", "app.services", "processes", "app.demo"),
    "web": ("app.core", "app.models", "app.engine", "app.letters", "app.services", "processes", "forms",
            "app.policy", "app.transaction", "app.web"),
    "api": ("app.core", "app.models", "app.engine", "app.services", "processes", "app.policy", "app.transaction",
            "app.api"),
    "transaction": ("app.core", "app.models", "app.services", "app.transaction"),
    "top": ("app", "processes", "forms", "config"),  # the app factory and the command line
}
# Names from the web request that no layer below the views may touch.
REQUEST_NAMES = {"request", "session", "g", "render_template", "redirect", "Blueprint", "flash", "url_for"}
BELOW_VIEWS = {"core", "models", "engine", "letters", "services", "processes", "demo"}
VIEW_LIBRARIES = ("flask_wtf", "wtforms", "flask_login")


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    for prefix, layer in (("app/core/", "core"), ("app/models/", "models"), ("app/engine/", "engine"),
                          ("app/letters/", "letters"), ("app/services/", "services"), ("processes/", "processes"),
                          ("forms/", "forms"), ("app/web/", "web"), ("app/api/", "api"), ("app/demo/", "demo")):
        if rel.startswith(prefix):
            return layer
    return {"app/policy.py": "policy", "app/transaction.py": "transaction", "app/extensions.py": "base",
            "app/i18n.py": "base"}.get(rel, "top")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, source: str | None = None):
    """(module, name, line) for every import, including those inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                yield module, alias.name, node.lineno


def _ours(module: str) -> bool:
    return module.split(".")[0] in ("app", "processes", "forms", "config")


def _allowed(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(path: Path, source: str | None = None) -> list[str]:
    layer = layer_of(path)
    found = []
    for module, name, line in imports_of(path, source):
        where = f"{path.relative_to(ROOT)}:{line}"
        full = f"{module}.{name}" if name else module
        if module == "app" and name == "create_app" or full == "app.create_app":
            found.append(f"{where} imports the app factory")
            continue
        if layer in BELOW_VIEWS:
            if module.startswith(VIEW_LIBRARIES):
                found.append(f"{where} ({layer}) imports {module}")
            if module == "flask" and name in REQUEST_NAMES:
                found.append(f"{where} ({layer}) imports flask.{name}")
        if not _ours(module) or layer == "top":
            continue
        target = full if module in ("app", "processes", "forms") and name else module
        if _allowed(target, BASE) or target in ("app", "processes", "forms") and layer == "top":
            continue
        if not _allowed(target, ALLOWED[layer]):
            found.append(f"{where} ({layer}) imports {target}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    assert violations(path) == []


def test_the_check_sees_every_layer():
    layers = {layer_of(p) for p in SOURCES}
    assert {"core", "models", "engine", "letters", "services", "processes", "forms", "web", "api", "policy",
            "top"} <= layers
    assert len(SOURCES) > 60


@pytest.mark.parametrize("source, finding", [
    ("from app.services import audit\n", "imports app.services"),
    ("from app.web.auth import x\n", "imports app.web"),
    ("from app import create_app\n", "app factory"),
    ("import app.services.audit\n", "imports app.services"),
    ("def f():\n    from processes.credit_repair import service\n", "imports processes"),
])
def test_the_check_catches_an_upward_import(source, finding):
    """An engine module that reached up would be found (the rule is not vacuous)."""
    probe = ROOT / "app" / "engine" / "_layering_probe.py"
    assert any(finding in v for v in violations(probe, source))


def test_engine_knows_no_domain():
    for path in (ROOT / "app" / "engine").rglob("*.py"):
        for module, name, _line in imports_of(path):
            assert not module.startswith(("app.services", "processes", "app.web", "app.api")), (path, module)
            if module == "app.models":
                raise AssertionError(f"{path.name} imports app.models ({name}); only app.models.workflow is allowed")


def test_slices_are_listed_not_imported_for_side_effects():
    """Every process folder is one slice in processes.SLICES, and nothing imports a slice without using it."""
    from processes import SLICES

    folders = {p.parent for p in (ROOT / "processes").rglob("*.bpmn")}
    assert folders == {piece.folder for piece in SLICES}
    assert [piece.key for piece in SLICES] == [piece.folder.name for piece in SLICES]
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                text = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
                assert "noqa: F401" not in text, f"{path.relative_to(ROOT)}: import for its side effects: {text}"


def test_web_and_api_share_the_policy_table():
    for folder in ("web", "api"):
        uses = {module for p in (ROOT / "app" / folder).rglob("*.py") for module, _n, _l in imports_of(p)}
        assert "app.policy" in uses, folder
