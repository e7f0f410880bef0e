"""Append-only, keyed hash chain of audit events (QUALITY.md §3; MLPS 2.0 level 3).

Each event's `hash` is an HMAC-SHA256 (key `key_id`, held outside the database: app.services.audit_keys) over
the previous event's hash and the event's own fields, so someone who can write to the database but lacks the
key can neither edit an event nor recompute the chain after an edit, and cannot forge an `audit.archived`
anchor. Events written before migration 0010 carry no key id and a plain SHA-256 ("legacy"): they are accepted
only before the first keyed event, never after it. Keyed checkpoints of the head, kept outside the database
(app.services.audit_checkpoint), show deleted newest events and a chain replaced as a whole.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.models import AuditEvent
from app.services import audit_checkpoint
from app.services.audit_checkpoint import Checkpoint
from app.services.audit_keys import Keyring, keyring
from app.core.clock import local_date, local_instant, local_tz, machine_now, now, wall_now
from app.core.errors import ServiceError

GENESIS = "0" * 64
# The event that records an archival purge; its details anchor the chain's first remaining row.
ARCHIVED = "audit.archived"
# A refused checkpoint, or a reset after a restore (a successful routine checkpoint is not an event).
CHECKPOINT = "audit.checkpoint"
# QUALITY.md §3 / MLPS 2.0 level 3: audit records are kept at least six months.
MIN_RETENTION_DAYS = 183
# PostgreSQL: the SECURITY DEFINER function of migration 0010, owned by the table's owner, that alone may delete.
ARCHIVE_FUNCTION = "audit_event_archive"
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


def _row_fields(ev) -> dict:
    return {
        "at": ev.at.isoformat(),
        "user_id": ev.user_id,
        "username": ev.username,
        "unit_id": ev.unit_id,
        "ip": ev.ip,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "outcome": ev.outcome,
        "details": ev.details,
    }


def lock_chain() -> None:
    """Take the audit chain's writer lock (held to the end of the transaction).

    Other locks that audited transactions hold to their end (number sequences) are taken after this one,
    never before, so two transactions cannot wait on each other (PostgreSQL would abort one as a deadlock).
    """
    # One writer at a time extends the chain. PostgreSQL: a transaction-scoped advisory lock (the archive
    # function of migration 0010 takes the same one); SQLite: write transactions are BEGIN IMMEDIATE.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(7071001)"))


def record(action: str, *, outcome: str = "success", object_type: str = "", object_id: object = "",
           details: dict | None = None, actor: Actor | None = None) -> AuditEvent:
    """Append one audit event to the chain (flushes; commits with the caller's transaction)."""
    actor = actor or current_actor()
    ring = keyring()
    lock_chain()
    last = db.session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    ev = AuditEvent(
        at=now(),
        user_id=actor.user_id,
        username=actor.username,
        unit_id=actor.unit_id,
        ip=actor.ip,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        details=details or {},
        prev_hash=last or GENESIS,
        key_id=ring.current,
    )
    ev.hash = ring.mac(ring.current, _payload(ev.prev_hash, _row_fields(ev), ring.current))
    db.session.add(ev)
    db.session.flush()
    return ev


# ------------------------------------------------------------------------------------------ checking

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


def _when(instant: datetime) -> str:
    return instant.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M:%S")


def _compare_checkpoint(cp: Checkpoint, anchors: list) -> list[str]:
    """What the database lost or changed up to a checkpoint's head (archived events excepted)."""
    if cp.head_id == 0:
        return []
    problems: list[str] = []
    at = _when(cp.at)
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
        cp, problems = audit_checkpoint.newest(audit_checkpoint.directory(), ring, before=checkpoint_before)
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


# ------------------------------------------------------------------------------------------ checkpoints

@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: Checkpoint
    path: Path
    checked: int


def _head_snapshot() -> tuple[int, str, int, int]:
    """(head id, head hash, events at or below it, first id) in one statement, so one snapshot."""
    row = db.session.execute(text(
        "SELECT h.id, h.hash, (SELECT count(*) FROM audit_event c WHERE c.id <= h.id), "
        "(SELECT min(m.id) FROM audit_event m) FROM (SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1) h"
    )).first()
    if row is None:
        return 0, GENESIS, 0, 0
    return int(row[0]), str(row[1]), int(row[2]), int(row[3])


def newest_checkpoint() -> Checkpoint | None:
    """The newest valid checkpoint in AUDIT_CHECKPOINT_DIR (None when there is none or checkpoints are off)."""
    return audit_checkpoint.newest(audit_checkpoint.directory(), keyring())[0]


def _extend(previous: Checkpoint, head_id: int, ring: Keyring) -> tuple[int, list[str], int | None]:
    """Check that the chain up to `head_id` continues the previous checkpoint: (rows walked, problems, keyed_from)."""
    anchors = _anchors(ring, previous.keyed_from)
    problems = _compare_checkpoint(previous, anchors)
    if problems:
        return 0, problems, previous.keyed_from
    checker = _Checker(ring, previous.keyed_from)
    if previous.head_id == 0 or db.session.scalar(select(AuditEvent.id).where(AuditEvent.id == previous.head_id)):
        start = previous.head_id, (previous.head_hash if previous.head_id else GENESIS), 0
    else:  # the previous head was archived since: the chain now starts at the newest anchor
        start = 0, str(anchors[0].details.get("last_hash", "")), int(anchors[0].details.get("through_id", 0)) + 1
    checked, _last, walked = _walk(checker, after_id=start[0], prev=start[1], up_to=head_id, first_allowed=start[2])
    return checked, walked, previous.keyed_from or checker.first_keyed


def write_checkpoint(*, reset: bool = False, at: datetime | None = None) -> CheckpointResult:
    """Append a keyed checkpoint of the current head to AUDIT_CHECKPOINT_DIR (reads only; nothing to commit).

    The head is signed only if it continues the previous checkpoint (nothing up to it missing or changed, and
    every row after it sealed and linked); the first checkpoint, and a reset after a restore, recompute the
    whole chain. Raises ServiceError (code chain_broken, checkpoint_file, write_failed, no_directory) instead.
    """
    folder = audit_checkpoint.directory()
    if folder is None:
        raise ServiceError(_("未配置 AUDIT_CHECKPOINT_DIR，无法写审计检查点。"), code="no_directory")
    ring = keyring()
    previous, file_problems = (None, []) if reset else audit_checkpoint.newest(folder, ring)
    if file_problems:
        raise ServiceError(_("检查点文件有问题，不再写新的检查点：%(problem)s", problem=file_problems[0]),
                           code="checkpoint_file")
    head_id, head_hash, count, first_id = _head_snapshot()
    if previous is None:
        result = verify(up_to=head_id, checkpoints=False)
        checked, problems, keyed_from = result.checked, result.problems, result.first_keyed
    else:
        checked, problems, keyed_from = _extend(previous, head_id, ring)
    if problems:
        raise ServiceError(_("审计链校验未通过，未写检查点：%(problem)s", problem=problems[0]), code="chain_broken")
    checkpoint = Checkpoint(head_id=head_id, head_hash=head_hash, count=count, first_id=first_id,
                            keyed_from=keyed_from, at=at or machine_now(), key_id=ring.current,
                            reset=reset)
    try:
        path = audit_checkpoint.append(folder, checkpoint, ring)
    except OSError as exc:
        raise ServiceError(_("无法写入检查点文件：%(error)s", error=str(exc)), code="write_failed") from exc
    return CheckpointResult(checkpoint, path, checked)


# ------------------------------------------------------------------------------------------ retention

def retention_days() -> int:
    """Return the configured retention period, refusing one shorter than six months."""
    days = int(current_app.config.get("AUDIT_RETENTION_DAYS", 365))
    if days < MIN_RETENTION_DAYS:
        raise ServiceError(_("审计日志保存期限 AUDIT_RETENTION_DAYS=%(days)s 天过短，至少应为 %(min)s 天。",
                             days=days, min=MIN_RETENTION_DAYS), code="retention_too_short")
    return days


def earliest_archivable_cutoff() -> date:
    """The latest --before date allowed today: events younger than the retention period stay."""
    return local_date(wall_now()) - timedelta(days=retention_days())


@dataclass(frozen=True)
class ArchiveResult:
    """What an archival purge moved out and the event that anchors the remaining chain."""

    count: int
    first_id: int
    through_id: int
    last_hash: str
    sha256: str
    anchor_id: int


def archive_before(before: date, out: Path) -> ArchiveResult:
    """Move events older than `before` (Beijing date) to a JSON-lines file, verify it, then delete them.

    Flushes only: the caller commits. The file is written and checked before any row is deleted,
    and the deletion, the anchor event and the check happen in one transaction. On PostgreSQL the rows are
    deleted by the archive function (migration 0010), which checks the anchor and the six-month minimum itself.
    """
    cutoff = earliest_archivable_cutoff()
    if before > cutoff:
        raise ServiceError(_("只能归档 %(cutoff)s 之前的审计事件（保存期限 %(days)s 天）。",
                             cutoff=cutoff.isoformat(), days=retention_days()), code="too_recent")
    out = Path(out)
    if out.exists():
        raise ServiceError(_("归档文件 %(path)s 已存在，不会覆盖。", path=str(out)), code="exists")
    ring = keyring()
    lock_chain()
    limit = local_instant(before)
    # Ids, not times, bound the range: a younger event never leaves even if an older id carries a later time.
    first_young = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.at >= limit))
    query = select(func.max(AuditEvent.id))
    if first_young is not None:
        query = query.where(AuditEvent.id < first_young)
    through_id = db.session.scalar(query)
    if through_id is None:
        raise ServiceError(_("没有早于 %(day)s 的审计事件。", day=before.isoformat()), code="nothing")
    anchor = latest_anchor()
    start_hash = str(anchor.details["last_hash"]) if anchor is not None else GENESIS
    problems = verify_chain(up_to=through_id)[1]
    if problems:
        raise ServiceError(_("待归档的审计事件校验未通过，已停止归档：%(problem)s", problem=problems[0]),
                           code="chain_broken")

    digest = hashlib.sha256()
    try:
        with out.open("x", encoding="utf-8", newline="\n") as handle:
            for line in _archive_lines(through_id):
                handle.write(line)
                digest.update(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())  # on disk before a single row is deleted
    except OSError as exc:
        raise ServiceError(_("无法写入归档文件：%(error)s", error=str(exc)), code="write_failed") from exc
    checked = _check_lines(_read_lines(out), start_hash, _Checker(ring))
    next_prev = db.session.scalar(select(AuditEvent.prev_hash).where(AuditEvent.id > through_id)
                                  .order_by(AuditEvent.id).limit(1))
    if next_prev is not None and next_prev != checked.last_hash:
        checked.problems.append(_("归档末条哈希与保留的第一条事件的前序哈希不符"))
    if checked.problems or checked.last_id != through_id or _sha256_file(out) != digest.hexdigest():
        raise ServiceError(_("归档文件校验未通过，未删除任何事件：%(problem)s",
                             problem=(checked.problems or [_("文件内容与写入的不一致")])[0]), code="archive_mismatch")

    anchor_event = record(ARCHIVED, object_type="audit_archive", object_id=through_id, details={
        "before": before.isoformat(), "first_id": checked.first_id, "through_id": through_id,
        "count": checked.count, "first_prev_hash": start_hash, "last_hash": checked.last_hash, "file": out.name,
        "sha256": digest.hexdigest(), "retention_days": retention_days(),
    })
    if db.session.get_bind().dialect.name == "postgresql":
        try:
            db.session.execute(text(f"SELECT {ARCHIVE_FUNCTION}(:through_id, :anchor_id)"),
                               {"through_id": through_id, "anchor_id": anchor_event.id})
        except DBAPIError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise ServiceError(_("数据库拒绝了归档，未删除任何事件：%(error)s", error=detail), code="db_refused") from exc
    else:
        db.session.execute(delete(AuditEvent).where(AuditEvent.id <= through_id),
                           execution_options={"synchronize_session": False})
    db.session.flush()
    return ArchiveResult(checked.count, checked.first_id, through_id, checked.last_hash, digest.hexdigest(),
                         anchor_event.id)


