"""One transaction per request, as Indico's request handler (RH.process) runs one.

`install(app)` wraps every view function of the app once (pages and API alike):

1. The view loads, checks access, calls services (which only flush) and returns its answer.
2. The wrapper then commits once, and only after that runs the work queued with `after_commit` (work outside the
   database that must follow the commit, such as the browser's sign-in state). Mail and pushes are not sent from a
   request at all: they are outbox rows written in the same transaction and delivered by the worker
   (app/services/outbox.py); stored attachment files follow the session's own commit and rollback hooks
   (app/services/attachments.py).
3. On any exception the wrapper rolls back, drops the queued after-commit work and lets the exception go on.
   A ServiceError reaches `answer_service_error`, the one handler that turns it into the answer: the JSON error of
   the API, or on a page the answer the view registered, else the error page.

Pages that answer a refusal with their own page (flash and re-render the form with its field errors, or flash and
redirect) register that answer before calling the service: `on_refusal(respond, *kinds)`. The handler calls
`respond(exc)` after the rollback, so a view holds no try/except, commit or rollback of its own, and what is
rendered is exactly what the page showed before. The only catch left in a view is `auth.change_password`'s
`except Invalid`: the wrong current password it reports is an audited failure that the request keeps (the wrapper
commits it). A request that does several independent things (bulk task actions) runs each in `attempt()`, a
savepoint: a refusal undoes that item only.

The few commits that must happen before the request's own are named in EARLY_COMMITS with their reason; the code
doing one calls `commit_now(reason)` or `commit_apart(reason, write)`, and tests/test_transaction.py checks that
nothing in app/web or app/api commits or rolls back otherwise.

On SQLite a GET or HEAD reads in a deferred transaction (no write lock: readers never block writers, issue 15
point 8); every other request, the worker and the command line begin IMMEDIATE. A reading request that writes (the
session touch, a letter's first opening, an audited download or refusal) calls `writing()` first
(app/core/write_intent.py); a write without it is refused in tests and logged elsewhere (app/__init__.py).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, g, has_request_context, jsonify, render_template, request, session
from flask_login import current_user

from app.core import write_intent
from app.core.errors import ServiceError
from app.extensions import db

log = logging.getLogger(__name__)

# Commits that happen before the request's own one, each with why it cannot wait.
EARLY_COMMITS: dict[str, str] = {
    "session_touch": "resolving the login session wrote its touch, or its idle/lifetime expiry and that audit row; "
                     "it is kept before the view runs, so a failing view cannot revive an expired session",
    "login_attempt": "a password or TOTP check counted a failure towards the lockout, used up a TOTP step or signed "
                     "in, with its audit row; kept even if the rest of the request fails, or a failing request "
                     "would be a free guess",
    "refusal_audit": "the audit row of a refused request (access denied, bad token, CSRF failure, state.refused, "
                     "upload.refused) is written in a transaction of its own after the refused work is rolled back",
}

# Blueprints whose refusals are answered as JSON ({"error": {"code", "message", "fields"}}) instead of a page.
JSON_BLUEPRINTS = ("api",)

_AFTER_COMMIT = "transaction_after_commit"
_REFUSAL = "transaction_refusal"


def install(app: Flask) -> None:
    """Run every view of `app` in one transaction and answer ServiceErrors in one place (idempotent)."""
    for endpoint, view in app.view_functions.items():
        if not getattr(view, "transactional", False):
            app.view_functions[endpoint] = transactional(view)
    app.register_error_handler(ServiceError, answer_service_error)
    if not getattr(app, "_begin_mode_installed", False):
        app._begin_mode_installed = True
        # First of all request hooks: the user loader's session query is already the request's transaction.
        app.before_request_funcs.setdefault(None, []).insert(0, _choose_begin_mode)
        app.teardown_request(_forget_begin_mode)


# Methods that only read (RFC 9110 "safe"): on SQLite their transactions begin deferred, without the write lock.
READING_METHODS = ("GET", "HEAD")
_BEGIN_TOKEN = "transaction_begin_mode"


def _choose_begin_mode() -> None:
    """GET and HEAD read a snapshot (deferred) on SQLite; every other request begins IMMEDIATE (write_intent)."""
    reading = request.method in READING_METHODS and db.engine.dialect.name == "sqlite"
    g.setdefault(_BEGIN_TOKEN, write_intent.set_mode(write_intent.DEFERRED if reading else write_intent.IMMEDIATE))
    if not reading:
        # A request that writes never continues a read snapshot (a caller's session kept open across requests, as
        # tests keep one): that read wrote nothing, so ending it loses nothing.
        write_intent.writing()


def _forget_begin_mode(exc: BaseException | None) -> None:
    token = g.pop(_BEGIN_TOKEN, None)
    if token is not None:
        write_intent.reset(token)


def writing() -> None:
    """A reading request (GET) that must write calls this first: the rest of it runs in an IMMEDIATE transaction
    (app/core/write_intent.py; the re-read of what the write depends on is the caller's)."""
    write_intent.writing()


def transactional(view: Callable) -> Callable:
    """Wrap a view: commit once after it returns, then run its after-commit work; roll back on any exception."""

    @functools.wraps(view)
    def run(*args, **kwargs):
        g.pop(_AFTER_COMMIT, None)
        g.pop(_REFUSAL, None)
        flashed = len(session.get("_flashes", ()))
        try:
            answer = view(*args, **kwargs)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            g.pop(_AFTER_COMMIT, None)
            _forget_flashes_since(flashed)  # "已提交" must not outlive a commit that failed
            raise
        g.pop(_REFUSAL, None)
        for work in g.pop(_AFTER_COMMIT, []):
            try:
                work()
            except Exception:  # committed is committed: a failed follow-up must not turn the answer into "未生效"
                log.exception("after-commit work %r failed for %s %s", work, request.method, request.path)
        return answer

    run.transactional = True
    return run


def _forget_flashes_since(count: int) -> None:
    flashes = session.get("_flashes")
    if flashes is not None and len(flashes) > count:
        session["_flashes"] = flashes[:count]


def after_commit(work: Callable[[], None]) -> None:
    """Run `work` once this request's transaction has committed; never when it rolls back."""
    if not has_request_context():
        raise RuntimeError("after_commit is for request handlers; other callers run their work after their commit")
    g.setdefault(_AFTER_COMMIT, []).append(work)


@dataclass(frozen=True)
class _Refusal:
    respond: Callable[[ServiceError], object]
    kinds: tuple[type[ServiceError], ...]
    unless: tuple[type[ServiceError], ...]

    def covers(self, exc: ServiceError) -> bool:
        return isinstance(exc, self.kinds) and not isinstance(exc, self.unless)


def on_refusal(respond: Callable[[ServiceError], object], *kinds: type[ServiceError],
               unless: tuple[type[ServiceError], ...] = ()) -> None:
    """Answer a ServiceError of `kinds` (any by default, except `unless`) raised later in this view with
    `respond(exc)`, called after the rollback, instead of the error page."""
    setattr(g, _REFUSAL, _Refusal(respond, kinds or (ServiceError,), unless))


def answer_service_error(exc: ServiceError):
    """The one answer to a refused request: the view's registered page, the API's JSON error, or the error page."""
    db.session.rollback()  # already done by the wrapper; a refusal raised before the view gets it here
    refusal = g.pop(_REFUSAL, None)
    if refusal is not None and refusal.covers(exc):
        return refusal.respond(exc)
    if request.blueprint in JSON_BLUEPRINTS:
        if exc.status in (403, 404) and g.get("api_user") is not None:
            record_denial(exc.status, exc.code)
            exc.audited = True  # the refusal audit after the request skips it (app.web.audit_refusals)
        return json_error(exc.status, exc.code, exc.message, exc.fields, exc.extra)
    if exc.status in (403, 404) and current_user and current_user.is_authenticated:
        record_denial(exc.status, exc.code)
        exc.audited = True
    return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status


def json_error(status: int, code: str, message: str, fields: dict | None = None, extra: dict | None = None):
    """The API's error answer: {"error": {"code", "message", "fields"?, ...extra}} with the HTTP status."""
    body = {"error": {**(extra or {}), "code": code, "message": str(message)}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def record_denial(status: int, code: str = "") -> None:
    """Audit a refused access (outside reach answers 404, QUALITY.md §3) apart from the refused work."""
    from app.services import audit

    commit_apart("refusal_audit", lambda: audit.record(
        "access.denied", outcome="denied", object_type="route", object_id=request.path[:64],
        details={"status": status, "method": request.method, "code": code}))


def _named(reason: str) -> None:
    if reason not in EARLY_COMMITS:
        raise KeyError(f"early commit {reason!r} is not named in app.transaction.EARLY_COMMITS")


def commit_now(reason: str) -> None:
    """Commit what is pending now, before the request's own commit; `reason` is a key of EARLY_COMMITS."""
    _named(reason)
    db.session.commit()


def commit_apart(reason: str, write: Callable[[], object], *, best_effort: bool = False) -> bool:
    """Roll back what is pending, then run `write` and commit it on its own; `reason` is a key of EARLY_COMMITS.

    With `best_effort` a failure is rolled back and logged instead of raised (the answer still goes out); the
    return value says whether the write was committed.
    """
    _named(reason)
    db.session.rollback()
    write_intent.writing()  # a refusal of a GET is audited too: that write takes the lock like any other
    if not best_effort:
        write()
        db.session.commit()
        return True
    try:
        write()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not commit %s apart for %s %s", reason, request.method, request.path)
        return False
    return True


def rollback() -> None:
    """Undo what a failed request left pending, for error handlers (an error before the view, or in answering)."""
    db.session.rollback()


@dataclass
class Attempt:
    """The outcome of one `attempt()`: the ServiceError that undid it, or None when it stands."""

    refused: ServiceError | None = None


@contextmanager
def attempt() -> Iterator[Attempt]:
    """Run one item of a request that does several in a savepoint: a ServiceError undoes this item only (kept in
    the yielded Attempt); any other error goes on and the wrapper undoes the whole request."""
    outcome = Attempt()
    queued = len(g.get(_AFTER_COMMIT, []))
    savepoint = db.session.begin_nested()
    try:
        yield outcome
    except ServiceError as exc:
        savepoint.rollback()
        del g.setdefault(_AFTER_COMMIT, [])[queued:]
        outcome.refused = exc
    else:
        savepoint.commit()
