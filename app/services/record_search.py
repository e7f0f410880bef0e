"""Record lists that stay flat at a million records: a search by a unit's name or code or the start of the basis
document number, each as a branch of its own that an index answers; one page of ids in list order (newest basis
date first); and a count that stops at a cap. The public list (services/public.py) and the staff's list
(services/register.py) are built from these."""
from __future__ import annotations

from sqlalchemy import func, or_, select, tuple_, union

from app.extensions import db
from app.models import CreditRecord, Unit
from app.services import prefix

PAGE = 50
# A list counts its matches this far and then says "more than" (a count of a million rows is not free).
COUNT_CAP = 1000
UNIT_LIST = 500  # more matching units than this are sent as the unit query itself (bound parameters are limited)
ORDER = (CreditRecord.basis_date.desc(), CreditRecord.id.desc())


def unit_match(q: str):
    """A unit whose name contains q or whose credit code is q."""
    return or_(Unit.name.contains(q, autoescape=True), Unit.uscc == q.upper())


class UnitBranch(list):
    """A branch of the records about the units a search names: counted from the unit index in that index's own
    order, where the list's order would first sort every match (the 38,000 records of the 201 units whose names
    hold 教育局, at a million records: 6–8 ms on PostgreSQL, against 0.4–0.6 ms for the first 1,001 of the index)."""


def unit_branch(base: list, q: str, *more) -> list | None:
    """The records of `base` (and `more`) about a unit that unit_match finds, or None when no unit matches. The
    units come from a scan of the unit table (thousands of rows, not the records), so a name is still found by any
    part of it; a long list is sent as the unit query itself (bound parameters are limited in number)."""
    units = list(db.session.scalars(select(Unit.id).where(unit_match(q)).limit(UNIT_LIST + 1)))
    if not units:
        return None
    ids = units if len(units) <= UNIT_LIST else select(Unit.id).where(unit_match(q))
    return UnitBranch([*base, *more, CreditRecord.subject_unit_id.in_(ids)])


def after_row(branches: list[list], after: tuple | None) -> list[list]:
    """The branches narrowed to the rows after `after` (basis date and id of the previous page's last row) in list
    order, for the page; a count is taken before, over the whole list."""
    if after is None:
        return branches
    return [[*conditions, tuple_(CreditRecord.basis_date, CreditRecord.id) < tuple_(*after)] for conditions in branches]


def rows_in_order(ids: list[int], *options) -> list[CreditRecord]:
    """The records of a page's ids, in the ids' order, with the loader options the list needs."""
    if not ids:
        return []
    rows = db.session.scalars(select(CreditRecord).where(CreditRecord.id.in_(ids)).options(*options))
    found = {r.id: r for r in rows}
    return [found[i] for i in ids]


# A document-number prefix shared by more records than this is "common": its matches are dense in the list, so the
# page walks the list's own order and keeps the matches as they come (50 come early) instead of collecting and
# sorting every match (a prefix like 随 matches the whole register: 110 ms at 100,000 records, seconds at a
# million). Below it, collecting them through the prefix index is the quicker. About √(50 × 1,000,000): the two
# ways then read about as many rows each at a million records.
COMMON_PREFIX = 5000


class Walked(list):
    """A branch for which the list's order is walked (its condition is one no index serves: a common document
    prefix), with `counted`, the same records as a range of the prefix index: counting in list order would walk
    until the cap's worth of matches (16,000 rows with their table rows for 1,001 matches of 随财罚), where the range
    finds them next to each other."""

    def __init__(self, conditions: list, counted: list):
        super().__init__(conditions)
        self.counted = counted

    def with_conditions(self, *more) -> "Walked":
        return Walked([*self, *more], [*self.counted, *more])


def doc_no_branch(base: list, q: str) -> list:
    """The records of `base` whose basis document number begins with q: as a range of the number's prefix index
    when few records share the prefix (counted from that index alone, no further than COMMON_PREFIX + 1), else as
    a plain comparison that no index serves, so that the list's order index is walked instead (a Walked branch)."""
    ranged = [*base, prefix.starts_with(CreditRecord.basis_doc_no, q)]
    if not common_prefix(q):
        return ranged
    return Walked([*base, func.substr(CreditRecord.basis_doc_no, 1, len(q)) == q], ranged)


def common_prefix(q: str) -> bool:
    """Whether more than COMMON_PREFIX records' document numbers begin with q (counted from its index alone)."""
    probe = (select(CreditRecord.id).where(prefix.starts_with(CreditRecord.basis_doc_no, q))
             .limit(COMMON_PREFIX + 1).subquery())
    return db.session.scalar(select(func.count()).select_from(probe)) > COMMON_PREFIX


def page_ids(branches: list[list], start: int, size: int) -> list[int]:
    """Ids of one page of the records matching any branch, in list order.

    Each branch is read on its own (an OR of a unit condition and a document-number range would defeat both
    indexes): its first start + size rows in list order, then merged (UNION drops a record found by both)."""
    if len(branches) == 1:
        return list(db.session.scalars(select(CreditRecord.id).where(*branches[0])
                                       .order_by(*ORDER).offset(start).limit(size)))
    # Merged by the database: a deep page number must not bring (page × PAGE) rows into Python.
    parts = [select(CreditRecord.basis_date, CreditRecord.id).where(*conditions).order_by(*ORDER)
             .limit(start + size).subquery() for conditions in branches]
    merged = union(*(select(part.c.basis_date, part.c.id) for part in parts)).subquery()
    return list(db.session.scalars(select(merged.c.id).order_by(merged.c.basis_date.desc(), merged.c.id.desc())
                                   .offset(start).limit(size)))


def capped_count(branches: list[list], cap: int) -> int:
    """How many records match any branch, counted no further than cap + 1."""
    # In list order: the planner then walks the same index as the page (covering), not the status index; a walked
    # branch is counted through its range instead, and a unit branch through its units' index, each in that index's
    # own order.
    def limited_to_cap(conditions):
        if isinstance(conditions, Walked):
            return select(CreditRecord.id).where(*conditions.counted).limit(cap + 1)
        if isinstance(conditions, UnitBranch):
            return select(CreditRecord.id).where(*conditions).limit(cap + 1)
        return select(CreditRecord.id).where(*conditions).order_by(*ORDER).limit(cap + 1)

    limited = [limited_to_cap(conditions) for conditions in branches]
    if len(limited) == 1:
        matching = limited[0].subquery()
    else:
        # Each side is wrapped so that its LIMIT stays its own; UNION removes a record found by both.
        matching = union(*(select(s.c.id) for s in (part.subquery() for part in limited))).subquery()
    return db.session.scalar(select(func.count()).select_from(matching))
