"""The auditor's audit-log pages: search by every filter, keyset paging, formula-safe audited exports, 404 for others."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select, text

from app.extensions import db
from app.models import AuditEvent, Unit, UserRole
from app.services import audit
from app.services.audit import checkpoint, search as audit_search
from app.core import clock
from tests.support import factories
from tests.support.constants import T0

EVENT_LINK = re.compile(r'href="/audit/events/(\d+)"')


def ids_on(page) -> list[int]:
    """The event ids a search page lists, in page order."""
    assert page.status_code == 200, page.status_code
    return [int(i) for i in EVENT_LINK.findall(page.get_data(as_text=True))]


def tamper(sql: str, **params) -> None:
    """Change audit rows behind the application's back, as a database administrator could."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))  # skips the append-only trigger
    db.session.execute(text(sql), params)
    db.session.commit()


def put(at_utc: datetime, action: str, **fields) -> int:
    """Record one event at a given instant with a given actor; return its id."""
    actor = audit.Actor(user_id=fields.pop("user_id", None), username=fields.pop("username", ""),
                        unit_id=fields.pop("unit_id", None), ip=fields.pop("ip", ""))
    with clock.frozen_at(at_utc):
        ev = factories.audit_event(action, actor=actor, **fields)
    db.session.commit()
    return ev.id


@pytest.fixture()
def events(seeded):
    """A handful of distinct events around a Beijing-time midnight."""
    units = {u.name: u.id for u in db.session.scalars(select(Unit))}
    housing = units["曾都区住房和城乡建设局"]
    office = units["随州市社会信用体系建设领导小组办公室"]
    return {
        # 2026-11-25 23:30 and 2026-11-26 00:30 in Beijing: either side of local midnight.
        "late": put(datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc), "auth.login", outcome="failure",
                    username="zhangsan", unit_id=housing, ip="10.1.2.3", details={"why": "password"}),
        "early": put(datetime(2026, 11, 25, 16, 30, tzinfo=timezone.utc), "case.status", object_type="case",
                     object_id=77, username="lisi", unit_id=office, ip="192.168.0.9", details={"to": "closed"}),
        "denied": put(datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc), "access.denied", outcome="denied",
                      object_type="route", object_id="/admin/outbox", username="zhangsan", unit_id=housing,
                      ip="10.1.9.9"),
        "housing": housing,
        "office": office,
    }


def test_only_the_auditor_reaches_the_audit_log(web, events):
    for username in ("applicant1", "intake1", "verifier1", "admin1"):
        client = web(username)
        for path in ("/audit/", "/audit/export.csv", "/audit/export.xlsx", f"/audit/events/{events['late']}"):
            assert client.get(path).status_code == 404, (username, path)
        assert client.post("/audit/verify", form_page="/notifications").status_code == 404, username
    assert web().get("/audit/").status_code == 302  # anonymous: to the login page
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "audit.export" not in actions and "audit.verify" not in actions
    auditor = web("auditor1")
    page = auditor.get("/audit/")
    assert page.status_code == 200 and "审计日志" in page.get_data(as_text=True)
    assert 'href="/audit/"' in auditor.get("/notifications").get_data(as_text=True)  # the nav link


def test_search_by_each_filter(web, events):
    auditor = web("auditor1")
    late, early, denied = events["late"], events["early"], events["denied"]
    mine = {late, early, denied}

    def found(query: str) -> set[int]:
        return set(ids_on(auditor.get("/audit/?" + query))) & mine

    assert found("") == mine
    assert found("date_to=2026-11-25") == {late}
    assert found("date_from=2026-11-26") == {early, denied}
    assert found("date_from=2026-11-26&date_to=2026-11-26") == {early, denied}
    assert found("username=zhangsan") == {late, denied}
    assert found(f"unit_id={events['office']}") == {early}
    assert found("action=auth.login") == {late}
    assert found("action_prefix=access.") == {denied}
    assert found("action_prefix=case.") == {early}
    assert found("object_type=case") == {early}
    assert found("object_type=case&object_id=77") == {early}
    assert found("object_id=78") == set()
    assert found("outcome=failure") == {late}
    assert found("outcome=denied") == {denied}
    assert found("ip=10.1.") == {late, denied}
    assert found("ip=192.168.0.9") == {early}
    assert found("username=zhangsan&outcome=denied&ip=10.1.9") == {denied}
    # Filters outside the chosen one do not leak in: every listed event matches.
    listed = ids_on(auditor.get("/audit/?action_prefix=auth."))
    assert listed and all(db.session.get(AuditEvent, i).action.startswith("auth.") for i in listed)


