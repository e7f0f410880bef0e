"""The applicant portal's lists read one page of their own table, whatever page is asked for."""
from __future__ import annotations

import re

import pytest

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


def _plans(client, path: str, table: str) -> list[str]:
    """The SQLite plan of each statement the page sent that reads `table` in some order (its list query)."""
    from sqlalchemy import text  # noqa: PLC0415 - only this helper

    sent: list[tuple[str, tuple]] = []

    def keep(conn, cursor, statement, parameters, *args):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    plans = []
    with db.engine.connect() as conn:
        for statement, parameters in sent:
            if f"FROM {table}" in statement and ("ORDER BY" in statement or "count(*)" in statement):
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                plans.append(" / ".join(row[-1] for row in rows))
    return plans


@pytest.mark.sqlite
@pytest.mark.parametrize("username,path,table,index", [
    ("applicant1", "/portal/records", "credit_record", "ix_credit_record_subject_list"),
    ("verifier1", "/records/", "credit_record", "ix_credit_record_recording_list"),
    ("applicant1", "/portal/cases", '"case"', "ix_case_applicant_list"),
])
def test_a_units_list_is_read_in_index_order(web, staff, username, path, table, index):
    for _ in range(3):
        factories.case(factories.record(staff["applicant1"].unit, staff["verifier1"].unit), status="in_progress")
    db.session.commit()
    plans = _plans(web(username), path, table)
    assert plans, path
    for plan in plans:  # the page and the pager's count: a range of the unit's index, never a sort of its rows
        assert f"INDEX {index} (" in plan and "TEMP B-TREE" not in plan, plan
    assert any(f"COVERING INDEX {index}" in plan for plan in plans) or path == "/records/", plans
