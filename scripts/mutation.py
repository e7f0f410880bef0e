"""Mutation testing for the core rule modules: do the tests notice when the code is wrong?

    .venv/bin/python scripts/mutation.py                  # every module below
    .venv/bin/python scripts/mutation.py access uscc      # some of them
    .venv/bin/python scripts/mutation.py --list rules     # show the mutants, run nothing

A small AST mutator (mutmut is not in the virtualenv). Each mutant is one change to one module: a comparison
flipped (< <=, > >=, == !=, in / not in, is / is not), and/or swapped, a `not` dropped, + and - swapped, a number
moved by ±1, True/False swapped, a `mapping.get(key, default)` that ignores the mapping, an argument dropped from a `.where(...)` / `.filter(...)`, a side-effect statement
removed (`db.session.add(...)`, `audit.record(...)`, an attribute assignment, a `raise`), a return value replaced by
None, an item removed from a tuple/list/set of names or from a dict, a name dropped from a call such as
`has_role("intake", "approver")`.

The working tree is copied once to a temporary directory; each mutant is written into that copy only, the module's
mapped test files run against it (`pytest -x -q`, SQLite) in a forked child with a time limit, and the file is put
back. The worktree itself is never touched. A mutant is killed when the tests fail (or error, or time out) and
survives when they pass. The score per module is killed / (mutants - equivalent); the target is >= 90 % for each,
a printed figure, not a CI assertion. Equivalent mutants (no behaviour a test could observe) are listed in
EQUIVALENT below with the reason, and printed apart from the survivors.
"""
from __future__ import annotations

import argparse
import ast
import compileall
import copy
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module -> the test files that are meant to catch its mistakes, fastest and most direct first (-x stops at the
# first failure, so the order is what makes a run practical on two cores). Missing files are skipped, so the same
# map runs on an older tree.
MODULES = {
    "workdays": ["tests/rules/test_workdays.py", "tests/rules/test_calendar_db.py"],
    "uscc": ["tests/rules/test_uscc.py"],
    "transitions": ["tests/rules/test_transitions.py", "tests/processes/objection_review/test_objection_service.py",
                    "tests/processes/credit_repair/test_repair.py",
                    "tests/processes/honor_restoration/test_restoration.py",
                    "tests/processes/rectification/test_rectification.py"],
    "access": ["tests/access/test_access.py", "tests/access/test_idor.py"],
    "eligibility": ["tests/rules/test_eligibility.py", "tests/processes/credit_repair/test_repair.py",
                    "tests/processes/honor_restoration/test_restoration.py", "tests/web/test_public.py"],
    "rules": ["tests/rules/test_rules.py", "tests/processes/credit_repair/test_repair.py",
              "tests/processes/honor_restoration/test_restoration.py",
              "tests/web/test_public.py", "tests/processes/rectification/test_rectification.py",
              "tests/processes/objection_review/test_objection_service.py"],
}

# (module, mutant key) -> why no test can tell the mutant from the original. Keys are printed by --list.
_FROZEN = ("frozen only forbids assigning a field after construction: no code assigns one, and none of these value "
           "objects is hashed or used as a key")
_SCALAR_LIMIT = "db.session.scalar() reads the first row only; LIMIT 2 lets the database return a second that is never read"
EQUIVALENT: dict[tuple[str, str], str] = {
    ("workdays", "WorkCalendar: `frozen=True`: `True` -> `False`"): _FROZEN,
    ("workdays", "Deadline: `frozen=True`: `True` -> `False`"): _FROZEN,
    ("eligibility", "Verdict: `frozen=True`: `True` -> `False`"): _FROZEN,
    ("eligibility", "HonourAnswer: `frozen=True`: `True` -> `False`"): _FROZEN,
    ("eligibility", "repair_facts: `.limit(1)`: `1` -> `2`"): _SCALAR_LIMIT,
    ("eligibility", "repeat_offence: `.limit(1)`: `1` -> `2`"): _SCALAR_LIMIT,
    ("eligibility", "restoration_facts: `.limit(1)`: `1` -> `2`"): _SCALAR_LIMIT,
    ("eligibility", "_left_publication_on: `.limit(1)`: `1` -> `2`"): _SCALAR_LIMIT,
    ("rules", "add_rule_set: `.limit(1)`: `1` -> `2`"): _SCALAR_LIMIT,
}

# Third-party imports done once in the parent, so each forked child only imports the app itself.
PRELOAD = ("flask", "flask_babel", "flask_login", "flask_wtf", "flask_migrate", "sqlalchemy", "alembic", "SpiffWorkflow",
           "weasyprint", "chinese_calendar", "dateutil", "werkzeug", "jinja2", "wtforms", "pytest", "hypothesis",
           "schemathesis")

SQL_FILTERS = {"where", "filter", "filter_by"}
COMPARE_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
OP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
           ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


@dataclass(frozen=True)
class Mutant:
    index: int  # position of the node in ast.walk order
    kind: str
    arg: int
    where: str  # enclosing function
    line: int
    text: str  # what changes, in source terms

    @property
    def key(self) -> str:
        return f"{self.where}: {self.text}"


def _short(node: ast.AST, limit: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_docstring(parent: ast.AST, stmt: ast.stmt) -> bool:
    body = getattr(parent, "body", None)
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
            and bool(body) and body[0] is stmt)


def _removable(parent: ast.AST, stmt: ast.stmt) -> bool:
    """Statements whose removal changes an effect: calls, attribute/item assignments, raises."""
    if _is_docstring(parent, stmt):
        return False
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Call)
    if isinstance(stmt, (ast.Assign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)
    return isinstance(stmt, ast.Raise)


def _owners(tree: ast.AST) -> dict[int, str]:
    """id(node) -> the qualified name of the function (or module level) it sits in."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = child.name if name == "<module>" else f"{name}.{child.name}"
            owners[id(child)] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owners


def _skipped(tree: ast.AST) -> set[int]:
    """Nodes never mutated: imports, annotations, docstrings."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                if arg.annotation:
                    skip.update(id(n) for n in ast.walk(arg.annotation))
            if node.returns:
                skip.update(id(n) for n in ast.walk(node.returns))
        if isinstance(node, ast.AnnAssign):
            skip.update(id(n) for n in ast.walk(node.annotation))
    return skip


def _context(parent: ast.AST | None) -> str:
    """Where a constant sits, for its mutant's key: `.limit(1)` reads better than the whole statement."""
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute):
        return f"`.{parent.func.attr}({', '.join(_short(a, 30) for a in parent.args)})`: "
    if parent is None or isinstance(parent, (ast.Module, ast.Expr, ast.Assign)):
        return ""
    return f"`{_short(parent)}`: "