def verify_archives(paths: Iterable[Path]) -> tuple[int, list[str]]:
    """Check archive files (oldest first) and the database chain; return (archived rows checked, problems).

    Each file's own chain is recomputed (keyed seals), consecutive files must join, and each file must match
    a valid `audit.archived` event that recorded it — found in a later file or in the database, whose chain is
    verified too, so trust ends in the live chain and its checkpoint.
    """
    ring = keyring()
    checker = _Checker(ring)
    problems: list[str] = []
    total = 0
    files = []
    anchors: list[dict] = []
    prev_last: str | None = None
    for path in (Path(p) for p in paths):
        checked = _check_lines(_read_lines(path, problems), None, checker)
        if prev_last is not None and checked.start != prev_last:
            problems.append(_("%(file)s：与上一个归档文件不衔接", file=path.name))
        problems.extend(f"{path.name}：{problem}" for problem in checked.problems)
        anchors.extend(checked.anchors)  # a later archive may hold the anchor of an earlier one
        total += checked.count
        files.append((path, checked))
        prev_last = checked.last_hash
    anchors.extend(dict(row.details) for row in _anchors(ring))
    for path, checked in files:
        matches = [a for a in anchors
                   if a.get("through_id") == checked.last_id and a.get("last_hash") == checked.last_hash]
        if not matches:
            problems.append(_("%(file)s：审计链中没有与之对应的归档记录（文件被改动，或须一并给出之后的归档文件）",
                              file=path.name))
            continue
        sha = _sha256_file(path)
        if not any(a.get("sha256") == sha and a.get("count") == checked.count and a.get("first_id") == checked.first_id
                   and a.get("first_prev_hash") == checked.start for a in matches):
            problems.append(_("%(file)s：文件摘要或条数与归档记录不符（文件被改动）", file=path.name))
    problems.extend(verify_chain()[1])
    return total, problems


