"""Append-only, hash-chained audit log (QUALITY.md §3; MLPS 2.0 level 3)."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, text

from app.extensions import db
from app.models import AuditEvent
from app.services.clock import local_date, local_instant, now, wall_now
from app.services.errors import ServiceError

GENESIS = "0" * 64
# The event that records an archival purge; its details anchor the chain's first remaining row.
ARCHIVED = "audit.archived"
# QUALITY.md §3 / MLPS 2.0 level 3: audit records are kept at least six months.
MIN_RETENTION_DAYS = 183
# Transaction-local PostgreSQL setting that lets the append-only trigger (migration 0009) pass the purge.
PURGE_SETTING = "xinyong.audit_purge"
_FIELDS = ("at", "user_id", "username", "unit_id", "ip", "action", "object_type", "object_id", "outcome", "details")


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; the web layer sets it per request."""

    user_id: int | None = None
    username: str = ""
    unit_id: int | None = None
    ip: str = ""


_actor: ContextVar[Actor] = ContextVar("audit_actor", default=Actor(username="system"))


def set_actor(actor: Actor) -> None:
    """Bind the acting user and IP for this request or worker run."""
    _actor.set(actor)


def current_actor() -> Actor:
    """Return the bound actor (system when nothing is bound)."""
    return _actor.get()


def _digest(prev_hash: str, row: dict) -> str:
    payload = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def _row_fields(ev: AuditEvent) -> dict:
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
    # One writer at a time extends the chain. PostgreSQL: a transaction-scoped advisory lock;
    # SQLite: write transactions are BEGIN IMMEDIATE and therefore already serialized.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(7071001)"))


def record(action: str, *, outcome: str = "success", object_type: str = "", object_id: object = "",
           details: dict | None = None, actor: Actor | None = None) -> AuditEvent:
    """Append one audit event to the chain (flushes; commits with the caller's transaction)."""
    actor = actor or current_actor()
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
    )
    ev.hash = _digest(ev.prev_hash, _row_fields(ev))
    db.session.add(ev)
    db.session.flush()
    return ev


def latest_anchor() -> AuditEvent | None:
    """Return the newest archival event, whose details say where the remaining chain starts."""
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == ARCHIVED)
                             .order_by(AuditEvent.id.desc()).limit(1))


def verify_chain(batch: int = 5000, *, up_to: int | None = None) -> tuple[int, list[str]]:
    """Recompute the chain; return (rows checked, problems) — an edited or deleted row breaks it.

    After an archival purge the first remaining row continues from the last archived hash, which the
    newest `audit.archived` event records (that event is itself part of the chain being checked).
    """
    problems: list[str] = []
    anchor = latest_anchor()
    prev = GENESIS
    first_allowed = 1
    if anchor is not None:
        prev = str(anchor.details.get("last_hash", ""))
        first_allowed = int(anchor.details.get("through_id", 0)) + 1
    checked = 0
    last_id = 0
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
            if _digest(ev.prev_hash, _row_fields(ev)) != ev.hash:
                problems.append(_("事件 %(id)s：内容哈希不符（该条被改动）", id=ev.id))
            prev = ev.hash
            last_id = ev.id
    return checked, problems


