"""Deadlines that run from a letter's delivery: opened at issue, counted from delivery, not running before it."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from app.core import clock
from app.core.clock import local_date, local_instant
from app.extensions import db
from app.models import CaseEvent, HumanTask, Letter
from app.services import delivery
from tests.support.constants import T0
from tests.support.delivery import PROBED, start_probe, timer_row
from tests.support.flows import run_timers_at

SECOND = timedelta(seconds=1)


def _letter(case) -> Letter:
    return db.session.scalar(select(Letter).where(Letter.case_id == case.id))


def _end_of(day: date) -> datetime:
    return local_instant(day, time(23, 59, 59))


def _deliver(probe, case, on: date, method: str = "post"):
    clock.set_frozen(local_instant(on, time(15, 0)))
    delivery.record_office_delivery(probe["intake1"], _letter(case), day=on, method=method, note="")
    db.session.commit()


def test_the_letter_opens_its_deadline_awaiting_delivery(probe):
    case = start_probe(probe, wait_days=90)  # the intermediate timer stays out of the way
    db.session.commit()
    letter = _letter(case)
    assert case.form["deadlines"] == {"answer_due": {"letter_id": letter.id, "letter_type": "probe_notice", "days": 10,
                                                     "status": "awaiting_delivery"}}
    # The letter states the count, what delivery is and the last day if delivered on the issue day.
    assert ("请你单位自本通知送达之日起10个工作日内（工作日不含法定节假日和休息日；送达当日不计入，自次日起算；电子送达的，"
            "以你单位在本系统首次打开本通知之时为送达；按2026年11月27日送达计，最后一日为2026年12月11日（含））提交答复。"
            ) == letter.data["paragraphs"][0]


# Issued Friday 2026-11-27 (T0); or Friday 2026-09-25, before the National Day holiday (10-01…10-07, 10-10 worked).
@pytest.mark.parametrize("issued, delivered, last_day, reminder_day", [
    (T0, date(2026, 11, 27), date(2026, 12, 11), date(2026, 12, 8)),    # delivered on the issue day
    (T0, date(2026, 11, 30), date(2026, 12, 14), date(2026, 12, 9)),    # after a weekend
    (T0, date(2026, 12, 4), date(2026, 12, 18), date(2026, 12, 15)),
    (datetime(2026, 9, 25, 2, 0, tzinfo=timezone.utc), date(2026, 9, 29), date(2026, 10, 19), date(2026, 10, 14)),
])
def test_the_deadline_runs_from_the_delivery(probe, issued, delivered, last_day, reminder_day):
    clock.set_frozen(issued)
    case = start_probe(probe, wait_days=90)  # the intermediate timer stays out of the way
    db.session.commit()
    _deliver(probe, case, delivered)
    db.session.expire_all()
    due, remind = _end_of(last_day), local_instant(reminder_day, time(9, 0))
    assert timer_row(case, "answer_deadline").fire_at == due
    assert timer_row(case, "answer_reminder").fire_at == remind
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.bpmn_id == "answer"))
    assert task.due_at == due
    entry = case.form["deadlines"]["answer_due"]
    assert (entry["status"], local_date(datetime.fromisoformat(entry["due"]))) == ("running", last_day)
    assert f"截止：{last_day.year}年{last_day.month}月{last_day.day}日（含）" in delivery.deadline_lines(case)[0]["text"]
    moved = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                       CaseEvent.action == "deadline_moved")).all()
    assert {e.details["variable"] for e in moved} == {"answer_due", "reminder_due"}
    assert all(e.comment.startswith("自送达起算：送达测试通知书") for e in moved)
    # It runs to its new last day, not a second less; then it fires.
    run_timers_at(remind - SECOND)
    assert PROBED == []
    run_timers_at(remind + SECOND)
    assert PROBED == ["reminded"]
    run_timers_at(due - SECOND)
    assert "overdue" not in PROBED
    run_timers_at(due + SECOND)
    assert PROBED == ["reminded", "overdue"]


def test_an_undelivered_deadline_does_not_run(probe):
    case = start_probe(probe, wait_days=90)  # the intermediate timer stays out of the way
    db.session.commit()
    provisional_due = timer_row(case, "answer_deadline").fire_at
    assert local_date(provisional_due) == date(2026, 12, 11)
    # The reminder's time comes (2026-12-08 09:00): nothing fires; both are counted as if delivered that day.
    run_timers_at(timer_row(case, "answer_reminder").fire_at + SECOND)
    assert PROBED == []
    assert timer_row(case, "answer_deadline").fire_at == _end_of(date(2026, 12, 22))
    assert timer_row(case, "answer_reminder").fire_at == local_instant(date(2026, 12, 17), time(9, 0))
    held = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.action == "deadline_moved")).all()
    assert held and all(e.comment.startswith("未送达，期限未起算") for e in held)
    assert not db.session.scalar(select(CaseEvent).where(CaseEvent.action == "timer_fired"))
    # The old last day passes: still nothing.
    run_timers_at(provisional_due + SECOND)
    assert PROBED == []
    assert db.session.get(type(case), case.id).form["deadlines"]["answer_due"]["status"] == "awaiting_delivery"
    # Delivered on 2026-12-14 (Monday): the deadline runs from then, to 2026-12-28.
    _deliver(probe, case, date(2026, 12, 14), method="direct")
    assert timer_row(case, "answer_deadline").fire_at == _end_of(date(2026, 12, 28))
    run_timers_at(_end_of(date(2026, 12, 28)) + SECOND)
    assert PROBED == ["reminded", "overdue"]


def test_a_deadline_once_running_is_not_held(probe):
    case = start_probe(probe, wait_days=90)  # the intermediate timer stays out of the way
    db.session.commit()
    _deliver(probe, case, date(2026, 11, 27))
    run_timers_at(_end_of(date(2026, 12, 11)) + SECOND)
    assert "overdue" in PROBED


def test_the_api_shows_the_letters_delivery_and_the_deadline(probe, api):
    case = start_probe(probe, wait_days=90)  # the intermediate timer stays out of the way
    db.session.commit()
    before = api("intake1").get(f"/api/v1/cases/{case.id}").get_json()
    [letter] = before["letters"]
    assert letter["delivery"] == {"delivered": False, "delivered_at": None, "delivered_on": None, "method": None,
                                  "method_label": None, "note": None}
    assert before["deadlines"][0]["text"] == "期限：自送达起10个工作日；尚未送达"
    clock.set_frozen(T0 + timedelta(days=3, hours=1))  # Monday 2026-11-30
    assert api("applicant1").get(f"/api/v1/letters/{letter['id']}.pdf").status_code == 200
    after = api("applicant1").get(f"/api/v1/cases/{case.id}").get_json()
    assert after["letters"][0]["delivery"]["delivered_on"] == "2026-11-30"
    assert after["letters"][0]["delivery"]["method_label"] == "电子送达"
    assert after["deadlines"][0]["text"] == "截止：2026年12月14日（含）"
