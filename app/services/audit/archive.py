"""Archive audit events past the retention period to verified JSON-lines files, and verify such files."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError

from app.core.clock import local_date, local_instant, wall_now
from app.core.errors import ServiceError
from app.extensions import db
from app.models import AuditEvent
from app.services.audit.chain import (ARCHIVED, GENESIS, _FIELDS, _anchors, _Checker, _columns, _row_fields,
                                      latest_anchor, lock_chain, record, verify_chain,
                                      write_pending)
from app.services.audit.keys import keyring

# QUALITY.md §3 / MLPS 2.0 level 3: audit records are kept at least six months.
MIN_RETENTION_DAYS = 183
# PostgreSQL: the SECURITY DEFINER function of migration 0010, owned by the table's owner, that alone may delete.
ARCHIVE_FUNCTION = "audit_event_archive"


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

    record(ARCHIVED, object_type="audit_archive", object_id=through_id, details={
        "before": before.isoformat(), "first_id": checked.first_id, "through_id": through_id,
        "count": checked.count, "first_prev_hash": start_hash, "last_hash": checked.last_hash, "file": out.name,
        "sha256": digest.hexdigest(), "retention_days": retention_days(),
    })
    anchor_event = write_pending()[-1]  # the archive function checks the anchor's row: written now, not at commit
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
