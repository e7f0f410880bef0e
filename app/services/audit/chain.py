"""Record audit events in an append-only, keyed hash chain, and verify the chain (QUALITY.md §3; MLPS 2.0 level 3).

Each event's `hash` is an HMAC-SHA256 (key `key_id`, held outside the database: app.services.audit.keys) over
the previous event's hash and the event's own fields, so someone who can write to the database but lacks the
key can neither edit an event nor recompute the chain after an edit, and cannot forge an `audit.archived`
anchor. Events written before migration 0010 carry no key id and a plain SHA-256 ("legacy"): they are accepted
only before the first keyed event, never after it. Keyed checkpoints of the head, kept outside the database
(app.services.audit.checkpoint_file), show deleted newest events and a chain replaced as a whole.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, SessionTransaction

from app.core import write_intent
from app.core.clock import local_text, now
from app.extensions import db
from app.models import AuditEvent
from app.services.audit import checkpoint_file
from app.services.audit.checkpoint_file import Checkpoint
from app.services.audit.keys import Keyring, keyring

GENESIS = "0" * 64
# The event that records an archival purge; its details anchor the chain's first remaining row.
ARCHIVED = "audit.archived"
# A refused checkpoint, or a reset after a restore (a successful routine checkpoint is not an event).
CHECKPOINT = "audit.checkpoint"
_FIELDS = ("at", "user_id", "username", "unit_id", "ip", "action", "object_type", "object_id", "outcome", "details")


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; the web layer sets it per request."""

    user_id: int | None = None
    username: str = ""
    unit_id: int | None = None
    ip: str = ""


# The actor when none is bound: the worker and CLI commands, and a request before it has bound its own.
SYSTEM = Actor(username="system")
_actor: ContextVar[Actor] = ContextVar("audit_actor", default=SYSTEM)


def set_actor(actor: Actor) -> None:
    """Bind the acting user and IP for this request or worker run."""
    _actor.set(actor)


def unbind_actor() -> None:
    """Forget the bound actor (at the end of a request, so the next one never inherits it)."""
    _actor.set(SYSTEM)


def current_actor() -> Actor:
    """Return the bound actor (system when nothing is bound)."""
    return _actor.get()


def _payload(prev_hash: str, row: dict, key_id: str | None) -> bytes:
    if key_id is not None:
        row = {**row, "key_id": key_id}  # the key id is sealed too: relabelling a row breaks it
    return (prev_hash + json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
            ).encode("utf-8")


def _digest(prev_hash: str, row: dict) -> str:
    """The legacy seal (events before migration 0010): plain SHA-256, which anyone can recompute."""
    return hashlib.sha256(_payload(prev_hash, row, None)).hexdigest()


def seal(prev_hash: str, row: dict, key_id: str | None, ring: Keyring) -> str | None:
    """The hash an event must carry: HMAC under its key, SHA-256 for legacy events; None for an unknown key."""
    if key_id is None:
        return _digest(prev_hash, row)
    return ring.mac(key_id, _payload(prev_hash, row, key_id))


_TABLE = AuditEvent.__table__
_HEAD = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(7071001)")


def _fields_of(values: dict) -> dict:
    """The sealed fields of an event, from its column values."""
    return {**{name: values[name] for name in _FIELDS}, "at": values["at"].isoformat()}


def _row_fields(ev) -> dict:
    """The sealed fields of a stored event (an object or a row with the columns as attributes)."""
    return _fields_of({name: getattr(ev, name) for name in _FIELDS})


# session.info keys. _PENDING: the events recorded in this transaction and not yet written, each with the session
# transaction (root or savepoint) it was recorded in; _LOCKED: the transaction in which the chain lock was taken.
_PENDING = "audit_pending"
_LOCKED = "audit_chain_locked"


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _inside(tag: SessionTransaction | None, transaction: SessionTransaction) -> bool:
    """Whether what was done in `tag` (None: the root, before it began) is undone when `transaction` rolls back."""
    if tag is None:
        return transaction.parent is None
    while tag is not None:
        if tag is transaction:
            return True
        tag = tag.parent
    return False