def test_the_unit_is_typed_by_name_part_or_credit_code_and_links_carry_its_id(web, events):
    auditor = web("auditor1")
    office = db.session.get(Unit, events["office"])
    mine = {events["late"], events["early"], events["denied"]}

    def found(query: str) -> set[int]:
        return set(ids_on(auditor.get("/audit/?" + query))) & mine

    assert found(f"unit={office.name}") == {events["early"]}
    assert found(f"unit={office.uscc.lower()}") == {events["early"]}  # the code in any case
    assert found("unit=住房和城乡建设") == {events["late"], events["denied"]}  # the one unit whose name has it
    # A link (next page, export) names the unit by id: the field shows its name, so the next search keeps it.
    body = auditor.get(f"/audit/?unit_id={events['housing']}").get_data(as_text=True)
    assert 'value="曾都区住房和城乡建设局"' in body
    assert found(f"unit_id={events['housing']}") == {events["late"], events["denied"]}


@pytest.mark.parametrize("query, message", [
    ("unit=不存在的单位", "未找到单位“不存在的单位”。"),
    ("unit=局", "有多个单位与“局”相符，请填写完整名称或统一社会信用代码。"),
    ("unit_id=999999", "单位无效。"),
    ("unit_id=x", "单位无效。"),
])
def test_a_unit_naming_no_single_unit_is_shown_and_ignored(web, events, query, message):
    page = web("auditor1").get("/audit/?" + query)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and message in body
    assert {events["late"], events["early"], events["denied"]} <= set(ids_on(page))  # not filtered


def test_the_page_does_not_list_the_units(web, events):
    """The unit is typed: the page's size and statements do not grow with the number of units (issue 15 §6)."""
    names = [factories.unit(f"审计页面不应列出的单位{i}").name for i in range(30)]
    db.session.commit()
    body = web("auditor1").get("/audit/").get_data(as_text=True)
    assert not [name for name in names if name in body]
    assert body.count("<option") < 100  # the action, object type and outcome lists only


def test_bad_filter_values_are_shown_and_ignored(web, events):
    auditor = web("auditor1")
    page = auditor.get("/audit/?date_from=2026-11-30&date_to=2026-11-01&action_prefix=auth%25&unit_id=x")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "截止日期不能早于起始日期。" in body and "只能包含小写字母、下划线和点。" in body
    assert events["late"] not in ids_on(page)  # the valid start date still applies
    assert events["early"] not in ids_on(page)


def test_rows_show_time_user_unit_ip_action_object_outcome(web, events):
    body = web("auditor1").get("/audit/?username=lisi").get_data(as_text=True)
    assert "2026-11-26 00:30" in body  # Beijing time
    assert "lisi" in body and "随州市社会信用体系建设领导小组办公室" in body and "192.168.0.9" in body
    assert "办件状态变更" in body and "case.status" in body and "办件 77" in body and "成功" in body
    assert '"to": "closed"' in body.replace("&#34;", '"')
    assert "/cases/77" not in body  # the auditor cannot open cases: the object is plain text


def test_case_link_only_where_the_viewer_may_open_the_case(web, api, users):
    from tests.support.flows import file_objection

    case_id = file_objection(api)["id"]
    auditor = web("auditor1")
    assert f'href="/cases/{case_id}"' not in auditor.get("/audit/?object_type=case").get_data(as_text=True)
    # A second role that reaches the case (not a demo set-up: it only shows the link follows case access).
    db.session.add(UserRole(user_id=users["auditor1"].id, role="intake"))
    db.session.commit()
    body = auditor.get(f"/audit/?object_type=case&object_id={case_id}").get_data(as_text=True)
    assert f'href="/cases/{case_id}"' in body


