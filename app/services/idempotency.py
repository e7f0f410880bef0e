"""Idempotency keys of API clients (issue 12 §3): a retried request answers with what the first one made.

A client sends ``Idempotency-Key: <key>`` with a request that creates something. The first request with a key claims
it (a row of ``idempotency_key``, unique per user and key) in the request's own transaction and, once its work is
done, keeps its answer there; a retry with the same key and the same body gets that answer again, with nothing
made twice; the same key with another body is refused. Only answers that made something are kept: a refused
request rolls back its claim with everything else, so a corrected retry may use the key again.

Two retries racing each other meet at the unique constraint: the second waits for the first's transaction and then
reads its answer (the insert runs in a savepoint, so the request goes on after the violation).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.clock import now
from app.core.errors import Conflict, Invalid, ServiceError
from app.extensions import db
from app.models import IdempotencyKey, User

HEADER = "Idempotency-Key"
MAX_KEY = 100
# Printable ASCII without spaces (a UUID, a ULID, a client's own request number): what an HTTP header carries as is.
_KEY = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_KEY)
PENDING = 0  # the status of a claim whose request has not finished (never committed as such)

T = TypeVar("T")


def check_key(raw: str | None) -> str | None:
    """The key a request sent (None without the header); raise Invalid for one no client should send."""
    if raw is None:
        return None
    if not _KEY.fullmatch(raw):
        raise Invalid(_("Idempotency-Key 应为 1 至 %(max)s 个可打印 ASCII 字符（不含空格）。", max=MAX_KEY),
                      code="bad_idempotency_key", fields={HEADER: _("1–%(max)s 个可打印 ASCII 字符", max=MAX_KEY)})
    return raw


def request_hash(operation: str, body) -> str:
    """A digest of what the request asks for: the operation and its JSON body (key order and spacing aside)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{operation}\n{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Claim:
    """A key this request holds: either the answer an earlier request kept (`replay`), or a new row to fill."""

    row: IdempotencyKey | None = None
    replay: tuple[int, dict] | None = None


def _find(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                          IdempotencyKey.key == key))


def claim(user: User, key: str, digest: str) -> Claim:
    """Claim `key` for this request of `user`, or find the answer an earlier request with it kept (flushes).

    Raises Invalid when the key was used for a different request."""
    row = _find(user.id, key)
    if row is None:
        row = IdempotencyKey(user_id=user.id, key=key, request_hash=digest, status=PENDING, response={},
                             created_at=now())
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:  # a concurrent retry claimed it first and has committed by now
            row = _find(user.id, key)
            if row is None:
                raise Conflict(_("使用同一 Idempotency-Key 的另一请求正在处理，请稍后重试。"),
                               code="idempotency_in_progress") from None
        else:
            return Claim(row=row)
    if row.request_hash != digest:
        raise Invalid(_("该 Idempotency-Key 已用于另一内容不同的请求；新的请求请使用新的 Idempotency-Key。"),
                      code="idempotency_key_reused", fields={HEADER: _("已用于另一请求")})
    if row.status == PENDING:
        raise Conflict(_("使用同一 Idempotency-Key 的另一请求正在处理，请稍后重试。"), code="idempotency_in_progress")
    return Claim(replay=(row.status, row.response))


def keep(found: Claim, status: int, body: dict) -> None:
    """Keep the answer of the request that holds the claim, for its retries (flushes)."""
    if found.row is not None:
        found.row.status = status
        found.row.response = body
        db.session.flush()


def unique_or(work: Callable[[], T], refusal: Callable[[], ServiceError]) -> T:
    """Run `work` in a savepoint; when a unique constraint stops it (a concurrent request wrote the same row first),
    raise `refusal()` instead, which may read what the other request committed."""
    try:
        with db.session.begin_nested():
            return work()
    except IntegrityError:
        raise refusal() from None
