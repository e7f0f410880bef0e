"""The staff's list of records (/records): every record the user may see (the office all of them, a recording unit
the ones it made), newest basis date first, found by a unit's name or code or the start of the basis document
number, a page at a time after a cursor, with a capped count: as quick at a million records as at a hundred."""
from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import joinedload, lazyload

from app.models import RECORD_SHOWN_SQL, RECORD_UNSHOWN_SQL, CreditRecord, User
from app.services import access, record_search
from app.services.public import RecordsPage

PAGE = record_search.PAGE
COUNT_CAP = record_search.COUNT_CAP


def register_page(user: User, q: str = "", after: tuple[date, int] | None = None) -> RecordsPage:
    """One page of the records `user` may see that match q (a unit's name — any part of it — or its credit code,
    for the records about the unit and its civil servants; or the start of the document number), after the row
    `after` (basis date and id of the previous page's last row)."""
    base = [access.record_filter(user)]
    q = (q or "").strip()[:60]
    # Where the list's own order is walked (no search, or a document-number prefix many records share), the office
    # reads the shown records from the public list's index and the others from their own, each in list order,
    # merged: an index of every record in that order would draw the public list's plans off its covering index. A
    # search's other branches (a rare prefix, a unit) are ranges of their own indexes, as they are; a unit's own
    # records have their unit's index.
    split = access.reaches_all_records(user)
    halves = ([text(RECORD_SHOWN_SQL)], [text(RECORD_UNSHOWN_SQL)])
    if q:
        doc = record_search.doc_no_branch(base, q)
        branches = ([doc.with_conditions(*half) for half in halves] if split and isinstance(doc, record_search.Walked)
                    else [doc])
        # Counted whole: the halves split the prefix's range only for the page's order, and a count of each half
        # through the range reads the whole range to sort out the statuses (25 ms for 随财罚 at a million records).
        counted = [doc]
        units = record_search.unit_branch(base, q)
        if units is not None:
            branches.append(units)
            counted.append(units)
    else:
        branches = counted = [[*base, *half] for half in halves] if split else [base]
    total = record_search.capped_count(counted, COUNT_CAP)
    ids = record_search.page_ids(record_search.after_row(branches, after), 0, PAGE)
    rows = record_search.rows_in_order(ids, joinedload(CreditRecord.subject_unit),
                                       joinedload(CreditRecord.recording_unit), joinedload(CreditRecord.person),
                                       lazyload(CreditRecord.history))
    return RecordsPage(rows, min(total, COUNT_CAP), total > COUNT_CAP)
