"""The 限期整改通知书 on main: its deadline (rectification_due) and reminder (reminder_due) run from its delivery."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from app.core import clock
from app.core.clock import local_date, local_instant
from app.extensions import db
from app.models import Case, CaseEvent
from tests.support.flows import deliver_letters, do_task, open_order, run_timers_at, sanctions_of, timer

SECOND = timedelta(seconds=1)


def test_an_undelivered_order_does_not_run_and_runs_from_its_delivery(api, recorded_staff):
    order = open_order(api, days=5, deliver=False)  # Friday 2026-11-27: provisionally 2026-12-04
    assert local_date(timer(order["id"], "rectification_deadline").fire_at) == date(2026, 12, 4)
    run_timers_at(timer(order["id"], "rectification_deadline").fire_at + SECOND)
    assert "public_criticism" not in sanctions_of(order["id"])  # not overdue: the order was never delivered
    held = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == order["id"],
                                                      CaseEvent.action == "deadline_moved")).all()
    assert held and all(e.comment.startswith("未送达，期限未起算") for e in held)
    # applicant1 opens it on Monday 2026-12-07: five working days from then, to Monday 2026-12-14.
    clock.set_frozen(local_instant(date(2026, 12, 7), time(9, 30)))
    letter = api("applicant1").get(f"/api/v1/cases/{order['id']}").get_json()["letters"][0]
    assert api("applicant1").get(letter["pdf"]).status_code == 200
    db.session.expire_all()
    due = timer(order["id"], "rectification_deadline").fire_at
    assert due == local_instant(date(2026, 12, 14), time(23, 59, 59))
    # The reminder, 3 working days before: Wednesday 2026-12-09 09:00; and the case shows the new last day.
    assert timer(order["id"], "rectification_reminder").fire_at == local_instant(date(2026, 12, 9), time(9, 0))
    assert local_date(datetime.fromisoformat(db.session.get(Case, order["id"]).form["current_due"])) == date(2026, 12, 14)
    run_timers_at(due - SECOND)
    assert "public_criticism" not in sanctions_of(order["id"])
    run_timers_at(due + SECOND)
    assert sanctions_of(order["id"])["public_criticism"] == "proposed"


def test_a_new_period_runs_from_the_rework_notice_not_the_old_notice(api, recorded_staff):
    order = open_order(api, days=10, deliver=False)
    do_task(api, "applicant1", order["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", order["id"], "review_rectification",
            {"review": "return_for_rework", "opinion": "整改不到位", "new_deadline_days": "5"})
    # The 重新整改通知书 opens the new period: it waits for that letter's delivery, not the first notice's.
    entry = db.session.get(Case, order["id"]).form["deadlines"]["rectification_due"]
    assert (entry["status"], entry["letter_type"], entry["days"]) == ("awaiting_delivery", "rework_notice", 5)
    held = timer(order["id"], "rectification_deadline").fire_at
    run_timers_at(held + SECOND)  # undelivered: pushed out, not fired
    assert "public_criticism" not in sanctions_of(order["id"])
    deliver_letters(order["id"])
    db.session.expire_all()
    due = timer(order["id"], "rectification_deadline").fire_at
    assert db.session.get(Case, order["id"]).form["deadlines"]["rectification_due"]["status"] == "running"
    run_timers_at(due + SECOND)
    assert sanctions_of(order["id"])["public_criticism"] == "proposed"
