"""申请恢复荣誉评选资格 is offered on the unit's sanctions page only when it can succeed, else why not and from when."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from app.extensions import db
from app.models import Sanction
from app.core import clock
from app.services import letters, publication
from tests.support.flows import TZ, clear_other_serious, disqualify, repairable

BUTTON = "申请恢复荣誉评选资格</button>"


def _sanctions_page_on(web, users, day):
    clock.set_frozen(datetime.combine(day, time(9), TZ))
    publication.expire_records(day)  # the worker's daily rule: records past their period leave publication
    for name in ("applicant1", "applicant2"):
        users[name].password_changed_at = clock.now()  # years on: a fresh password, not the expiry page
    db.session.commit()
    return web("applicant1").get("/sanctions").get_data(as_text=True)


def test_offered_from_the_day_the_record_leaves_publication(api, web, recorded_staff):
    record = repairable()
    clear_other_serious(record)
    sanction = db.session.get(Sanction, disqualify(api, record))
    earliest = sanction.records[0].auto_end_date + timedelta(days=1)
    before = _sanctions_page_on(web, recorded_staff, earliest - timedelta(days=1))
    assert BUTTON not in before
    assert "取消荣誉评选资格所依据的失信记录尚未修复、撤销或届满" in before
    assert f"最早可于{letters.chinese_date(earliest)}申请" in before
    other_unit = web("applicant2").get("/sanctions").get_data(as_text=True)
    assert BUTTON not in other_unit and "最早可于" not in other_unit
    assert BUTTON in _sanctions_page_on(web, recorded_staff, earliest)
    applicant = web("applicant1")
    applied = applicant.post(f"/portal/sanctions/{sanction.id}/restoration", form_page="/sanctions")
    assert applied.status_code == 302 and "/cases/" in applied.headers["Location"]
    page = applicant.get("/sanctions").get_data(as_text=True)
    assert BUTTON not in page and "该措施已有正在办理的恢复申请" in page  # not offered twice