def test_keyset_paging_newest_first(web, seeded):
    first = put(T0, "auth.login", username="pager")
    for _ in range(119):
        put(T0, "auth.login", username="pager")
    auditor = web("auditor1")
    body = auditor.get("/audit/?username=pager").get_data(as_text=True)
    page1 = ids_on(auditor.get("/audit/?username=pager"))
    assert len(page1) == 50 and page1 == sorted(page1, reverse=True) and page1[0] == first + 119
    assert "符合条件的事件共 120 条。" in body
    older = re.search(r'href="([^"]*before=(\d+)[^"]*)"', body)
    assert older and int(older.group(2)) == page1[-1] and "username=pager" in older.group(1)
    page2 = ids_on(auditor.get(f"/audit/?username=pager&before={page1[-1]}"))
    page3 = ids_on(auditor.get(f"/audit/?username=pager&before={page2[-1]}"))
    assert len(page2) == 50 and len(page3) == 20
    assert page1 + page2 + page3 == list(range(first + 119, first - 1, -1))
    last_body = auditor.get(f"/audit/?username=pager&before={page2[-1]}").get_data(as_text=True)
    assert "较早的 50 条" not in last_body and "较新的 50 条" in last_body
    assert ids_on(auditor.get(f"/audit/?username=pager&after={page2[0]}")) == page1  # back to newer


def test_count_says_more_when_capped(web, seeded, monkeypatch):
    for _ in range(4):
        put(T0, "auth.login", username="many")
    monkeypatch.setattr(audit_search, "COUNT_CAP", 3)
    assert "符合条件的事件超过 3 条。" in web("auditor1").get("/audit/?username=many").get_data(as_text=True)


HOSTILE = {"username": "=cmd|' /C calc'!A0", "ip": "+1+2", "object_id": "-2+3", "details": {"note": "@SUM(A1)"}}


def _hostile_event() -> int:
    # The day before the demo's registrations (at T0), so that an export up to that day holds the test's events only.
    return put(T0 - timedelta(days=1), "case.status", object_type="case", object_id=HOSTILE["object_id"], username=HOSTILE["username"],
               ip=HOSTILE["ip"], details=HOSTILE["details"])


def test_csv_export_content_formula_safe_and_audited(web, events):
    hostile = _hostile_event()
    auditor = web("auditor1")
    response = auditor.get("/audit/export.csv?action=case.status&date_to=2026-11-26")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"] and "X-Export-Capped" not in response.headers
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["事件编号", "时间（北京时间）", "用户名"]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert set(by_id) == {hostile, events["early"]}
    early = by_id[events["early"]]
    assert early[1] == "2026-11-26 00:30:00" and early[2] == "lisi" and early[4] == "随州市社会信用体系建设领导小组办公室"
    assert early[5] == "192.168.0.9" and early[6] == "办件状态变更" and early[7] == "case.status" and early[8] == "办件"
    assert early[9] == "77" and early[10] == "成功" and '"to": "closed"' in early[11]
    ev = db.session.get(AuditEvent, events["early"])
    assert early[12] == ev.prev_hash and early[13] == ev.hash
    bad = by_id[hostile]
    assert bad[2] == "'" + HOSTILE["username"] and bad[5] == "'" + HOSTILE["ip"] and bad[9] == "'" + HOSTILE["object_id"]
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    export = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert export.username == "auditor1" and export.details == {
        "format": "csv", "filters": {"action": "case.status", "date_to": "2026-11-26"}, "rows": 2, "capped": False}


def test_xlsx_export_content_formula_safe_and_audited(web, events):
    hostile = _hostile_event()
    response = web("auditor1").get("/audit/export.xlsx?username=" + HOSTILE["username"].replace("|", "%7C"))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [[cell for cell in row] for row in sheet.iter_rows()]
    assert [c.value for c in rows[0][:2]] == ["事件编号", "时间（北京时间）"]
    assert len(rows) == 2 and rows[1][0].value == hostile
    for cell, expected in ((rows[1][2], HOSTILE["username"]), (rows[1][5], HOSTILE["ip"]), (rows[1][9], HOSTILE["object_id"])):
        assert cell.value == expected and cell.data_type == "s"  # text, never a formula
    assert not any(c.data_type == "f" for row in rows for c in row)
    export = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert export.details["format"] == "xlsx" and export.details["filters"] == {"username": HOSTILE["username"]}