def lock_chain() -> None:
    """Take the audit chain's writer lock (held to the end of the transaction; taken once in it).

    Other locks that audited transactions hold to their end (number sequences) are taken after this one,
    never before, so two transactions cannot wait on each other (PostgreSQL would abort one as a deadlock).
    """
    # One writer at a time extends the chain. PostgreSQL: a transaction-scoped advisory lock (the archive
    # function of migration 0010 takes the same one); SQLite: write transactions are BEGIN IMMEDIATE.
    session = db.session()
    if session.info.get(_LOCKED) is None and session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_CHAIN_LOCK)  # a plain statement: the ORM's execute adds nothing to it
        session.info[_LOCKED] = _innermost(session)


def record(action: str, *, outcome: str = "success", object_type: str = "", object_id: object = "",
           details: dict | None = None, actor: Actor | None = None) -> None:
    """Append one audit event to the chain, written and committed with the caller's transaction.

    The chain's lock is taken now, as before any other lock the transaction holds to its end (lock_chain); the
    event is sealed and written when the transaction commits (with every other event it recorded: one read of the
    chain's head and one plain insert for them all), or earlier when the transaction reads the log. An
    event recorded in a savepoint that rolls back is dropped with it."""
    # An audited view of a reading page (a download, an export) writes, and the chain's last hash must be read under
    # the write lock: on SQLite a GET's deferred transaction becomes a writing one here (app/core/write_intent.py).
    write_intent.writing()
    actor = actor or current_actor()
    lock_chain()
    session = db.session()
    session.info.setdefault(_PENDING, []).append((_innermost(session), {
        "at": now(),
        "user_id": actor.user_id,
        "username": actor.username,
        "unit_id": actor.unit_id,
        "ip": actor.ip,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "outcome": outcome,
        "details": details or {},
    }))