def _archive_lines(through_id: int, batch: int = 5000) -> Iterator[str]:
    last_id = 0
    while True:
        rows = db.session.execute(select(*_columns()).where(AuditEvent.id > last_id, AuditEvent.id <= through_id)
                                  .order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            return
        for ev in rows:
            row = {"id": ev.id, **_row_fields(ev), "prev_hash": ev.prev_hash, "hash": ev.hash, "key_id": ev.key_id}
            yield json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            last_id = ev.id


def _read_lines(path: Path, problems: list[str] | None = None) -> Iterator[dict]:
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                if problems is not None:
                    problems.append(_("%(file)s 第 %(line)s 行：不是有效的 JSON 对象", file=Path(path).name, line=number))
                continue
            yield row


@dataclass
class _Lines:
    """A recomputed run of archived events."""

    start: str = ""
    count: int = 0
    first_id: int = 0
    last_id: int = 0
    last_hash: str = ""
    problems: list[str] = field(default_factory=list)
    anchors: list[dict] = field(default_factory=list)  # details of the valid `audit.archived` rows among them


def _check_lines(rows: Iterator[dict], start_hash: str | None, checker: _Checker) -> _Lines:
    """Recompute a run of archived events from start_hash (None: the first row's prev_hash)."""
    result = _Lines()
    prev = start_hash
    for row in rows:
        ev_id = row.get("id")
        if not isinstance(ev_id, int) or ev_id <= result.last_id:
            result.problems.append(_("事件 %(id)s：编号缺失或顺序不对", id=ev_id))
            continue
        if prev is None:
            prev = start_hash = str(row.get("prev_hash", ""))
        result.count += 1
        result.first_id = result.first_id or ev_id
        if row.get("prev_hash") != prev:
            result.problems.append(_("事件 %(id)s：前序哈希不符（上一条被删除或改动）", id=ev_id))
        fields = {name: row.get(name) for name in _FIELDS}
        found = checker.problems(ev_id, fields, row.get("key_id"), str(row.get("prev_hash", "")), row.get("hash"),
                                 row.get("action"))
        result.problems.extend(found)
        if not found and row.get("action") == ARCHIVED and isinstance(row.get("details"), dict):
            result.anchors.append(row["details"])
        prev = str(row.get("hash", ""))
        result.last_id = ev_id
    result.start, result.last_hash = start_hash or "", prev or ""
    return result


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


