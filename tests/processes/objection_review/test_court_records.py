"""Court records (issue 12 §4): an objection to a judicial record goes to the court, and the office's decision follows
the court's answer given in the 核查 step — it cannot choose otherwise, and the letter says the court decided."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.errors import Invalid
from app.extensions import db
from app.models import Case, CreditRecord, HumanTask, Letter
from app.services import workflow
from processes.objection_review import service
from tests.support.flows import own_record, submitted_objection

COURT = "随州市中级人民法院"
ANSWERS = {
    "error_confirmed": {"verify_choice": "error_confirmed", "opinion": "本院已裁定撤销该失信决定",
                        "proposal": "revoke"},
    "no_error": {"verify_choice": "no_error", "opinion": "经本院审查，该记录无误"},
}


def _open(case: Case) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))


def _judicial(record: CreditRecord) -> CreditRecord:
    record.category, record.judicial = "judgment", True
    record.recording_unit.name = COURT
    db.session.commit()
    return record


def _verified(users, answer: str, *, judicial: bool = True) -> Case:
    """An objection accepted and answered by the recording unit (the court, for a judicial record)."""
    record = own_record("applicant1")
    if judicial:
        _judicial(record)
    case = submitted_objection(users["applicant1"], record)
    workflow.complete_task(users["intake1"], _open(case).id, {"intake_choice": "accept"})
    values = ANSWERS.get(answer, {"verify_choice": answer, "opinion": "无法确认"})
    workflow.complete_task(users["verifier1"], _open(case).id, values)
    db.session.commit()
    return case


def _decide(users, case: Case, decision: str) -> None:
    workflow.complete_task(users["intake1"], _open(case).id, {"decision": decision, "reasons": "依据核查意见办理"})
    workflow.complete_task(users["approver1"], _open(case).id, {"approval": "approve"})
    db.session.commit()


@pytest.mark.parametrize("answer,decision,allowed", [
    ("error_confirmed", "correct", True),
    ("error_confirmed", "revoke", True),
    ("error_confirmed", "maintain", False),
    ("error_confirmed", "annotate", False),
    ("no_error", "maintain", True),
    ("no_error", "correct", False),
    ("no_error", "revoke", False),
    ("no_error", "annotate", False),
])
def test_the_office_follows_the_courts_answer(recorded_staff, answer, decision, allowed):
    case = _verified(recorded_staff, answer)
    task = _open(case)
    assert service.binding_decisions(case) == set(service.BINDING_ANSWERS[answer])
    if allowed:
        workflow.complete_task(recorded_staff["intake1"], task.id, {"decision": decision, "reasons": "依照答复"})
        db.session.commit()
        assert _open(case).bpmn_id == "approve_decision"
        return
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["intake1"], task.id, {"decision": decision, "reasons": "本办另行决定"})
    assert refused.value.code == "court_answer_binds" and refused.value.fields == {"decision": "须依照法院的审查答复"}
    assert COURT in refused.value.message and "只能为" in refused.value.message
    db.session.rollback()
    assert _open(case).id == task.id  # nothing moved


def test_the_court_answers_one_way_or_the_other(recorded_staff):
    record = _judicial(own_record("applicant1"))
    case = submitted_objection(recorded_staff["applicant1"], record)
    workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"intake_choice": "accept"})
    db.session.commit()
    task = _open(case)
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["verifier1"], task.id, {"verify_choice": "cannot_confirm", "opinion": "?"})
    assert refused.value.code == "court_must_answer"
    db.session.rollback()
    assert _open(case).id == task.id


def test_approval_of_a_decision_against_the_answer_is_refused(recorded_staff):
    # Drafted while the record was not yet known as the court's (annotate was open then); the approver is held too.
    case = _verified(recorded_staff, "cannot_confirm", judicial=False)
    workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"decision": "annotate", "reasons": "无法确认"})
    db.session.commit()
    _judicial(case.record)
    task = _open(case)
    with pytest.raises(Invalid, match="只能依照法院的审查答复处理"):
        workflow.complete_task(recorded_staff["approver1"], task.id, {"approval": "approve"})
    db.session.rollback()
    workflow.complete_task(recorded_staff["approver1"], task.id, {"approval": "return", "comment": "须依照法院答复"})
    db.session.commit()
    assert _open(case).bpmn_id == "draft_decision"


@pytest.mark.parametrize("answer,decision,status,effect", [
    ("error_confirmed", "revoke", "revoked", "根据随州市中级人民法院的审查答复，撤销该条政务失信记录"),
    ("no_error", "maintain", "published", "根据随州市中级人民法院的审查答复，维持该条政务失信记录"),
])
def test_the_letter_says_the_court_decided(recorded_staff, answer, decision, status, effect):
    case = _verified(recorded_staff, answer)
    _decide(recorded_staff, case, decision)
    case = db.session.get(Case, case.id)
    assert case.record.status == status and case.outcome == decision
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case.id, Letter.type == "objection_decision"))
    text = "".join(letter.data["paragraphs"])
    assert f"本办已将异议转{COURT}审查。经{COURT}审查答复：{service.ANSWER_TEXT[answer]}。" in text
    assert ANSWERS[answer]["opinion"] in text and effect in text
    assert "本办研究" not in text and "上一级人民法院" in text


def test_a_record_not_made_by_a_court_follows_its_recording_unit(recorded_staff):
    # 谁认定、谁更正 (issue 13 §1): the recording unit's answer binds every record; its letter speaks of its 核查.
    case = _verified(recorded_staff, "cannot_confirm", judicial=False)
    assert service.binding_decisions(case) == {"annotate"} and service.court_answer(case)["court"] == ""
    _decide(recorded_staff, case, "annotate")
    case = db.session.get(Case, case.id)
    assert case.outcome == "annotate"
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case.id, Letter.type == "objection_decision"))
    text = "".join(letter.data["paragraphs"])
    assert "核查结论为：无法确认" in text and "根据认定单位的核查结论" in text
    assert "审查答复" not in text and "上一级人民法院" not in text


@pytest.mark.parametrize("answer,decision", [("no_error", "revoke"), ("error_confirmed", "maintain")])
def test_a_non_judicial_record_cannot_be_decided_against_the_answer(recorded_staff, answer, decision):
    case = _verified(recorded_staff, answer, judicial=False)
    task = _open(case)
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["intake1"], task.id, {"decision": decision, "reasons": "本办决定"})
    assert refused.value.code == "verifier_answer_binds" and "谁认定、谁更正" in refused.value.message
    db.session.rollback()
    assert _open(case).id == task.id


@pytest.mark.parametrize("judicial", [True, False])
def test_the_drafting_page_says_when_the_courts_answer_binds(web, recorded_staff, judicial):
    case = _verified(recorded_staff, "no_error", judicial=judicial)
    page = web("intake1").get(f"/tasks/{_open(case).id}").get_data(as_text=True)
    assert ("处理意见须依照法院在核查环节的审查答复" in page) is judicial
    assert ("处理意见须依照认定单位" in page) is not judicial