def _seal_pending(session: Session) -> list[dict]:
    """Take the events this transaction recorded and seal them, in order, after the chain's head: their rows."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return []
    ring = keyring()
    # On the session's connection: nothing pending in the session changes the chain's head (events are written
    # here only, and an event written as an object is flushed at once).
    prev = session.connection().execute(_HEAD).scalar() or GENESIS
    rows = []
    for _tag, fields in pending:
        row = {**fields, "prev_hash": prev, "key_id": ring.current}
        row["hash"] = prev = ring.mac(ring.current, _payload(prev, _fields_of(fields), ring.current))
        rows.append(row)
    return rows


def write_pending(session: Session | None = None) -> list[AuditEvent]:
    """Seal and write the events this transaction recorded, in order, after the chain's head, as objects in the
    session (flushed): for a caller that needs them now, with their ids (an archive's anchor, tests)."""
    session = session or db.session()
    written = [AuditEvent(**row) for row in _seal_pending(session)]
    if written:
        session.add_all(written)
        session.flush()
    return written


def _write_plain(session: Session) -> None:
    """Seal and write the events this transaction recorded as one plain INSERT (at commit, and before a read of the
    log): no object and no flush, about half the time of the ORM's flush of the same rows on PostgreSQL."""
    rows = _seal_pending(session)
    if rows:
        session.connection().execute(_TABLE.insert(), rows)


@event.listens_for(Session, "before_commit")
def _write_at_commit(session: Session) -> None:
    if session.info.get(_PENDING) and session.get_nested_transaction() is None:  # the root commits, not a savepoint
        _write_plain(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state) -> None:
    """A transaction that reads the log sees the events it recorded; not inside a savepoint, whose rollback would
    take with it events recorded before it (they wait for the commit)."""
    if (state.session.info.get(_PENDING) and state.is_select and state.session.get_nested_transaction() is None
            and any(mapper.class_ is AuditEvent for mapper in state.all_mappers)):
        _write_plain(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [item for item in pending if not _inside(item[0], transaction)]
    if _LOCKED in session.info and _inside(session.info[_LOCKED], transaction):
        del session.info[_LOCKED]  # a savepoint's rollback releases the locks taken in it


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_LOCKED, None)


class _Checker:
    """Checks events in chain order: each one's seal, and that legacy events come only before keyed ones.

    `keyed_from` (from a checkpoint) is the first keyed event's id: a legacy event at or after it is refused
    even when every event after it was also turned back into legacy form.
    """

    def __init__(self, ring: Keyring, keyed_from: int | None = None):
        self.ring = ring
        self.keyed_from = keyed_from
        self.seen_keyed = False
        self.first_keyed: int | None = None

    def problems(self, ev_id, fields: dict, key_id, prev_hash: str, stored: object, action: object) -> list[str]:
        reason = ""
        if key_id is None:
            if self.seen_keyed or (self.keyed_from is not None and isinstance(ev_id, int) and ev_id >= self.keyed_from):
                reason = "legacy_after_keyed"
        else:
            self.seen_keyed = True
            if self.first_keyed is None:
                self.first_keyed = ev_id
        if not reason:
            expected = seal(prev_hash, fields, key_id if key_id is None else str(key_id), self.ring)
            if expected is None:
                return [_("事件 %(id)s：密钥编号 %(key)s 未配置，无法校验", id=ev_id, key=str(key_id)[:20])]
            if not hmac.compare_digest(expected, str(stored or "")):
                reason = "mismatch"
        if not reason:
            return []
        if action == ARCHIVED:
            return [_("事件 %(id)s：归档锚点（audit.archived）校验不通过：伪造或被改动，不据此确定链首", id=ev_id)]
        if reason == "legacy_after_keyed":
            return [_("事件 %(id)s：内容哈希不符（不带密钥的旧式 SHA-256 出现在带密钥的事件之后：链被不持有密钥者重算）",
                      id=ev_id)]
        return [_("事件 %(id)s：内容哈希不符（该条被改动，或链被不持有密钥者重算）", id=ev_id)]


def _columns() -> list:
    return [AuditEvent.id, *(getattr(AuditEvent, name) for name in _FIELDS), AuditEvent.prev_hash, AuditEvent.hash,
            AuditEvent.key_id]


def _anchors(ring: Keyring, keyed_from: int | None = None) -> list:
    """The valid archival anchors, newest first: a forged or edited `audit.archived` row is left out."""
    rows = db.session.execute(select(*_columns()).where(AuditEvent.action == ARCHIVED)
                              .order_by(AuditEvent.id.desc())).all()
    valid = []
    first_keyed: list[int | None] = []
    for row in rows:
        if row.key_id is None:
            if keyed_from is not None and row.id >= keyed_from:
                continue
            if not first_keyed:
                first_keyed.append(db.session.scalar(select(func.min(AuditEvent.id))
                                                     .where(AuditEvent.key_id.is_not(None))))
            if first_keyed[0] is not None and first_keyed[0] < row.id:
                continue  # a legacy anchor after a keyed event: forged
        expected = seal(row.prev_hash, _row_fields(row), row.key_id, ring)
        if expected is not None and hmac.compare_digest(expected, row.hash) and isinstance(row.details, dict):
            valid.append(row)
    return valid


def latest_anchor() -> AuditEvent | None:
    """Return the newest valid archival event, whose details say where the remaining chain starts."""
    anchors = _anchors(keyring())
    return db.session.get(AuditEvent, anchors[0].id) if anchors else None


def _walk(checker: _Checker, *, after_id: int, prev: str, up_to: int | None, first_allowed: int = 0,
          batch: int = 5000) -> tuple[int, str, list[str]]:
    """Recompute the chain after `after_id` from hash `prev`; return (rows checked, last hash, problems)."""
    problems: list[str] = []
    checked = 0
    last_id = after_id
    while True:
        # Plain rows, not entities: a long walk must not fill the session (or detach the signed-in user).
        query = select(*_columns()).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        if up_to is not None:
            query = query.where(AuditEvent.id <= up_to)
        rows = db.session.execute(query).all()
        if not rows:
            break
        for ev in rows:
            if checked == 0 and ev.id < first_allowed:
                problems.append(_("事件 %(id)s：早于最近一次归档的范围，应已归档移出", id=ev.id))
            checked += 1
            if ev.prev_hash != prev:
                problems.append(_("事件 %(id)s：前序哈希不符（上一条被删除或改动）", id=ev.id))
            problems.extend(checker.problems(ev.id, _row_fields(ev), ev.key_id, ev.prev_hash, ev.hash, ev.action))
            prev = ev.hash
            last_id = ev.id
    return checked, prev, problems


def _compare_checkpoint(cp: Checkpoint, anchors: list) -> list[str]:
    """What the database lost or changed up to a checkpoint's head (archived events excepted)."""
    if cp.head_id == 0:
        return []
    problems: list[str] = []
    at = local_text(cp.at, seconds=True)
    later = sorted((a for a in anchors if a.id > cp.head_id), key=lambda a: a.id)
    head_archived = any(int(a.details.get("through_id", 0)) >= cp.head_id for a in later)
    newest = db.session.scalar(select(func.max(AuditEvent.id)))
    if newest is None or newest < cp.head_id:
        problems.append(_("库中最新的事件是 %(newest)s，早于 %(at)s 的检查点记录的事件 %(head)s：最新的事件被删除",
                          newest=newest or 0, at=at, head=cp.head_id))
    else:
        stored = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.id == cp.head_id))
        if stored is None and not head_archived:
            problems.append(_("%(at)s 的检查点记录的事件 %(head)s 已不在库中，也没有归档：事件被删除",
                              at=at, head=cp.head_id))
        elif stored is not None and stored != cp.head_hash:
            problems.append(_("事件 %(head)s 的哈希与 %(at)s 的检查点不符：该条或之前的事件被改动，链被重算",
                              head=cp.head_id, at=at))
    expected = cp.count
    for anchor in later:  # events archived since the checkpoint left legitimately
        if int(anchor.details.get("through_id", 0)) >= cp.head_id:
            expected = 0
            break
        expected -= int(anchor.details.get("count", 0))
    live = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.id <= cp.head_id))
    if live < expected:
        problems.append(_("至事件 %(head)s 应有 %(expected)s 条事件（%(at)s 的检查点），库中只有 %(live)s 条："
                          "%(n)s 条被删除", head=cp.head_id, expected=expected, at=at, live=live, n=expected - live))
    elif live > expected:
        problems.append(_("至事件 %(head)s 应有 %(expected)s 条事件（%(at)s 的检查点），库中却有 %(live)s 条："
                          "有事件被插入", head=cp.head_id, expected=expected, at=at, live=live))
    return problems


