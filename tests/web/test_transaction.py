"""One transaction per request (app/transaction.py): one commit after the view, one rollback on any error,
after-commit work only after the commit, one answer to a ServiceError, early commits only where named."""
from __future__ import annotations

import ast
import functools
import io
import re
import sqlite3
from pathlib import Path

import pytest
from flask import abort, flash, get_flashed_messages, render_template_string
from sqlalchemy import event, func, select

from app import create_app, policy, transaction
from app.core import clock
from app.core.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.models import AuditEvent, Case, CreditRecord, HumanTask, LookupAttempt, SavedFilter, User
from app.web import flash_refusal
from config import TestConfig
from tests.support.constants import ROOT
from tests.support.files import PDF_BYTES

LOG: list[str] = []  # what happened, in order: write, return, commit, after_commit

# --- an app of its own with test-only routes (SQLite file; the routes are public so no login is involved) ------


def _write(marker: str) -> None:
    db.session.add(LookupAttempt(ip=marker, at=clock.now()))
    db.session.flush()  # in the database transaction now: only a rollback can take it back
    LOG.append("write")


def _add_test_routes(app) -> None:
    def ok():
        _write("ok")
        transaction.after_commit(lambda: LOG.append("after_commit"))
        LOG.append("return")
        return "done"

    def crash():
        _write("crash")
        transaction.after_commit(lambda: LOG.append("after_commit"))
        raise RuntimeError("boom")

    def aborted():
        _write("aborted")
        abort(400)  # the 400 page's handler rolls nothing back itself: the wrapper must have

    def refuse():
        _write("refuse")
        transaction.after_commit(lambda: LOG.append("after_commit"))
        raise Conflict("该任务已由他人领取。", code="task_held")

    def refusal_page():
        def respond(exc):
            flash_refusal(exc, fields=True)
            return render_template_string(
                "{% for m in get_flashed_messages() %}<p>{{ m }}</p>{% endfor %}"
                "<i>{{ n }}</i>", n=db.session.scalar(select(func.count(LookupAttempt.id)))), 422

        transaction.on_refusal(respond, Invalid)
        _write("refusal_page")
        raise Invalid("表单有误。", fields={"name": "名称必填"})

    def refusal_other_kind():
        transaction.on_refusal(lambda exc: ("not me", 200), Conflict)
        _write("other_kind")
        raise NotFound()

    def commit_fails():
        # Two rows with one primary key: the commit's flush fails, after the view has returned.
        db.session.add(LookupAttempt(id=900001, ip="dup", at=clock.now()))
        db.session.flush()
        db.session.expunge_all()
        db.session.add(LookupAttempt(id=900001, ip="dup", at=clock.now()))
        transaction.after_commit(lambda: LOG.append("after_commit"))
        flash("已提交。", "success")  # said before the commit that then fails
        LOG.append("return")
        return "done"

    def attempts():
        outcomes = []
        for marker, fail in (("a1", False), ("a2", True), ("a3", False)):
            with transaction.attempt() as outcome:
                _write(marker)
                transaction.after_commit(lambda m=marker: LOG.append(f"after_commit:{m}"))
                if fail:
                    raise Conflict("第二项被拒。", code="second")
            outcomes.append(outcome.refused.code if outcome.refused else "ok")
        return "/".join(outcomes)

    def api_refuse():
        _write("api_refuse")
        raise Invalid("参数不对。", code="bad_thing", fields={"thing": "必填"})

    def api_ok():
        _write("api_ok")
        transaction.after_commit(lambda: LOG.append("after_commit"))
        LOG.append("return")
        return {"ok": True}

    for name, view, endpoint in (("ok", ok, "txtest.ok"), ("crash", crash, "txtest.crash"),
                                 ("aborted", aborted, "txtest.aborted"),
                                 ("refuse", refuse, "txtest.refuse"),
                                 ("refusal-page", refusal_page, "txtest.refusal_page"),
                                 ("refusal-other-kind", refusal_other_kind, "txtest.refusal_other_kind"),
                                 ("commit-fails", commit_fails, "txtest.commit_fails"),
                                 ("attempts", attempts, "txtest.attempts")):
        app.add_url_rule(f"/_tx/{name}", endpoint=endpoint, view_func=_writing(view))
    # Endpoints named "api.*" are API routes to every hook and handler (request.blueprint is "api").
    app.add_url_rule("/api/v1/_tx/refuse", endpoint="api.txtest_refuse", view_func=api_refuse, methods=["POST"])
    app.add_url_rule("/api/v1/_tx/crash", endpoint="api.txtest_crash", view_func=crash, methods=["POST"])
    app.add_url_rule("/api/v1/_tx/ok", endpoint="api.txtest_ok", view_func=api_ok, methods=["POST"])


