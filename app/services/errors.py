"""Errors raised by services; the web and API layers turn them into pages and JSON."""
from __future__ import annotations

from flask_babel import gettext as _


class ServiceError(Exception):
    """A refused request with a stable code, a Chinese message and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(ServiceError):
    """The object does not exist or is outside the caller's reach (never say which)."""

    status = 404
    code = "not_found"

    def __init__(self, message: str | None = None, **kw):
        super().__init__(message or _("未找到该对象，或您无权查看。"), **kw)


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