def _sites(node: ast.AST, parent: ast.AST | None = None) -> list[tuple[str, int, str]]:
    """The mutations one node offers: (kind, argument, description)."""
    out: list[tuple[str, int, str]] = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_FLIP:
                new = OP_TEXT[COMPARE_FLIP[type(op)]]
                out.append(("compare", i, f"`{_short(node)}`: {OP_TEXT[type(op)]} -> {new}"))
    elif isinstance(node, ast.BoolOp):
        out.append(("boolop", 0, f"`{_short(node)}`: {'and -> or' if isinstance(node.op, ast.And) else 'or -> and'}"))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("not", 0, f"`{_short(node)}`: drop not"))
    elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        if not (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
            out.append(("binop", 0, f"`{_short(node)}`: {'+ -> -' if isinstance(node.op, ast.Add) else '- -> +'}"))
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        out.append(("bool", 0, f"{_context(parent)}`{node.value}` -> `{not node.value}`"))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        out.append(("number", 1, f"{_context(parent)}`{node.value}` -> `{node.value + 1}`"))
        out.append(("number", -1, f"{_context(parent)}`{node.value}` -> `{node.value - 1}`"))
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and len(node.args) == 2:
            out.append(("ignoremap", 0, f"`{_short(node)}`: the mapping ignored, always the default"))
        if isinstance(func, ast.Attribute) and func.attr in SQL_FILTERS and len(node.args) >= 1:
            for i, arg in enumerate(node.args):
                out.append(("droparg", i, f"`.{func.attr}(...)`: drop `{_short(arg)}`"))
        elif len(node.args) >= 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            for i, arg in enumerate(node.args):
                out.append(("droparg", i, f"`{_short(node)}`: drop {arg.value!r}"))
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        for i, elt in enumerate(node.elts):
            out.append(("dropitem", i, f"`{_short(node)}`: drop {elt.value!r}"))
    elif isinstance(node, ast.Dict) and len(node.keys) >= 2 and all(k is not None for k in node.keys):
        for i, key in enumerate(node.keys):
            out.append(("dropkey", i, f"dict entry `{_short(key)}` removed"))
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        out.append(("return", 0, f"`return {_short(node.value)}` -> `return None`"))
    for field in ("body", "orelse", "finalbody"):
        stmts = getattr(node, field, None)
        if not isinstance(stmts, list):
            continue
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, ast.stmt) and _removable(node, stmt):
                out.append((f"remove:{field}", i, f"statement removed: `{_short(stmt)}`"))
    return out


