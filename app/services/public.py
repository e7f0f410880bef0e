"""The public side (no login): published records, case progress by number + query code (rate-limited)."""
from __future__ import annotations

from flask_babel import gettext as _
import hmac
from datetime import date, timedelta

from typing import NamedTuple

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import joinedload, lazyload

from app.extensions import db
from app.models import RECORD_SHOWN_SQL, Case, CreditRecord, LookupAttempt, RuleSet
from app.services import locks, record_search
from app.services.record_search import capped_count, page_ids
from app.core.clock import now
from app.core.errors import ServiceError

LOOKUP_WINDOW = timedelta(minutes=10)
LOOKUP_LIMIT = 10
PAGE, COUNT_CAP = record_search.PAGE, record_search.COUNT_CAP


class TooManyLookups(ServiceError):
    status = 429
    code = "too_many_lookups"


class RecordsPage(NamedTuple):
    """One page of the public list: its rows, the number of matches counted no further than COUNT_CAP + 1, and
    whether the count stopped there (the page then says "more than COUNT_CAP")."""

    rows: list[CreditRecord]
    total: int
    capped: bool


def _public_condition():
    """Shown publicly: a public status and publication begun, in the very words of the partial indexes' WHERE
    (RECORD_SHOWN_SQL), so that SQLite and a prepared statement's generic plan can prove them usable."""
    return text(RECORD_SHOWN_SQL)


def _kept_unpublished() -> list:
    """Conditions leaving out the severities a rule set keeps unpublished (第36号令: minor records).

    Rule sets are a handful of rows; the pairs they name become plain conditions on the record, so the rule is
    applied by the database before paging, exactly as publication.publishable states it."""
    hidden: dict[str, list[int]] = {}
    for rule_set_id, periods in db.session.execute(select(RuleSet.id, RuleSet.periods)):
        for severity, period in (periods or {}).items():
            if not period.get("published", True):
                hidden.setdefault(severity, []).append(rule_set_id)
    return [~and_(CreditRecord.severity == severity, CreditRecord.rule_set_id.in_(ids))
            for severity, ids in sorted(hidden.items())]


def public_records(q: str = "", category: str = "", severity: str = "", page: int = 1,
                   after: tuple[date, int] | None = None) -> RecordsPage:
    """Published records matching a unit's name (any part of it), its credit code (exactly) or the start of the
    basis document number, with optional filters; newest basis date first, paged and counted in SQL.

    Records about a civil servant are listed without anything that identifies them (no name, post or unit:
    CreditRecord.public_subject) and are not found by a unit's name or code; their document number (shown on the
    list) finds them like any other.

    `after` (the basis date and id of the previous page's last row, the next-page link's cursor) starts the page
    right after that row, whatever its depth, where `page` alone skips (page - 1) × PAGE rows; the count is the
    whole list's either way."""
    base = [_public_condition(), *_kept_unpublished()]
    if category:
        base.append(CreditRecord.category == category)
    if severity:
        base.append(CreditRecord.severity == severity)
    q = (q or "").strip()[:60]
    if q:
        # A unit's name or code finds the unit's own records, never those about its civil servants: a person's
        # record shows no unit publicly, so the search must not tie it to one either.
        branches = [record_search.doc_no_branch(base, q)]
        units = record_search.unit_branch(base, q, CreditRecord.subject_type == "unit")
        if units is not None:
            branches.append(units)
    else:
        branches = [base]
    total = capped_count(branches, COUNT_CAP)
    start = 0 if after is not None else (max(page, 1) - 1) * PAGE
    ids = page_ids(record_search.after_row(branches, after), start, PAGE)
    rows = record_search.rows_in_order(ids, joinedload(CreditRecord.subject_unit),
                                       joinedload(CreditRecord.recording_unit), lazyload(CreditRecord.history),
                                       lazyload(CreditRecord.rule_set))
    return RecordsPage(rows, min(total, COUNT_CAP), total > COUNT_CAP)


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
