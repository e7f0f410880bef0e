"""The holiday calendar in the browser: a year at a glance, the schedule file imported, one day corrected."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, CalendarDay, CalendarYear
from app.services import calendar
from tests.support import factories
from tests.support.snapshots import fingerprint, office_state

SCHEDULE_2027 = "date,type,name\n2027-01-01,rest,元旦\n2027-02-08,rest,春节\n2027-02-09,rest,春节\n2027-02-06,work,\n"
FIX = {"day": "2026-12-28", "kind": "rest", "name": "测试假日", "reason": "国办发明电〔2026〕9号"}


@pytest.fixture()
def year_2026(staff):
    calendar.seed_from_package([2026])
    db.session.commit()


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _upload(admin, content: bytes, name: str = "2027.csv", source: str = "国办发明电〔2026〕7号"):
    return admin.post("/admin/calendar/import?year=2027", {"file": (io.BytesIO(content), name), "source": source},
                      form_page="/admin/calendar?year=2027", content_type="multipart/form-data")


def test_a_confirmed_year_shows_its_rest_and_make_up_days(admin, year_2026):
    page = admin.get("/admin/calendar?year=2026").get_data(as_text=True)
    assert "已导入国务院办公厅放假安排" in page and "暂定：" not in page
    assert 'class="day-rest" title="2026-10-01 国庆节"' in page
    assert 'class="day-work" title="2026-01-04 调休上班"' in page  # a Sunday worked
    assert 'class="day-weekend" title="2026-01-03"' in page  # a plain Saturday
    assert 'class="" title="2026-01-05"' in page  # a plain Monday


def test_a_year_without_a_schedule_is_flagged_provisional(admin, year_2026):
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "暂定：2027 年的放假安排尚未导入" in page and "day-rest" not in page.split("<table")[1]


@pytest.mark.parametrize("year,status", [("abc", 404), ("20260", 404), ("1800", 422), ("-1", 404)])
def test_a_year_that_is_no_year_is_refused(admin, year, status):
    assert admin.get(f"/admin/calendar?year={year}").status_code == status


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_import_the_state_council_file_as_the_command_line_does(admin, year_2026, encoding):
    response = _upload(admin, SCHEDULE_2027.encode(encoding))
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/calendar?year=2027")
    assert db.session.get(CalendarYear, 2027).source == "国办发明电〔2026〕7号"
    assert db.session.get(CalendarDay, date(2027, 2, 8)).name == "春节"
    [event] = _audit("calendar.import")
    assert event.object_id == "2027" and event.details["rows"] == 4 and event.username == "admin1"
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "2027 年放假安排已导入，共 4 条" in page and 'class="day-work" title="2027-02-06 调休上班"' in page


@pytest.mark.parametrize("content,says", [
    (b"date,type,name\n2027-02-06,rest,\xe5\x91\xa8\xe5\x85\xad\n", "本来就休息"),  # a Saturday "rest" changes nothing
    (b"date,type,name\n2027-02-30,rest,x\n", "日期“2027-02-30”无效"),
    (b"date,type,name\n2027-02-08,holiday,x\n", "类型“holiday”无效"),
    (b"date,type,name\n2027-02-08,rest,x\n2028-02-08,rest,x\n", "一个文件只能导入一年"),
    (b"date,type,name\n", "没有任何日期行"),
    (b"", "没有任何日期行"),
])
def test_a_bad_file_changes_nothing_and_says_which_line(admin, app, year_2026, content, says):
    before = fingerprint(app), office_state()
    response = _upload(admin, content)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and says in page and 'class="field-error"' in page
    assert "国办发明电〔2026〕7号" in page  # the typed notice number is kept
    assert (fingerprint(app), office_state()) == before and not _audit("calendar.import")


def test_an_import_without_a_file_says_so(admin, app, year_2026):
    before = office_state()
    response = admin.post("/admin/calendar/import", {"source": "x"}, form_page="/admin/calendar",
                          content_type="multipart/form-data")
    assert response.status_code == 200 and "请选择要导入的文件" in response.get_data(as_text=True)
    assert office_state() == before


def test_correct_one_day_with_a_reason_moves_the_deadlines_that_cross_it(admin, app, year_2026):
    received = datetime(2026, 12, 21, 2, 0, tzinfo=timezone.utc)  # a Monday
    spanning, later = (factories.task(factories.case(factories.record(factories.unit(), factories.unit())), "intake")
                       for _ in range(2))
    for task, at in ((spanning, received), (later, datetime(2026, 12, 29, 2, 0, tzinfo=timezone.utc))):
        task.created_at, task.due_days = at, 5
        task.due_at = calendar.deadline(at, 5).due
    db.session.commit()
    assert calendar.deadline(received, 5).due_date == date(2026, 12, 28)
    later_due = later.due_at
    response = admin.post("/admin/calendar/day", FIX, form_page="/admin/calendar")
    assert response.status_code == 302 and response.headers["Location"].endswith("year=2026")
    row = db.session.get(CalendarDay, date(2026, 12, 28))
    assert (row.is_workday, row.name) == (False, "测试假日") and "国办发明电〔2026〕9号" in row.source
    assert calendar.deadline(received, 5).due_date == date(2026, 12, 29)
    db.session.expire_all()
    assert calendar.load_calendar().is_workday(date(2026, 12, 28)) is False
    assert spanning.due_at == calendar.deadline(received, 5).due  # crossed the corrected day: recomputed
    assert later.due_at == later_due  # received after it: untouched
    [event] = _audit("calendar.correct")
    assert event.object_id == "2026-12-28"
    assert event.details | {} == {"from": None, "to": "rest", "name": "测试假日", "reason": "国办发明电〔2026〕9号",
                                  "recomputed_tasks": 1}
    assert "重新计算了 1 个待办任务" in admin.get("/admin/calendar?year=2026").get_data(as_text=True)


def test_a_day_goes_back_to_the_usual_rule(admin, year_2026):
    response = admin.post("/admin/calendar/day", {**FIX, "day": "2026-10-01", "kind": "usual"},
                          form_page="/admin/calendar")
    assert response.status_code == 302 and db.session.get(CalendarDay, date(2026, 10, 1)) is None
    assert calendar.load_calendar().is_workday(date(2026, 10, 1))
    assert _audit("calendar.correct")[0].details["from"] == "rest"


def test_a_make_up_workday_on_a_weekend(admin, year_2026):
    assert admin.post("/admin/calendar/day", {**FIX, "day": "2026-12-26", "kind": "work", "name": ""},
                      form_page="/admin/calendar").status_code == 302
    assert calendar.load_calendar().is_workday(date(2026, 12, 26))


@pytest.mark.parametrize("over,says", [
    ({"day": "2026-02-30"}, "日期无效"),  # an unknown day
    ({"day": ""}, "请填写日期"),
    ({"reason": ""}, "请填写更正原因"),
    ({"kind": ""}, "请选择这一天的类型"),
    ({"kind": "holiday"}, "请选择这一天的类型"),
    ({"day": "2026-12-26"}, "本来就休息"),  # rest on a Saturday changes nothing
    ({"day": "2026-12-28", "kind": "work"}, "本来就上班"),
    ({"day": "2026-12-28", "kind": "usual"}, "没有特别安排"),
    ({"name": ""}, "放假日期须填写节日名称"),
    ({"name": "节" * 41}, "不能超过 40 个字"),
    ({"day": "2027-03-01"}, "2027 年的放假安排尚未导入"),  # provisional year: import first
])
def test_bad_corrections_change_nothing_and_say_why(admin, app, year_2026, over, says):
    before = fingerprint(app), office_state()
    response = admin.post("/admin/calendar/day", {**FIX, **over}, form_page="/admin/calendar")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and says in page, page[-3000:]
    assert 'class="field-error"' in page
    assert (fingerprint(app), office_state()) == before and not _audit("calendar.correct")


def test_the_command_line_import_uses_the_same_service(app, year_2026, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_bytes(SCHEDULE_2027.encode("gb18030"))
    result = app.test_cli_runner().invoke(args=["calendar", "import", str(path), "--source", "国办"])
    assert result.exit_code == 0 and "2027 年放假安排已导入，共 4 条" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("date,type,name\n2028-02-05,rest,周六\n", encoding="utf-8")
    refused = app.test_cli_runner().invoke(args=["calendar", "import", str(bad)])
    assert refused.exit_code == 1 and "本来就休息" in refused.output