def _writing(view):
    """These pages are GETs that write: they say so first (transaction.writing), as every such page must on SQLite."""

    @functools.wraps(view)
    def run():
        transaction.writing()
        return view()

    return run


@pytest.fixture(scope="module")
def tx_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tx")

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{folder / 'tx.db'}"
        FILE_STORE = folder / "files"
        PROPAGATE_EXCEPTIONS = False  # answer errors as production does (the 500 page), not raise in the test

    app = create_app(Cfg)
    _add_test_routes(app)
    transaction.install(app)  # the routes above came after create_app's install
    with pytest.MonkeyPatch.context() as mp:
        for endpoint in app.view_functions:
            if "txtest" in endpoint:
                mp.setitem(policy.POLICY, endpoint, frozenset({policy.ANONYMOUS}))
        with app.app_context():
            db.create_all()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture()
def tx(tx_app):
    """The test app's context (requests reuse it, so db.session is theirs), with database commits counted in LOG."""
    with tx_app.app_context():
        db.session.execute(LookupAttempt.__table__.delete())
        db.session.commit()
        LOG.clear()
        listener = lambda conn: LOG.append("commit")  # noqa: E731  (a real COMMIT; savepoints are not counted)
        event.listen(db.engine, "commit", listener)
        try:
            yield tx_app.test_client()
        finally:
            event.remove(db.engine, "commit", listener)
            db.session.rollback()


def stored() -> list[str]:
    """Markers of the committed rows, read on a plain connection of its own (what a second request would see)."""
    with sqlite3.connect(db.engine.url.database) as conn:
        return sorted(ip for (ip,) in conn.execute("SELECT ip FROM lookup_attempt"))


def in_session() -> int:
    """Rows the request's session still sees: a missing rollback would leave the flushed row here."""
    return db.session.scalar(select(func.count(LookupAttempt.id)))


def test_every_view_of_the_app_runs_in_the_transaction(app):
    assert app.view_functions and all(getattr(v, "transactional", False) for v in app.view_functions.values())


def test_success_commits_once_after_the_handler_then_runs_the_after_commit_work(tx):
    response = tx.get("/_tx/ok")
    assert response.status_code == 200 and response.get_data(as_text=True) == "done"
    assert LOG == ["write", "return", "commit", "after_commit"]
    assert stored() == ["ok"]


def test_an_api_handler_commits_once_the_same_way(tx):
    response = tx.post("/api/v1/_tx/ok")
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    assert LOG == ["write", "return", "commit", "after_commit"]
    assert stored() == ["api_ok"]


def test_a_page_that_writes_then_crashes_leaves_nothing_and_says_so(tx):
    response = tx.get("/_tx/crash")
    assert response.status_code == 500
    assert "本次操作未生效" in response.get_data(as_text=True)
    assert LOG == ["write"]  # no commit, no after-commit work
    assert in_session() == 0 and stored() == []
    assert tx.get("/_tx/ok").status_code == 200  # the next request commits only its own row
    assert stored() == ["ok"]


def test_a_page_that_writes_then_aborts_leaves_nothing(tx):
    response = tx.get("/_tx/aborted")
    assert response.status_code == 400
    assert LOG == ["write"] and in_session() == 0 and stored() == []


def test_an_api_handler_that_writes_then_crashes_leaves_nothing(tx):
    response = tx.post("/api/v1/_tx/crash")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "500"
    assert LOG == ["write"] and in_session() == 0 and stored() == []


def test_a_refused_page_rolls_back_and_shows_the_error_page_with_its_status(tx):
    response = tx.get("/_tx/refuse")
    assert response.status_code == 409
    assert "该任务已由他人领取。" in response.get_data(as_text=True)
    assert LOG == ["write"] and in_session() == 0 and stored() == []


def test_a_refused_api_call_rolls_back_and_answers_the_json_error(tx):
    response = tx.post("/api/v1/_tx/refuse")
    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "bad_thing", "message": "参数不对。", "fields": {"thing": "必填"}}}
    # A refused POST is audited (state.refused) in a commit of its own, after its work was rolled back.
    assert LOG == ["write", "commit"] and in_session() == 0 and stored() == []
    refusal = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (refusal.action, refusal.details["code"]) == ("state.refused", "bad_thing")


