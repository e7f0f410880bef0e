"""Drive the four processes the way their users do (mostly through the JSON API) to the step a test needs.

The flows take `api`, the conftest fixture that signs a demo account in (`api("applicant1")`), and assert every
step answered as expected, so a test reads as the steps of the process it checks.
"""
from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.core import clock
from app.extensions import db
from app.models import Case, CreditRecord, ProcessInstance, Sanction, TimerJob, User
from app.services import applications, attachments, eligibility
from processes.objection_review import service as objections
from app.services.workflow.run import due_timer_ids, fire_timer
from config import Config
from tests.support.constants import T0
from tests.support.files import PDF_BYTES

TZ = ZoneInfo(Config.TIMEZONE)


# --- any process ----------------------------------------------------------------------------------------------

def do_task(api, username: str, case_id: int, bpmn_id: str, values: dict, expect: int = 200):
    """Claim and complete the case's open task bpmn_id as username; return the task's id."""
    client = api(username)
    items = client.get("/api/v1/tasks?scope=all").get_json()["items"]
    task = next(t for t in items if t["case_id"] == case_id and t["bpmn_id"] == bpmn_id)
    detail = client.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert {f["name"] for f in detail["fields"]} >= set(values)
    assert client.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json=values)
    assert response.status_code == expect, response.get_json()
    return task["id"]


def case_of(api, username, case_id) -> dict:
    return api(username).get(f"/api/v1/cases/{case_id}").get_json()


def run_timers_at(instant):
    """Move the clock to instant and fire every timer due by then; return how many fired."""
    clock.set_frozen(instant)
    fired = 0
    for job_id in due_timer_ids():
        fired += fire_timer(job_id)
    db.session.commit()
    return fired


def timer(case_id: int, bpmn_id: str) -> TimerJob:
    """The case's pending timer bpmn_id (None when there is none)."""
    instance_id = db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case_id))
    return db.session.scalar(select(TimerJob).where(TimerJob.instance_id == instance_id, TimerJob.bpmn_id == bpmn_id,
                                                    TimerJob.status == "pending"))


# --- objection_review ------------------------------------------------------------------------------------------

def own_record(username: str) -> CreditRecord:
    """The first published record of username's unit that verifier1's unit made."""
    user = db.session.scalar(select(User).where(User.username == username))
    verifier_unit = db.session.scalar(select(User.unit_id).where(User.username == "verifier1"))
    return db.session.scalars(
        select(CreditRecord).where(CreditRecord.subject_unit_id == user.unit_id,
                                   CreditRecord.recording_unit_id == verifier_unit,
                                   CreditRecord.status == "published").order_by(CreditRecord.id)
    ).first()


def file_objection(api, username="applicant1", record=None) -> dict:
    """File and submit an objection with both attachments; return the submitted case."""
    client = api(username)
    record = record or own_record(username)
    created = client.post("/api/v1/cases", json={"type": "objection", "record_id": record.id,
                                                 "reason": "wrong_content", "statement": "处罚决定已于2026年10月被撤销。"})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    for kind in ("evidence", "commitment"):
        r = client.post(f"/api/v1/cases/{case_id}/attachments",
                        data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), f"{kind}材料.pdf")},
                        content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
    submitted = client.post(f"/api/v1/cases/{case_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    return submitted.get_json()


def draft_objection(applicant: User, record: CreditRecord) -> Case:
    """An objection draft with both attachments, through the services (not submitted, not committed)."""
    case = objections.create_objection(applicant, record.id, "wrong_content", "处罚决定已于2026年10月被撤销。")
    attachments.store_attachment(applicant, case, "evidence", "e.pdf", PDF_BYTES)
    attachments.store_attachment(applicant, case, "commitment", "c.pdf", PDF_BYTES)
    return case


def submitted_objection(applicant: User, record: CreditRecord, reason: str = "decision_revoked",
                        statement: str = "认定文书已撤销。") -> Case:
    """An objection filed and submitted through the services, committed: its intake review is open."""
    case = objections.create_objection(applicant, record.id, reason, statement)
    attachments.store_attachment(applicant, case, "evidence", "撤销决定.pdf", PDF_BYTES)
    attachments.store_attachment(applicant, case, "commitment", "承诺书.pdf", PDF_BYTES)
    applications.submit_case(applicant, case.id)
    db.session.commit()
    return case


def extra_records(applicant: User, n: int) -> list[CreditRecord]:
    """Give the applicant's unit n more published records (copies with their own document numbers)."""
    verifier_unit = db.session.scalar(select(User.unit_id).where(User.username == "verifier1"))
    template = db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == applicant.unit_id, CreditRecord.recording_unit_id == verifier_unit,
        CreditRecord.status == "published").order_by(CreditRecord.id)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    records = [CreditRecord(**{**columns, "basis_doc_no": f"随财罚〔2026〕{700 + i}号"}) for i in range(n)]
    db.session.add_all(records)
    db.session.flush()
    return records


# --- rectification ---------------------------------------------------------------------------------------------

def unit_record(username="applicant1") -> CreditRecord:
    """The first record whose subject is username's unit itself (not a person in it)."""
    unit_id = db.session.scalar(select(User.unit_id).where(User.username == username))
    return db.session.scalars(select(CreditRecord).where(CreditRecord.subject_unit_id == unit_id,
                                                         CreditRecord.subject_type == "unit")).first()