def mutants_of(tree: ast.AST) -> list[Mutant]:
    owners, skip = _owners(tree), _skipped(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for kind, arg, text in _sites(node, parents.get(id(node))):
            if kind.startswith("remove:"):
                stmt = getattr(node, kind.split(":", 1)[1])[arg]
                line, where = stmt.lineno, owners.get(id(stmt), "<module>")
            else:
                line, where = getattr(node, "lineno", 0), owners.get(id(node), "<module>")
            found.append(Mutant(index, kind, arg, where, line, text))
    return sorted(found, key=lambda m: (m.line, m.index, m.kind, m.arg))


def apply(tree: ast.AST, mutant: Mutant) -> str:
    """Return the module source with one mutant applied."""
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[mutant.index]
    kind, arg = mutant.kind, mutant.arg
    if kind == "compare":
        node.ops[arg] = COMPARE_FLIP[type(node.ops[arg])]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        node.operand = ast.UnaryOp(op=ast.Not(), operand=node.operand)  # not not x: the truth of x
    elif kind == "binop":
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif kind == "bool":
        node.value = not node.value
    elif kind == "number":
        node.value = node.value + arg
    elif kind == "ignoremap":
        node.func.value = ast.Dict(keys=[], values=[])  # {}.get(key, default) is the default
    elif kind == "droparg":
        del node.args[arg]
    elif kind == "dropitem":
        del node.elts[arg]
    elif kind == "dropkey":
        del node.keys[arg]
        del node.values[arg]
    elif kind == "return":
        node.value = None
    elif kind.startswith("remove:"):
        getattr(node, kind.split(":", 1)[1])[arg] = ast.Pass()
    else:
        raise ValueError(kind)
    return ast.unparse(ast.fix_missing_locations(tree))


def _copy_tree(target: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "node_modules", "var", "__pycache__", ".pytest_cache",
                                    ".hypothesis", "bench-out")
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    (target / "var").mkdir(exist_ok=True)
    compileall.compile_dir(target / "app", quiet=1)  # children then load the unmutated modules from bytecode
    return target


def _run_tests(copy_root: Path, tests: list[str], timeout: float, log: Path, module: Path | None = None) -> str:
    """Run the tests in a forked child against the copy; return 'passed', 'failed' or 'timeout'.

    The mutated module's cached bytecode is dropped first: a pyc only records the source's mtime in whole seconds
    and its size, so two mutants written within a second could otherwise share one stale pyc.
    """
    if module is not None:
        for stale in (module.parent / "__pycache__").glob(f"{module.stem}.*.pyc"):
            stale.unlink()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(copy_root)
            sys.path[:] = [str(copy_root)] + [p for p in sys.path if p not in (str(ROOT), str(ROOT / "scripts"), "")]
            import pytest

            # The preloaded plugins (hypothesis) cannot be assertion-rewritten any more; pytest says so, harmlessly.
            # A basetemp of its own: pytest prunes the shared /tmp/pytest-of-<user> while other sessions run.
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                "--basetemp", str(log.parent.parent / "pytest-tmp"), *tests])
            os._exit(int(code))
        except BaseException:  # noqa: BLE001 - anything in the child is a failed run
            import traceback

            traceback.print_exc()
            os._exit(3)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code == 5:
                raise RuntimeError(f"no tests collected from {tests} (see {log})")
            return "passed" if code == 0 else "failed"
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.05)


