"""The public side (no login): published records, case progress by number + query code (rate-limited)."""
from __future__ import annotations

from flask_babel import gettext as _
import hmac
from datetime import timedelta

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Case, CreditRecord, LookupAttempt, RuleSet, Unit
from app.services import locks
from app.core.clock import now
from app.core.errors import ServiceError
from app.services.publication import PUBLIC_STATUSES

LOOKUP_WINDOW = timedelta(minutes=10)
LOOKUP_LIMIT = 10
PAGE = 50


class TooManyLookups(ServiceError):
    status = 429
    code = "too_many_lookups"


def public_records(q: str = "", category: str = "", severity: str = "", page: int = 1) -> tuple[list[CreditRecord], int]:
    """Published records matching a unit name or credit code, with optional filters; (rows, total).

    Records about a civil servant are listed without anything that identifies them (no name, post or unit:
    CreditRecord.public_subject) and are not found by a unit's name or code."""
    query = (select(CreditRecord).join(Unit, Unit.id == CreditRecord.subject_unit_id)
             .join(RuleSet, RuleSet.id == CreditRecord.rule_set_id)
             .where(CreditRecord.status.in_(PUBLIC_STATUSES), CreditRecord.published_at.is_not(None)))
    q = (q or "").strip()[:60]
    if q:
        # A unit's name or code finds the unit's own records, never those about its civil servants: a person's
        # record shows no unit publicly, so the search must not tie it to one either.
        query = query.where(CreditRecord.subject_type == "unit",
                            or_(Unit.name.contains(q, autoescape=True), Unit.uscc == q.upper()))
    if category:
        query = query.where(CreditRecord.category == category)
    if severity:
        query = query.where(CreditRecord.severity == severity)
    rows = db.session.scalars(query.order_by(CreditRecord.basis_date.desc(), CreditRecord.id.desc())).all()
    # Minor records under a rule set that keeps them unpublished (第36号令) never appear.
    rows = [r for r in rows if r.rule_set.periods[r.severity].get("published", True)]
    start = (max(page, 1) - 1) * PAGE
    return rows[start:start + PAGE], len(rows)


def lookup_case(number: str, code: str, ip: str) -> Case | None:
    """Find a case by number and query code; at most LOOKUP_LIMIT tries per address per window.

    A wrong code answers exactly like an unknown number, and both cost a try.
    """
    locks.lock_address(ip)  # parallel lookups from one address are counted one after another
    since = now() - LOOKUP_WINDOW
    tries = db.session.scalar(select(func.count()).select_from(LookupAttempt)
                              .where(LookupAttempt.ip == ip, LookupAttempt.at > since))
    if tries >= LOOKUP_LIMIT:
        raise TooManyLookups(_("查询过于频繁，请 10 分钟后再试。"))
    db.session.add(LookupAttempt(ip=ip, at=now()))
    case = db.session.scalar(select(Case).where(Case.number == (number or "").strip().upper()[:24]))
    if case is None or not hmac.compare_digest(case.query_code, (code or "").strip().upper()[:16]):
        return None
    return case