def check_event(event: AuditEvent) -> dict[str, bool]:
    """Cheap checks of one event: its own hash, and whether it follows the row before it (or the anchor)."""
    previous = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.id < event.id)
                                 .order_by(AuditEvent.id.desc()).limit(1))
    if previous is None:
        anchor = latest_anchor()
        previous = str(anchor.details.get("last_hash")) if anchor is not None else GENESIS
    return {"content": _digest(event.prev_hash, _row_fields(event)) == event.hash, "linked": event.prev_hash == previous}


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
    and the deletion, the anchor event and the check happen in one transaction.
    """
    cutoff = earliest_archivable_cutoff()
    if before > cutoff:
        raise ServiceError(_("只能归档 %(cutoff)s 之前的审计事件（保存期限 %(days)s 天）。",
                             cutoff=cutoff.isoformat(), days=retention_days()), code="too_recent")
    out = Path(out)
    if out.exists():
        raise ServiceError(_("归档文件 %(path)s 已存在，不会覆盖。", path=str(out)), code="exists")
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
    _start, count, first_id, last_id, last_hash, file_problems = _check_lines(_read_lines(out), start_hash)
    next_prev = db.session.scalar(select(AuditEvent.prev_hash).where(AuditEvent.id > through_id)
                                  .order_by(AuditEvent.id).limit(1))
    if next_prev is not None and next_prev != last_hash:
        file_problems.append(_("归档末条哈希与保留的第一条事件的前序哈希不符"))
    if file_problems or last_id != through_id or _sha256_file(out) != digest.hexdigest():
        raise ServiceError(_("归档文件校验未通过，未删除任何事件：%(problem)s",
                             problem=(file_problems or [_("文件内容与写入的不一致")])[0]), code="archive_mismatch")

    anchor_event = record(ARCHIVED, object_type="audit_archive", object_id=through_id, details={
        "before": before.isoformat(), "first_id": first_id, "through_id": through_id, "count": count,
        "first_prev_hash": start_hash, "last_hash": last_hash, "file": out.name, "sha256": digest.hexdigest(),
        "retention_days": retention_days(),
    })
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT set_config(:name, 'on', true)"), {"name": PURGE_SETTING})
    db.session.execute(delete(AuditEvent).where(AuditEvent.id <= through_id),
                       execution_options={"synchronize_session": False})
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT set_config(:name, '', true)"), {"name": PURGE_SETTING})
    db.session.flush()
    return ArchiveResult(count, first_id, through_id, last_hash, digest.hexdigest(), anchor_event.id)


def verify_archives(paths: Iterable[Path]) -> tuple[int, list[str]]:
    """Check archive files (oldest first) and the database chain; return (archived rows checked, problems).

    Each file's own chain is recomputed, consecutive files must join, and each file must match the
    `audit.archived` event that recorded it — found in a later file or in the database, whose chain is
    verified too, so trust ends in the live chain.
    """
    problems: list[str] = []
    total = 0
    files = []
    anchors: list[dict] = []
    prev_last: str | None = None

    def tap(rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            if row.get("action") == ARCHIVED and isinstance(row.get("details"), dict):
                anchors.append(row["details"])  # a later archive may hold the anchor of an earlier one
            yield row

    for path in (Path(p) for p in paths):
        start, count, first_id, last_id, last_hash, found = _check_lines(tap(_read_lines(path, problems)), None)
        if prev_last is not None and start != prev_last:
            problems.append(_("%(file)s：与上一个归档文件不衔接", file=path.name))
        problems.extend(f"{path.name}：{problem}" for problem in found)
        total += count
        files.append((path, start, first_id, last_id, last_hash, count))
        prev_last = last_hash
    anchors.extend(db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == ARCHIVED)))
    for path, start, first_id, last_id, last_hash, count in files:
        matches = [a for a in anchors if a.get("through_id") == last_id and a.get("last_hash") == last_hash]
        if not matches:
            problems.append(_("%(file)s：审计链中没有与之对应的归档记录（文件被改动，或须一并给出之后的归档文件）",
                              file=path.name))
            continue
        sha = _sha256_file(path)
        if not any(a.get("sha256") == sha and a.get("count") == count and a.get("first_id") == first_id
                   and a.get("first_prev_hash") == start for a in matches):
            problems.append(_("%(file)s：文件摘要或条数与归档记录不符（文件被改动）", file=path.name))
    problems.extend(verify_chain()[1])
    return total, problems


def _columns() -> list:
    return [AuditEvent.id, *(getattr(AuditEvent, name) for name in _FIELDS), AuditEvent.prev_hash, AuditEvent.hash]


def _archive_lines(through_id: int, batch: int = 5000) -> Iterator[str]:
    last_id = 0
    while True:
        rows = db.session.execute(select(*_columns()).where(AuditEvent.id > last_id, AuditEvent.id <= through_id)
                                  .order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            return
        for ev in rows:
            row = {"id": ev.id, **_row_fields(ev), "prev_hash": ev.prev_hash, "hash": ev.hash}
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


def _check_lines(rows: Iterator[dict], start_hash: str | None) -> tuple[str, int, int, int, str, list[str]]:
    """Recompute a run of archived events from start_hash (None: the first row's prev_hash).

    Returns (start hash, count, first id, last id, last hash, problems).
    """
    problems: list[str] = []
    prev = start_hash
    count = first_id = last_id = 0
    for row in rows:
        ev_id = row.get("id")
        if not isinstance(ev_id, int) or ev_id <= last_id:
            problems.append(_("事件 %(id)s：编号缺失或顺序不对", id=ev_id))
            continue
        if prev is None:
            prev = start_hash = str(row.get("prev_hash", ""))
        count += 1
        first_id = first_id or ev_id
        if row.get("prev_hash") != prev:
            problems.append(_("事件 %(id)s：前序哈希不符（上一条被删除或改动）", id=ev_id))
        fields = {name: row.get(name) for name in _FIELDS}
        if _digest(str(row.get("prev_hash", "")), fields) != row.get("hash"):
            problems.append(_("事件 %(id)s：内容哈希不符（该条被改动）", id=ev_id))
        prev = str(row.get("hash", ""))
        last_id = ev_id
    return start_hash or "", count, first_id, last_id, prev or "", problems


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