def test_the_page_a_view_registers_answers_its_refusal_after_the_rollback(tx):
    response = tx.get("/_tx/refusal-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<p>表单有误。</p><p>名称必填</p>" in page  # the message, then each field's
    assert "<i>0</i>" in page  # rendered after the rollback: the refused row is gone already
    assert stored() == []
    with tx.session_transaction() as cookie:  # the flashes were shown, not left for the next page
        assert not cookie.get("_flashes")


def test_a_registered_page_answers_only_its_kinds(tx):
    response = tx.get("/_tx/refusal-other-kind")
    assert response.status_code == 404 and "not me" not in response.get_data(as_text=True)
    assert stored() == []


def test_a_failing_commit_is_rolled_back_answered_as_an_error_and_runs_no_after_commit_work(tx):
    response = tx.get("/_tx/commit-fails")
    assert response.status_code == 500
    assert "after_commit" not in LOG and "commit" not in LOG
    assert stored() == []


def test_a_failing_commit_forgets_the_success_it_flashed_but_keeps_earlier_messages(tx):
    with tx.session_transaction() as browser_session:
        browser_session["_flashes"] = [("message", "请先登录。")]
    response = tx.get("/_tx/commit-fails")
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "已提交" not in page and "请先登录。" in page
    with tx.session_transaction() as browser_session:
        assert "已提交。" not in str(browser_session.get("_flashes"))


def test_attempts_undo_only_the_refused_item_in_the_one_transaction(tx):
    response = tx.get("/_tx/attempts")
    assert response.get_data(as_text=True) == "ok/second/ok"
    assert stored() == ["a1", "a3"]
    assert LOG.count("commit") == 1
    assert [e for e in LOG if e.startswith("after_commit")] == ["after_commit:a1", "after_commit:a3"]


def test_after_commit_outside_a_request_is_refused(app):
    with pytest.raises(RuntimeError):
        transaction.after_commit(lambda: None)


def test_an_early_commit_must_be_named():
    with pytest.raises(KeyError):
        transaction.commit_now("because")
    with pytest.raises(KeyError):
        transaction.commit_apart("because", lambda: None)


# --- real endpoints: the answers stay what they were -------------------------------------------------------------


def _own_record(username: str) -> CreditRecord:
    unit_id = db.session.scalar(select(User.unit_id).where(User.username == username))
    return db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == unit_id,
                                                         CreditRecord.status == "published")
                              .order_by(CreditRecord.id)).first()


def test_real_api_endpoint_that_writes_then_is_refused_keeps_nothing(api, recorded_staff, monkeypatch):
    from processes.objection_review import service as objections

    real = objections.create_objection

    def create_then_refuse(*args, **kwargs):
        real(*args, **kwargs)  # a case, its history and audit rows, flushed
        raise Conflict("重复提交。", code="duplicate")

    monkeypatch.setattr(objections, "create_objection", create_then_refuse)
    client = api("applicant1")
    record = _own_record("applicant1")
    last_event = db.session.scalar(select(func.max(AuditEvent.id)))
    response = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id,
                                                  "reason": "wrong_content", "statement": "理由"})
    assert response.status_code == 409
    assert response.get_json() == {"error": {"code": "duplicate", "message": "重复提交。"}}
    db.session.rollback()
    assert db.session.scalar(select(func.count(Case.id))) == 0
    # Only the refusal's own audit row (state.refused, written apart) was added.
    added = db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > last_event)
                               .order_by(AuditEvent.id)).all()
    assert added == ["state.refused"]


def test_real_api_not_found_is_the_same_json_and_audited(api, staff):
    response = api("applicant1").get("/api/v1/records/999999")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "未找到该对象，或您无权查看。"}}
    assert db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "access.denied")
                             .order_by(AuditEvent.id.desc()).limit(1))["status"] == 404


def test_real_page_that_writes_then_is_refused_flashes_and_keeps_nothing(web, staff, monkeypatch):
    from app.services.inbox import filters as tasks

    real = tasks.save_filter

    def save_then_refuse(*args, **kwargs):
        real(*args, **kwargs)
        raise Invalid("筛选名称已被占用。", fields={"name": "重名"})

    monkeypatch.setattr(tasks, "save_filter", save_then_refuse)
    browser = web("intake1")
    response = browser.post("/tasks/filters", {"name": "我的", "process": "objection"}, form_page="/tasks/inbox")
    assert response.status_code == 302 and "/tasks/inbox" in response.headers["Location"]
    assert "筛选名称已被占用。" in browser.get(response.headers["Location"]).get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count(SavedFilter.id))) == 0


def test_real_page_not_found_is_the_error_page(web, staff):
    response = web("intake1").get("/cases/999999")
    assert response.status_code == 404
    assert "未找到该对象，或您无权查看。" in response.get_data(as_text=True)