def open_order(api, days=20, record=None, deliver=True) -> dict:
    """intake1 orders rectification on a record (applicant1's first unit record unless given); applicant1 opens the
    notice at once (deliver=False: it stays undelivered)."""
    record = record or unit_record()
    response = api("intake1").post("/api/v1/cases", json={"type": "rectification", "record_id": record.id,
                                                          "deadline_days": days, "requirements": "追回违规资金并完善采购内控制度"})
    assert response.status_code == 201, response.get_json()
    if deliver:
        # applicant1 opens the 限期整改通知书 at once: delivered on the issue day, its deadline runs (送达).
        deliver_letters(response.get_json()["id"])
        return case_of(api, "intake1", response.get_json()["id"])
    return response.get_json()


def deliver_letters(case_id: int, username: str = "applicant1") -> None:
    """The unit opens every letter of the case addressed to it that is not delivered yet (electronic 送达, now), so
    the deadlines they start run from now."""
    from app.models import Letter
    from app.services import delivery

    user = db.session.scalar(select(User).where(User.username == username))
    for letter in db.session.scalars(select(Letter).where(Letter.case_id == case_id, Letter.delivered_at.is_(None))
                                     .order_by(Letter.id)):
        delivery.opened(user, letter)
    db.session.commit()


def sanctions_of(case_id: int) -> dict[str, str]:
    """The status of each sanction the case created, by kind."""
    db.session.expire_all()
    return {s.kind: s.status for s in db.session.scalars(select(Sanction).where(Sanction.created_by_case_id == case_id))}


# --- credit_repair and honor_restoration -----------------------------------------------------------------------

def records_of(username: str, **where) -> list[CreditRecord]:
    """The records whose subject is username's unit, filtered by column values."""
    user = db.session.scalar(select(User).where(User.username == username))
    query = select(CreditRecord).where(CreditRecord.subject_unit_id == user.unit_id, CreditRecord.subject_type == "unit")
    for key, value in where.items():
        query = query.where(getattr(CreditRecord, key) == value)
    return list(db.session.scalars(query.order_by(CreditRecord.id)))


def repairable(username="applicant1") -> CreditRecord:
    """A published record of username's unit that may be repaired today (T0)."""
    today = T0.astimezone(TZ).date()
    return next(r for r in records_of(username) if r.earliest_repair_date <= today and r.status == "published"
                and eligibility.repair_verdict(r).eligible)


def file_repair(api, record: CreditRecord, username="applicant1") -> dict:
    """File and submit a credit repair of record with both attachments; return the submitted case."""
    client = api(username)
    created = client.post("/api/v1/cases", json={"type": "repair", "record_id": record.id,
                                                 "statement": "已全额支付拖欠款项，并完善了内控制度。"})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    for kind in ("evidence", "commitment"):
        r = client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                        data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), f"{kind}.pdf")})
        assert r.status_code == 201
    submitted = client.post(f"/api/v1/cases/{case_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    return submitted.get_json()


def overdue(api, case_id: int) -> None:
    """Let a rectification's deadline pass (its notice delivered; the 拟惩戒告知书 is issued and delivered at once;
    nothing is imposed)."""
    deliver_letters(case_id)
    run_timers_at(timer(case_id, "rectification_deadline").fire_at + timedelta(seconds=1))
    deliver_letters(case_id)


def decide_measures(api, case_id: int, outcome: str = "confirm", approval: str = "approve", statement: str | None = None):
    """After the overdue: the unit states its case (or lets the window pass), the office reviews, the approver decides."""
    deliver_letters(case_id)
    if statement is None:
        run_timers_at(timer(case_id, "statement_window").fire_at + timedelta(seconds=1))
    else:
        do_task(api, "applicant1", case_id, "state_case", {"statement": statement})
    do_task(api, "intake1", case_id, "review_statement", {"outcome": outcome, "reasons": "经审查，理由如下。"})
    values = {"measures_approval": approval} if approval == "approve" else {"measures_approval": approval, "comment": "不同意惩戒意见"}
    do_task(api, "approver1", case_id, "approve_measures", values)


def disqualify(api, record: CreditRecord) -> int:
    """Run a rectification past its deadline, decide 从轻 (取消荣誉评选资格 only, from the decision date), then accept
    the late report; return the disqualification's id."""
    order = open_order(api, days=3, record=record)
    overdue(api, order["id"])
    decide_measures(api, order["id"], outcome="lighten")
    do_task(api, "applicant1", order["id"], "submit_late", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", order["id"], "review_rectification", {"review": "accept", "opinion": "同意"})
    return db.session.scalar(select(Sanction.id).where(Sanction.kind == "honor_disqualification"))


def clear_other_serious(record: CreditRecord) -> None:
    """Test set-up: the unit's other serious records are revoked (so only this record stands)."""
    for other in db.session.scalars(select(CreditRecord).where(
            CreditRecord.subject_unit_id == record.subject_unit_id, CreditRecord.severity == "serious",
            CreditRecord.id != record.id)):
        other.status = "revoked"
    db.session.commit()
