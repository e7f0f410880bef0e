"""What the public and the provincial platform see of a record: pushes, automatic expiry, masking."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import RECORD_PUBLIC, RECORD_SETTLED, Case, CreditRecord
from app.services import outbox
from app.services.transitions import change_record_status

PUBLIC_STATUSES = RECORD_PUBLIC


def push(record: CreditRecord, action: str, case: Case | None = None) -> None:
    """Queue a publish / update / withdraw message for 信用中国（湖北） (delivered by the worker, SPEC §3)."""
    key = f"push:{action}:record:{record.id}:" + (f"case:{case.id}" if case else f"status:{record.status}")
    outbox.enqueue("push", key, {
        "action": action, "record_id": record.id, "unit_uscc": record.subject_unit.uscc,
        "category": record.category, "severity": record.severity, "basis_doc_no": record.basis_doc_no,
        "status": record.status, "case_number": case.number if case else None,
        # A civil servant's record names no person in the feed (个人信息保护法: the minimum): the platform learns
        # that the subject is a person of that unit, nothing more.
        "subject_type": record.subject_type,
    })


def expire_records(today: date, limit: int = 500) -> int:
    """End the publication of records past their maximum period (公示期满) and withdraw them; return how many."""
    query = select(CreditRecord).where(
        # A record under objection (disputed) still ends at its maximum period (LAW.md "Objections").
        CreditRecord.status.in_((*RECORD_SETTLED, "disputed")), CreditRecord.auto_end_date < today,
    ).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several workers: each record once
    rows = db.session.scalars(query).all()
    for record in rows:
        change_record_status(record, "expired", user_id=None, case_id=None,
                             reason=f"最长公示期于{record.auto_end_date.isoformat()}届满，自动终止公示")
        push(record, "withdraw")
    return len(rows)


def publishable(record: CreditRecord) -> bool:
    """Whether the record's rule set publishes records of its severity (令第36号: minor records are not)."""
    return bool(record.rule_set.periods[record.severity].get("published", True))


def is_public(record: CreditRecord) -> bool:
    """Shown on public pages: live, its publication begun, and not a minor record the rule set keeps unpublished."""
    return record.status in PUBLIC_STATUSES and record.published_at is not None and publishable(record)

