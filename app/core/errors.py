"""Errors raised by services; the web and API layers turn them into pages and JSON.

Every refusal is audited once. A request handler calls `watch()`; each ServiceError created from then on in that
context is collected, whether a view catches it (and flashes its message) or an error handler answers it. After the
response the web layer records each collected refusal that is not `audited` yet (app/web/__init__.py), as the
exception's `audit_action` — `state.refused` unless the raiser names a more precise one (`upload.refused`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask_babel import gettext as _

_watched: ContextVar[list | None] = ContextVar("watched_service_errors", default=None)


class ServiceError(Exception):
    """A refused request with a stable code, a Chinese message and an HTTP status."""

    status = 400
    code = "bad_request"
    audit_action = "state.refused"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None,
                 audit_action: str | None = None, audit_details: dict | None = None, audited: bool = False,
                 extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        if audit_action:
            self.audit_action = audit_action
        self.audit_details = audit_details or {}
        # More of the answer for API clients, beside code, message and fields (the id of the record a duplicate
        # matches).
        self.extra = extra or {}
        # True once an audit event stands for this refusal (the raiser recorded it, or an error handler did).
        self.audited = audited
        watched = _watched.get()
        if watched is not None:
            watched.append(self)


def watch() -> list[ServiceError]:
    """Collect every ServiceError created from now on in this context (one request); return the live list."""
    found: list[ServiceError] = []
    _watched.set(found)
    return found


@contextmanager
def unwatched() -> Iterator[None]:
    """Create ServiceErrors without collecting them: checks of many items (a bulk import's rows) whose one
    refusal — raised after this block — stands for all of them in the audit log."""
    token = _watched.set(None)
    try:
        yield
    finally:
        _watched.reset(token)


def stop_watching() -> None:
    """End the collection started by `watch()`."""
    _watched.set(None)


class NotFound(ServiceError):
    """The object does not exist or is outside the caller's reach (never say which)."""

    status = 404
    code = "not_found"

    def __init__(self, message: str | None = None, **kw):
        super().__init__(message or _("未找到该对象，或您无权查看。"), **kw)


def found(row):
    """The row a lookup returned, or NotFound when there is none (``found(db.session.get(Unit, unit_id))``)."""
    if row is None:
        raise NotFound()
    return row


class Conflict(ServiceError):
    """Someone else completed or holds the object, or a duplicate submission."""

    status = 409
    code = "conflict"


class Invalid(ServiceError):
    """Input failed validation; `fields` names each bad field."""

    status = 422
    code = "invalid"


class Forbidden(ServiceError):
    """The caller's role may not do this (used where the object itself is visible)."""

    status = 403
    code = "forbidden"