def run_module(name: str, copy_root: Path, timeout: float, logs: Path, limit: int | None = None) -> dict | None:
    rel = Path("app/services") / f"{name}.py"
    path = copy_root / rel
    original = path.read_text(encoding="utf-8")
    tree = ast.parse(original)
    tests = [t for t in MODULES[name] if (copy_root / t).exists()]
    started = time.monotonic()
    baseline = _run_tests(copy_root, tests, timeout * 3, logs / f"{name}-baseline.log", path)
    if baseline != "passed":
        tail = (logs / f"{name}-baseline.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        print(f"\n== {name}: the tests {baseline} on the unmutated code, so no score:\n{tail}", flush=True)
        return None
    base_seconds = time.monotonic() - started
    mutants = mutants_of(tree)[:limit]
    killed, survived, equivalent = [], [], []
    print(f"\n== {name}: {len(mutants)} mutants, tests {' '.join(tests)} (baseline {base_seconds:.0f} s)", flush=True)
    try:
        for n, mutant in enumerate(mutants, 1):
            path.write_text(apply(tree, mutant), encoding="utf-8")
            outcome = _run_tests(copy_root, tests, max(timeout, base_seconds * 3), logs / f"{name}-{n}.log", path)
            reason = EQUIVALENT.get((name, mutant.key))
            if outcome == "passed" and reason:
                equivalent.append((mutant, reason))
            elif outcome == "passed":
                survived.append(mutant)
            else:
                killed.append((mutant, outcome))
                (logs / f"{name}-{n}.log").unlink(missing_ok=True)
            mark = {"passed": "S", "failed": ".", "timeout": "T"}[outcome]
            print(mark, end="" if n % 60 else "\n", flush=True)
    finally:
        path.write_text(original, encoding="utf-8")
        for stale in (path.parent / "__pycache__").glob(f"{name}.*.pyc"):
            stale.unlink()
    print()
    counted = len(mutants) - len(equivalent)
    score = 100.0 * len(killed) / counted if counted else 100.0
    return {"name": name, "total": len(mutants), "killed": len(killed), "survived": survived,
            "equivalent": equivalent, "score": score, "seconds": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="module",
                        help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--list", action="store_true", help="list the mutants and run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the copy and the logs of surviving mutants")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant at least (default 120)")
    parser.add_argument("--limit", type=int, help="only the first N mutants of each module (to try the script)")
    args = parser.parse_args()
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if args.list:
        for name in names:
            tree = ast.parse((ROOT / "app/services" / f"{name}.py").read_text(encoding="utf-8"))
            mutants = mutants_of(tree)
            print(f"== {name}: {len(mutants)} mutants")
            for m in mutants:
                print(f"  line {m.line:4}  {m.key}")
        return
    for module in PRELOAD:
        try:
            __import__(module)
        except ImportError:
            pass
    os.environ.pop("TEST_DATABASE_URL", None)  # SQLite: the mapped tests, not the PostgreSQL pass
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        copy_root = _copy_tree(tmp / "repo")
        logs = tmp / "logs"
        logs.mkdir()
        for name in names:
            result = run_module(name, copy_root, args.timeout, logs, args.limit)
            if result is None:
                continue
            results.append(result)
            for mutant in result["survived"]:
                print(f"  SURVIVED line {mutant.line:4}  {mutant.key}")
            for mutant, reason in result["equivalent"]:
                print(f"  equivalent line {mutant.line:4}  {mutant.key}  -- {reason}")
    finally:
        if args.keep:
            print(f"copy and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nmodule        mutants  killed  survived  equivalent  score   time")
    for r in results:
        print(f"{r['name']:<13} {r['total']:>7} {r['killed']:>7} {len(r['survived']):>9} {len(r['equivalent']):>11}"
              f"  {r['score']:5.1f}%  {r['seconds'] / 60:4.1f} min")
    below = [r["name"] for r in results if r["score"] < 90]
    print("target >= 90 % per module: " + ("met" if not below else f"not met for {', '.join(below)}"))


if __name__ == "__main__":
    main()