@dataclass
class Verification:
    """What `verify` found: rows checked, problems, the checkpoint compared with, the first keyed event."""

    checked: int
    problems: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    first_keyed: int | None = None


def verify(batch: int = 5000, *, up_to: int | None = None, checkpoints: bool = True,
           checkpoint_before: datetime | None = None) -> Verification:
    """Recompute the chain and compare it with the newest keyed checkpoint.

    After an archival purge the first remaining row continues from the last archived hash, which the newest
    valid `audit.archived` event records (that event is itself part of the chain being checked). The
    checkpoint (up to which nothing may be missing or changed) is compared when it lies within `up_to`.
    """
    ring = keyring()
    problems: list[str] = []
    cp = None
    if checkpoints:
        cp, problems = checkpoint_file.newest(checkpoint_file.directory(), ring, before=checkpoint_before)
    keyed_from = cp.keyed_from if cp is not None else None
    anchors = _anchors(ring, keyed_from)
    prev, first_allowed = GENESIS, 1
    if anchors:
        prev = str(anchors[0].details.get("last_hash", ""))
        first_allowed = int(anchors[0].details.get("through_id", 0)) + 1
    checker = _Checker(ring, keyed_from)
    checked, _last, walked = _walk(checker, after_id=0, prev=prev, up_to=up_to, first_allowed=first_allowed,
                                   batch=batch)
    problems = walked + problems
    if cp is not None and (up_to is None or cp.head_id <= up_to):
        problems += _compare_checkpoint(cp, anchors)
    return Verification(checked, problems, cp, checker.first_keyed)


def verify_chain(batch: int = 5000, *, up_to: int | None = None, checkpoints: bool = True,
                 checkpoint_before: datetime | None = None) -> tuple[int, list[str]]:
    """Recompute the chain; return (rows checked, problems) — see `verify`."""
    result = verify(batch, up_to=up_to, checkpoints=checkpoints, checkpoint_before=checkpoint_before)
    return result.checked, result.problems


def check_event(event: AuditEvent) -> dict[str, bool]:
    """Cheap checks of one event: its own seal, and whether it follows the row before it (or the anchor)."""
    ring = keyring()
    previous = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.id < event.id)
                                 .order_by(AuditEvent.id.desc()).limit(1))
    if previous is None:
        anchor = latest_anchor()
        previous = str(anchor.details.get("last_hash")) if anchor is not None else GENESIS
    expected = seal(event.prev_hash, _row_fields(event), event.key_id, ring)
    content = expected is not None and hmac.compare_digest(expected, event.hash)
    if content and event.key_id is None:  # legacy only before the first keyed event
        content = db.session.scalar(select(AuditEvent.id).where(AuditEvent.key_id.is_not(None),
                                                                AuditEvent.id < event.id).limit(1)) is None
    return {"content": content, "linked": event.prev_hash == previous}