def test_export_is_capped_and_says_so(web, seeded, monkeypatch):
    for _ in range(7):
        put(T0, "auth.login", username="bulk")
    monkeypatch.setattr(audit_search, "EXPORT_CAP", 5)
    auditor = web("auditor1")
    response = auditor.get("/audit/export.csv?username=bulk")
    assert response.headers["X-Export-Capped"] == "5"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) == 1 + 5 + 1 and "已达导出上限" in rows[-1][0]
    sheet = load_workbook(io.BytesIO(auditor.get("/audit/export.xlsx?username=bulk").get_data())).active
    values = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert len(values) == 1 + 5 + 1 and "已达导出上限" in values[-1]
    details = [e.details for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export"))]
    assert all(d["capped"] is True and d["rows"] == 5 for d in details) and len(details) == 2


def test_details_and_names_are_escaped(web, seeded):
    event_id = put(T0, "case.status", username="<img src=x onerror=alert(1)>",
                   details={"comment": "<script>alert('x')</script>"})
    auditor = web("auditor1")
    for path in ("/audit/", f"/audit/events/{event_id}"):
        body = auditor.get(path).get_data(as_text=True)
        assert "<script>alert(" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(" in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_event_page_shows_hashes_and_local_checks(web, events):
    auditor = web("auditor1")
    ev = db.session.get(AuditEvent, events["early"])
    body = auditor.get(f"/audit/events/{ev.id}").get_data(as_text=True)
    assert ev.hash in body and ev.prev_hash in body and "内容与哈希一致" in body and "与上一条相连" in body
    assert auditor.get("/audit/events/999999").status_code == 404
    tamper("UPDATE audit_event SET ip = '1.1.1.1' WHERE id = :id", id=ev.id)
    body = auditor.get(f"/audit/events/{ev.id}").get_data(as_text=True)
    assert "内容与哈希不符" in body


def test_verify_button_runs_the_chain_check_and_is_audited(web, events):
    auditor = web("auditor1")
    assert auditor.client.post("/audit/verify").status_code == 400  # no CSRF token
    page = auditor.post("/audit/verify", form_page="/audit/")
    assert page.status_code == 200 and "哈希链完整" in page.get_data(as_text=True)
    tamper("UPDATE audit_event SET outcome = 'success' WHERE id = :id", id=events["late"])
    body = auditor.post("/audit/verify", form_page="/audit/").get_data(as_text=True)
    assert "发现问题 1 处" in body and f"事件 {events['late']}：内容哈希不符" in body
    partial = auditor.post("/audit/verify", {"up_to": str(events["late"] - 1)}, form_page="/audit/")
    assert "哈希链完整" in partial.get_data(as_text=True)
    verifications = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify")
                                       .order_by(AuditEvent.id)).all()
    assert [v.outcome for v in verifications] == ["success", "failure", "success"]
    assert verifications[1].details["problems"] == 1 and verifications[2].details["up_to"] == events["late"] - 1


def test_the_verify_page_compares_with_the_checkpoint(web, events):
    from sqlalchemy import func

    from app.services import audit

    auditor = web("auditor1")
    body = auditor.post("/audit/verify", form_page="/audit/").get_data(as_text=True)
    assert "未找到审计检查点" in body
    checkpoint.write_checkpoint()
    head = db.session.scalar(select(func.max(AuditEvent.id)))
    body = auditor.post("/audit/verify", form_page="/audit/").get_data(as_text=True)
    assert "哈希链完整" in body and f"审计检查点（事件 {head}，密钥 test）" in body
    tamper("DELETE FROM audit_event WHERE id >= :id", id=head - 1)  # the newest two events
    body = auditor.post("/audit/verify", form_page="/audit/").get_data(as_text=True)
    assert "最新的事件被删除" in body and "2 条被删除" in body


def test_every_search_field_has_a_label(web, seeded):
    body = web("auditor1").get("/audit/").get_data(as_text=True)
    controls = re.findall(r'<(?:input|select)[^>]*\bid="(f-[a-z_]+)"', body)
    assert len(controls) == 10
    for control in controls:
        assert f'<label for="{control}">' in body, control
