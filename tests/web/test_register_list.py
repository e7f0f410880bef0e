"""The staff's list of records (/records): a page at a time after a cursor, a capped count, found by a unit or the
start of a document number; each user sees what access.record_filter gives them, read in index order."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.services import register
from tests.support import factories

DOC = re.compile(r"随测罚〔\d+〕\d+号")


def _shown(client, path: str) -> tuple[list[str], str]:
    response = client.get(path)
    assert response.status_code == 200, path
    page = response.get_data(as_text=True)
    return DOC.findall(page), page


def _next(page: str) -> str | None:
    found = re.search(r'href="(/records/\?[^"]*after=[^"]+)">下一页', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_pages_follow_each_other_newest_first(web, staff, monkeypatch):
    monkeypatch.setattr(register, "PAGE", 3)
    made = [factories.record(staff["applicant1"].unit, staff["verifier1"].unit,
                             basis_date=date(2026, 1, 1) + timedelta(days=i % 4)) for i in range(8)]
    db.session.commit()
    expected = [r.basis_doc_no for r in sorted(made, key=lambda r: (r.basis_date, r.id), reverse=True)]
    client, seen, path = web("intake1"), [], "/records/"
    while path:
        docs, page = _shown(client, path)
        assert "共 8 条" in page
        seen += docs
        path = _next(page)
    assert seen == expected  # ties on the basis date broken by id: no row twice, none left out


def test_search_by_unit_or_document_number_and_the_cap(web, staff, monkeypatch):
    other = factories.record(staff["applicant2"].unit, staff["verifier1"].unit)
    mine = [factories.record(staff["applicant1"].unit, staff["verifier1"].unit) for _ in range(3)]
    db.session.commit()
    client = web("intake1")
    docs, _ = _shown(client, f"/records/?q={staff['applicant1'].unit.name[2:]}")  # any part of the name
    assert sorted(docs) == sorted(r.basis_doc_no for r in mine)
    docs, _ = _shown(client, f"/records/?q={other.basis_doc_no[:-2]}")  # the start of the number
    assert other.basis_doc_no in docs and not set(docs) & {r.basis_doc_no for r in mine if not
                                                         r.basis_doc_no.startswith(other.basis_doc_no[:-2])}
    docs, _ = _shown(client, f"/records/?q={other.basis_doc_no[3:]}")  # not a prefix, not a unit: nothing
    assert docs == []
    monkeypatch.setattr(register, "COUNT_CAP", 3)
    _docs, page = _shown(client, "/records/")
    assert "超过 3 条" in page


def test_a_recording_unit_sees_the_records_it_made(web, staff):
    made = factories.record(staff["applicant1"].unit, staff["verifier1"].unit)
    theirs = factories.record(staff["applicant1"].unit, staff["verifier2"].unit)
    db.session.commit()
    docs, page = _shown(web("verifier1"), "/records/")
    assert docs == [made.basis_doc_no] and theirs.basis_doc_no not in page and "共 1 条" in page


@pytest.mark.parametrize("after", ["2026-13-01.1", "2026-01-01", "2026-01-01.0", "x.1", "2026-01-01.-1"])
def test_a_bad_cursor_is_a_400(web, staff, after):
    assert web("intake1").get(f"/records/?after={after}").status_code == 400


def _list_plans(client, path: str) -> list[str]:
    """The SQLite plan lines, per statement, of the statements reading credit_record in list order."""
    client.get(path)  # reference data cached by the first view
    sent = []
    event.listen(db.engine, "before_cursor_execute", keep := lambda c, cur, s, p, *a: sent.append((s, p)))
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    listed = [(s, p) for s, p in sent if "FROM credit_record" in s and "basis_date DESC" in s]
    with db.engine.connect() as conn:
        return [[r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p)] for s, p in listed]


@pytest.mark.sqlite
@pytest.mark.parametrize("query", ["", "?q=随测罚", "?after=2026-05-01.1000000"])
def test_the_office_reads_the_register_in_index_order(web, staff, monkeypatch, query):
    """Shown records from the public list's index, the others from their own, each in list order; only the merged
    page (at most twice 50 rows) is sorted."""
    from app.services import record_search

    for _ in range(3):
        factories.record(staff["applicant1"].unit, staff["verifier1"].unit)
    db.session.commit()
    monkeypatch.setattr(record_search, "COMMON_PREFIX", 1)  # the number compared as the list is walked
    plans = _list_plans(web("intake1"), "/records/" + query)
    # The capped count and the page; for a common prefix the count reads the prefix's range instead (no order).
    assert len(plans) == (1 if query.startswith("?q=") else 2), plans
    for plan in plans:
        reads = [line for line in plan if "credit_record" in line]
        assert {"ix_credit_record_public", "ix_credit_record_unshown"} == {
            name for line in reads for name in re.findall(r"INDEX (ix_credit_record_\w+)", line)}, plan
        assert all(re.search(r"(SCAN|SEARCH) credit_record USING (COVERING )?INDEX", line) for line in reads), plan


@pytest.mark.parametrize("path", ["/records/", "/public/records"])
def test_a_common_document_prefix_lists_the_same_records(web, staff, monkeypatch, path):
    """Whether the prefix is counted as rare (its index range, then sorted) or common (the list's order walked and
    the prefix compared as it goes), the page holds the same records in the same order, and the count agrees."""
    from app.services import record_search

    for i in range(6):
        factories.record(staff["applicant1"].unit, staff["verifier1"].unit, basis_date=date(2026, 3, 1 + i % 3))
    factories.record(staff["applicant2"].unit, staff["verifier1"].unit, basis_doc_no="随其他〔2026〕1号")
    db.session.commit()
    client = web("intake1")
    rare = _shown(client, f"{path}?q=随测罚")
    monkeypatch.setattr(record_search, "COMMON_PREFIX", 2)
    common = _shown(client, f"{path}?q=随测罚")
    assert len(rare[0]) == 6 and common[0] == rare[0]
    assert re.search(r"共 6 条", common[1]) and re.search(r"共 6 条", rare[1])
    assert "随其他" not in common[1]




def test_the_office_counts_a_common_prefix_in_one_pass_of_its_range(web, staff, monkeypatch):
    """The page reads shown and unshown records apart (two indexes in list order, merged); the count does not split
    them, which would read the prefix's whole range twice to sort out the statuses: one capped pass of the range."""
    from app.services import record_search

    for i in range(4):
        factories.record(staff["applicant1"].unit, staff["verifier1"].unit, basis_date=date(2026, 3, 1 + i))
    unshown = factories.record(staff["applicant1"].unit, staff["verifier1"].unit, basis_date=date(2026, 3, 9))
    unshown.status = "draft"
    db.session.commit()
    monkeypatch.setattr(record_search, "COMMON_PREFIX", 1)
    client = web("intake1")
    client.get("/records/?q=随测罚")  # reference data cached by the first view
    sent = []
    event.listen(db.engine, "before_cursor_execute", keep := lambda c, cur, s, p, *a: sent.append(" ".join(s.split())))
    try:
        docs, page = _shown(client, "/records/?q=随测罚")
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    counts = [s for s in sent if s.startswith("SELECT count(*)") and "credit_record" in s]
    # The probe that finds the prefix common (its range, up to COMMON_PREFIX + 1), then the capped count.
    assert len(counts) == 2 and not [s for s in counts if "UNION" in s or "status IN" in s], counts
    assert len(docs) == 5 and re.search(r"共 5 条", page)


@pytest.mark.parametrize("path", ["/records/", "/public/records"])
def test_a_unit_search_counts_the_unit_s_records_in_its_index_order(web, staff, path):
    """The count of a unit's records is the first 1,001 of the unit's index, not every match sorted into list
    order first (the page keeps the list's order); it counts them all the same."""
    named = factories.unit("随州市计数测试局")
    for i in range(3):
        factories.record(named, staff["verifier1"].unit, basis_date=date(2026, 3, 1 + i))
    factories.record(staff["applicant1"].unit, staff["verifier1"].unit)
    db.session.commit()
    client = web("intake1")
    client.get(f"{path}?q=计数测试局")  # reference data cached by the first view
    sent = []
    event.listen(db.engine, "before_cursor_execute", keep := lambda c, cur, s, p, *a: sent.append(" ".join(s.split())))
    try:
        docs, page = _shown(client, f"{path}?q=计数测试局")
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    (count,) = [s for s in sent if s.startswith("SELECT count(*)") and "subject_unit_id IN" in s]
    unit_part = count[count.index("subject_unit_id IN"):]
    assert "ORDER BY" not in unit_part, count  # the unit branch comes last in the union
    assert len(docs) == 3 and re.search(r"共 3 条", page)
