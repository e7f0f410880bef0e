"""The public record list paged, filtered and counted in SQL (issue 15 §6): the same records in the same order as
the rule says (a public status, publication begun, not a severity its rule set keeps unpublished), each page its own
rows, the count capped and saying so, every filter and query matching what it says."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import RECORD_PUBLIC, RECORD_SHOWN_SQL, CreditRecord, RuleSet, Unit
from app.services import public, publication, record_search
from tests.support import factories


def shown_in_order(**match) -> list[int]:
    """The brute-force answer: every record, kept by publication.is_public and `match`, newest basis date first."""
    rows = [r for r in db.session.scalars(select(CreditRecord)) if publication.is_public(r)
            and all(getattr(r, key) == value for key, value in match.items())]
    return [r.id for r in sorted(rows, key=lambda r: (r.basis_date, r.id), reverse=True)]


def every_page(**args) -> list[int]:
    """The ids of all pages of the list, in page order."""
    ids, page = [], 1
    while True:
        found = public.public_records(page=page, **args)
        if not found.rows:
            return ids
        ids += [r.id for r in found.rows]
        page += 1


@pytest.fixture()
def mixed(seeded, monkeypatch):
    """Records in every status, with and without publication begun, minor ones under both rule sets; pages of 4."""
    monkeypatch.setattr(public, "PAGE", 4)
    units = list(db.session.scalars(select(Unit).where(Unit.is_credit_office.is_(False)).order_by(Unit.id)))
    subject, recorder = units[0], units[1]
    order_36 = db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36"))
    other = db.session.scalar(select(RuleSet).where(RuleSet.code != "NDRC-36"))
    made = {}
    for i, status in enumerate(("published", "disputed", "corrected", "revoked", "repaired", "expired", "draft",
                                "reviewing")):
        made[status] = factories.record(subject, recorder, status=status, basis_date=date(2026, 3, 1) + timedelta(i))
    # Publication not yet begun (a delayed start), and two records on one basis date (the id breaks the tie).
    made["not_begun"] = factories.record(subject, recorder, basis_date=date(2026, 3, 20), published_at=None)
    made["tie_a"] = factories.record(subject, recorder, basis_date=date(2026, 3, 21))
    made["tie_b"] = factories.record(subject, recorder, basis_date=date(2026, 3, 21))
    made["minor_36"] = factories.record(subject, recorder, severity="minor", basis_date=date(2026, 3, 22),
                                        rule_set_id=order_36.id, published_at=factories.now())
    made["minor_other"] = factories.record(subject, recorder, severity="minor", basis_date=date(2026, 3, 23),
                                           rule_set_id=other.id, published_at=factories.now())
    db.session.commit()
    return made


def test_the_shown_words_are_the_public_statuses():
    assert RECORD_SHOWN_SQL == ("status IN (" + ", ".join(f"'{s}'" for s in RECORD_PUBLIC) + ")"
                                " AND published_at IS NOT NULL")


def test_every_page_together_is_exactly_the_public_list_in_order(mixed):
    expected = shown_in_order()
    assert every_page() == expected  # nothing missing, nothing twice, in list order
    for name in ("published", "disputed", "corrected", "tie_a", "tie_b", "minor_other"):
        assert mixed[name].id in expected, name
    for name in ("revoked", "repaired", "expired", "draft", "reviewing", "not_begun", "minor_36"):
        assert mixed[name].id not in expected, name
    assert expected.index(mixed["tie_b"].id) == expected.index(mixed["tie_a"].id) - 1  # same day: higher id first
    first, second = public.public_records(page=1), public.public_records(page=2)
    assert len(first.rows) == 4 and not {r.id for r in first.rows} & {r.id for r in second.rows}
    assert [r.id for r in second.rows] == expected[4:8]


def test_the_count_stops_at_its_cap_and_says_so(app, mixed, monkeypatch):
    total = len(shown_in_order())
    monkeypatch.setattr(public, "COUNT_CAP", total)
    assert tuple(public.public_records()[1:]) == (total, False)  # exactly the cap: counted, not capped
    monkeypatch.setattr(public, "COUNT_CAP", total - 1)
    assert tuple(public.public_records()[1:]) == (total - 1, True)
    from tests.support.clients import fresh_g

    fresh_g()
    page = app.test_client().get("/public/records").get_data(as_text=True)
    assert f"超过 {total - 1} 条" in page and "下一页" in page


def test_the_last_page_has_no_next_link(app, mixed):
    from tests.support.clients import fresh_g

    last = (len(shown_in_order()) + public.PAGE - 1) // public.PAGE
    fresh_g()
    page = app.test_client().get("/public/records", query_string={"page": last}).get_data(as_text=True)
    assert "下一页" not in page
    fresh_g()
    assert "下一页" in app.test_client().get("/public/records", query_string={"page": last - 1}).get_data(as_text=True)


@pytest.mark.parametrize("field,value", [("category", "admin_penalty"), ("category", "discipline"),
                                         ("severity", "minor"), ("severity", "serious")])
def test_each_filter_keeps_exactly_its_records(mixed, field, value):
    assert every_page(**{field: value}) == shown_in_order(**{field: value})


def test_a_query_finds_a_unit_by_any_part_of_its_name_or_its_code_never_its_peoples_records(seeded):
    person_record = db.session.scalar(select(CreditRecord).where(CreditRecord.subject_type == "person",
                                                                 CreditRecord.published_at.is_not(None)))
    unit = person_record.subject_unit
    own = shown_in_order(subject_unit_id=unit.id, subject_type="unit")
    assert own
    for q in (unit.name, unit.name[2:6], unit.uscc, unit.uscc.lower(), f"  {unit.uscc} "):
        found = every_page(q=q)
        assert set(own) <= set(found), q
        assert person_record.id not in found, q
    assert every_page(q=unit.uscc[:-1]) == []  # a code is matched whole


def test_a_query_finds_a_document_number_by_its_beginning_only(mixed):
    record = mixed["published"]
    number = record.basis_doc_no  # 随测罚〔2026〕N号
    assert every_page(q=number) == [record.id]
    begins = every_page(q=number[:6])  # 随测罚〔20
    assert record.id in begins and begins == [i for i in shown_in_order() if
                                              db.session.get(CreditRecord, i).basis_doc_no.startswith(number[:6])]
    assert every_page(q=number[1:]) == []  # not a contains-search
    assert every_page(q="随测%") == [] and every_page(q="随_罚") == []  # LIKE's wildcards are plain characters


def test_a_person_record_is_found_by_its_public_document_number(seeded):
    person_record = db.session.scalar(select(CreditRecord).where(CreditRecord.subject_type == "person",
                                                                 CreditRecord.published_at.is_not(None)))
    assert publication.is_public(person_record)
    assert person_record.id in every_page(q=person_record.basis_doc_no)


def test_a_record_found_by_name_and_by_number_is_listed_once_in_order(mixed, monkeypatch):
    recorder = mixed["published"].recording_unit
    twin = Unit(name="随测罚示范单位", kind="department", uscc="11421300TESTUNIT01", region="曾都区")
    db.session.add(twin)
    db.session.flush()
    both = factories.record(twin, recorder, basis_date=date(2026, 2, 1))  # its number starts 随测罚 too
    named_only = factories.record(twin, recorder, basis_date=date(2026, 2, 2), basis_doc_no="随财罚〔2026〕1号")
    db.session.commit()
    found = every_page(q="随测罚")
    by_number = [i for i in shown_in_order() if db.session.get(CreditRecord, i).basis_doc_no.startswith("随测罚")]
    expected = [i for i in shown_in_order() if i in set(by_number) | {named_only.id}]
    assert found == expected and found.count(both.id) == 1 and named_only.id in found
    assert public.public_records(q="随测罚").total == len(expected)  # counted once each
    monkeypatch.setattr(record_search, "UNIT_LIST", 0)  # the unit condition as a subquery gives the same list
    assert every_page(q="随测罚") == expected


def test_following_the_next_links_walks_the_whole_list_once(app, mixed):
    import html
    import re

    from tests.support.clients import fresh_g

    client, path, seen = app.test_client(), "/public/records?category=admin_penalty", []
    expected = shown_in_order(category="admin_penalty")
    numbers = {db.session.get(CreditRecord, i).basis_doc_no: i for i in expected}
    while path:
        fresh_g()
        page = client.get(path).get_data(as_text=True)
        seen += [numbers[n] for n in re.findall(r"随测罚〔\d+〕\d+号|随财罚〔\d+〕\d+号|[^<>\s]+〔\d+〕\d+号", page)
                 if n in numbers]
        link = re.search(r'<a href="([^"]+)">下一页</a>', page)
        path = html.unescape(link.group(1)) if link else None
        assert not link or "after=" in path
    assert seen == expected
    after = public.public_records(category="admin_penalty").rows[-1]
    assert [r.id for r in public.public_records(category="admin_penalty", after=(after.basis_date, after.id)).rows] \
        == [r.id for r in public.public_records(category="admin_penalty", page=2).rows]


@pytest.mark.parametrize("cursor", ["x", "2026-03-01", "2026-03-01.", "2026-13-01.5", "2026-03-01.0",
                                    "2026-03-01.99999999999999999999", "٢٠٢٦-03-01.5", "2026-03-01.-1"])
def test_a_bad_cursor_is_a_400(app, seeded, cursor):
    from tests.support.clients import fresh_g

    fresh_g()
    response = app.test_client().get("/public/records", query_string={"after": cursor})
    assert response.status_code == 400 and "分页参数无效" in response.get_data(as_text=True)