def test_real_bulk_claim_keeps_the_done_tasks_when_one_is_refused(api, web, recorded_staff):
    client = api("applicant1")
    case = client.post("/api/v1/cases", json={"type": "objection", "record_id": _own_record("applicant1").id,
                                              "reason": "wrong_content", "statement": "理由"}).get_json()
    for kind in ("evidence", "commitment"):
        client.post(f"/api/v1/cases/{case['id']}/attachments", content_type="multipart/form-data",
                    data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), f"{kind}.pdf")})
    assert client.post(f"/api/v1/cases/{case['id']}/submit").status_code == 200
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.status == "open"))
    browser = web("intake1")
    response = browser.post("/tasks/bulk", {"action": "claim", "task_ids": ["no-such-task", task_id]},
                            form_page="/tasks/inbox?scope=group", follow_redirects=True)
    assert "已处理 1 项任务。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(HumanTask, task_id).assignee_id == db.session.scalar(
        select(User.id).where(User.username == "intake1"))


# --- static: no view commits, rolls back or swallows errors by itself ----------------------------------------------

VIEW_FILES = sorted([*ROOT.glob("app/web/*.py"), *ROOT.glob("app/api/*.py")])
BROAD = {"Exception", "BaseException", "ServiceError"}
# A view that catches a service error itself, and why (every other refusal goes to the one handler).
OWN_CATCHES = {
    ("auth.py", "change_password", "Invalid"): "the wrong current password it reports is kept (audited failure)",
    ("audit_log.py", "_retention_days", "ServiceError"): "a read for display: no retention set shows as none",
    ("__init__.py", "_refill_stale_form", "ServiceError"): "a stale form's view runs inside the CSRF error handler, "
                                                           "whose own exceptions Flask handles no more: handed on",
}
ERROR_NAMES = {"ServiceError", "Invalid", "Conflict", "NotFound", "Forbidden", "TooManyLookups"}


def _functions(tree):
    """(enclosing function name, node) for every node of a module."""
    def walk(node, name):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            yield inner, child
            yield from walk(child, inner)
    yield from walk(tree, "<module>")


def _is_error_handler(func: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "errorhandler"
               for d in func.decorator_list)


@pytest.mark.parametrize("path", VIEW_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_views_leave_commit_rollback_and_errors_to_the_transaction(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    handlers = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and _is_error_handler(f)}
    for func, node in _functions(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')} in {func}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, target = node.func.attr, ast.unparse(node.func.value)
            assert not (attr in ("commit", "rollback", "begin_nested", "begin", "flush") and "session" in target), \
                f"{where}: {target}.{attr}() — the request's transaction commits and rolls back (app/transaction.py)"
            if target == "transaction" and attr in ("commit_now", "commit_apart"):
                reason = node.args[0]
                assert isinstance(reason, ast.Constant) and reason.value in transaction.EARLY_COMMITS, \
                    f"{where}: early commit not named in EARLY_COMMITS"
            if target == "transaction" and attr == "rollback":
                assert func in handlers, f"{where}: only error handlers roll back what a failed request left"
        if isinstance(node, ast.ExceptHandler):
            assert node.type is not None, f"{where}: bare except"
            caught = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node.type)
                      if isinstance(n, (ast.Name, ast.Attribute))}
            assert not (caught & {"Exception", "BaseException"}), f"{where}: catches {caught}"
            for name in caught & ERROR_NAMES:
                assert (path.name, func, name) in OWN_CATCHES, \
                    f"{where}: catches {name}; register the page with transaction.on_refusal instead"


def test_every_named_early_commit_is_used_and_nothing_else_commits_early():
    used = set()
    for path in [*ROOT.glob("app/**/*.py")]:
        if path.name == "transaction.py":
            continue
        used |= set(re.findall(r'transaction\.commit_(?:now|apart)\("([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert used == set(transaction.EARLY_COMMITS)
    # The one place that commits on its own behalf is the wrapper; transaction.py commits nowhere else.
    source = (ROOT / "app/transaction.py").read_text(encoding="utf-8")
    assert source.count("db.session.commit()") == 4  # the wrapper, commit_now, commit_apart (twice: both paths)


def test_the_transaction_module_stays_below_the_web_and_the_api():
    tree = ast.parse((ROOT / "app/transaction.py").read_text(encoding="utf-8"))
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m.startswith(("app.web", "app.api", "forms"))]


def test_flashes_in_refusal_pages_use_the_same_helper(tx_app):
    """flash_refusal shows the message, then (for forms) each field's message, as the pages always did."""
    with tx_app.test_request_context("/"):
        flash_refusal(Invalid("总的。", fields={"a": "甲", "b": "乙"}), fields=True)
        flash_refusal(Invalid("只有总的。", fields={"a": "甲"}))
        assert get_flashed_messages(with_categories=True) == [
            ("error", "总的。"), ("error", "甲"), ("error", "乙"), ("error", "只有总的。")]
