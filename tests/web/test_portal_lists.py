"""The applicant portal's lists read one page of their own table, whatever page is asked for."""
from __future__ import annotations

import re

from sqlalchemy import event

from app.extensions import db
from tests.support import factories


def _statements(client, path: str) -> tuple[str, list[str]]:
    seen: list[str] = []

    def keep(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert response.status_code == 200, path
    return response.get_data(as_text=True), seen


def test_a_later_page_of_my_cases_reads_no_record_but_its_own(web, staff):
    applicant = staff["applicant1"]
    records = [factories.record(applicant.unit, staff["verifier1"].unit) for _ in range(60)]
    for record in records:
        factories.case(record, status="in_progress")
    db.session.commit()
    client = web("applicant1")
    client.get("/portal/cases")  # reference data cached by the first page; compare from here
    page, statements = _statements(client, "/portal/cases?page=2")
    # Page 2 holds the 10 oldest cases, each with its own record's basis document.
    shown = set(re.findall(r"随测罚〔\d+〕\d+号", page))
    assert shown == {r.basis_doc_no for r in records[:10]}
    listed = [s for s in statements if re.search(r'FROM "case"', s) and "ORDER BY" in s]
    assert listed and all("credit_record" not in s.split("WHERE")[0] for s in listed), listed
    loaded = [s for s in statements if re.match(r"\s*SELECT credit_record\.", s)]
    assert len(loaded) == 1 and "credit_record.id IN" in loaded[0], loaded
