"""Issue 13 for objections: the recording unit's answer binds the office (谁认定、谁更正) on every record, an
objection can correct every field, the 异议中 flag runs from receipt, and the letters say what they decide."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core import clock
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.engine.definitions import deploy_directory
from app.extensions import db
from app.models import (AuditEvent, Case, CaseEvent, CreditRecord, HumanTask, Letter, ProcessDefinition,
                        ProcessInstance, RecordHistory, TimerJob)
from app.services import calendar, delivery, publication, rules, workflow
from app.services.workflow.run import due_timer_ids, fire_timer
from processes.objection_review import service
from tests.support.constants import PROCESSES
from tests.support.flows import own_record, submitted_objection, timer

NO_ERROR = {"verify_choice": "no_error", "opinion": "经核查，记录无误"}
CANNOT = {"verify_choice": "cannot_confirm", "opinion": "原始材料缺失，无法确认"}
REVOKE = {"verify_choice": "error_confirmed", "opinion": "认定文书已撤销", "proposal": "revoke"}
CORRECT = {"verify_choice": "error_confirmed", "opinion": "失信程度认定有误", "proposal": "correct",
           "corrected_severity": "serious"}
ANSWERS = {"no_error": NO_ERROR, "cannot_confirm": CANNOT, "revoke": REVOKE, "correct": CORRECT}
DECISIONS = ("correct", "revoke", "maintain", "annotate")
ALLOWED = {"no_error": {"maintain"}, "cannot_confirm": {"annotate"}, "revoke": {"revoke"}, "correct": {"correct"}}


def _open(case: Case) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))


def _text(case: Case, letter_type: str) -> str:
    letter = db.session.scalar(select(Letter).where(Letter.case_id == case.id, Letter.type == letter_type))
    return "".join(letter.data["paragraphs"])


def _letter(case: Case, letter_type: str) -> Letter:
    return db.session.scalar(select(Letter).where(Letter.case_id == case.id, Letter.type == letter_type))


def _accepted(users, record: CreditRecord | None = None) -> Case:
    case = submitted_objection(users["applicant1"], record or own_record("applicant1"))
    workflow.complete_task(users["intake1"], _open(case).id, {"intake_choice": "accept"})
    db.session.commit()
    return case


def _verified(users, values: dict, record: CreditRecord | None = None) -> Case:
    case = _accepted(users, record)
    workflow.complete_task(users["verifier1"], _open(case).id, values)
    db.session.commit()
    return case


def _decide(users, case: Case, decision: str, reasons: str = "依照认定单位的核查结论办理") -> None:
    workflow.complete_task(users["intake1"], _open(case).id, {"decision": decision, "reasons": reasons})
    workflow.complete_task(users["approver1"], _open(case).id, {"approval": "approve"})
    db.session.commit()


# --- 谁认定、谁更正: each answer × each decision, at 拟定 and at 审批 ------------------------------------------------

@pytest.mark.parametrize("answer,decision", [(a, d) for a in ANSWERS for d in DECISIONS])
def test_drafting_follows_the_answer(recorded_staff, answer, decision):
    case = _verified(recorded_staff, ANSWERS[answer])
    task = _open(case)
    assert service.binding_decisions(case) == ALLOWED[answer]
    if decision in ALLOWED[answer]:
        workflow.complete_task(recorded_staff["intake1"], task.id, {"decision": decision, "reasons": "依照核查结论"})
        db.session.commit()
        assert _open(case).bpmn_id == "approve_decision"
        return
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["intake1"], task.id, {"decision": decision, "reasons": "本办另行决定"})
    assert refused.value.code == "verifier_answer_binds"
    assert refused.value.fields == {"decision": "须依照认定单位的核查结论"}
    assert service.ANSWER_TEXT[ANSWERS[answer]["verify_choice"]] in refused.value.message
    db.session.rollback()
    assert _open(case).id == task.id  # nothing moved


@pytest.mark.parametrize("answer,decision", [(a, d) for a in ANSWERS for d in DECISIONS])
def test_approval_follows_the_answer(recorded_staff, answer, decision):
    # A draft made before the answer bound the office (an old case's draft, written here into its history): the
    # approver cannot sign what the answer does not allow, and may return it.
    case = _verified(recorded_staff, ANSWERS[answer])
    allowed = sorted(ALLOWED[answer])[0]
    workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"decision": allowed, "reasons": "依照核查结论"})
    db.session.commit()
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.step == "draft_decision",
                                                      CaseEvent.action == "task_completed"))
    event.details = {"values": {"decision": decision, "reasons": "旧草稿"}}
    db.session.commit()
    task = _open(case)
    if decision in ALLOWED[answer]:
        workflow.complete_task(recorded_staff["approver1"], task.id, {"approval": "approve"})
        db.session.commit()
        assert db.session.get(Case, case.id).status == "closed"
        return
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["approver1"], task.id, {"approval": "approve"})
    assert refused.value.code == "verifier_answer_binds"
    db.session.rollback()
    workflow.complete_task(recorded_staff["approver1"], task.id, {"approval": "return", "comment": "须依照核查结论"})
    db.session.commit()
    assert _open(case).bpmn_id == "draft_decision"


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_the_drafting_form_offers_only_what_the_answer_leaves(api, web, recorded_staff, answer):
    case = _verified(recorded_staff, ANSWERS[answer])
    detail = api("intake1").get(f"/api/v1/tasks/{_open(case).id}").get_json()
    choices = next(f["choices"] for f in detail["fields"] if f["name"] == "decision")
    assert {c["value"] for c in choices} == ALLOWED[answer]
    page = web("intake1").get(f"/tasks/{_open(case).id}").get_data(as_text=True)
    offered = {value for value in DECISIONS if f'value="{value}"' in page}
    assert offered == ALLOWED[answer]


def test_the_unconfirmed_choice_is_rule_set_data(recorded_staff):
    case = _verified(recorded_staff, CANNOT)
    case.rule_set.policy = {"objection_unconfirmed": ["annotate", "maintain"]}
    db.session.commit()
    assert service.binding_decisions(case) == {"annotate", "maintain"}
    assert rules.DEFAULT_POLICY["objection_unconfirmed"] == ["annotate"]


@pytest.mark.parametrize("values,code,field", [
    ({"verify_choice": "error_confirmed", "opinion": "有误"}, "proposal_required", "proposal"),
    ({"verify_choice": "error_confirmed", "opinion": "有误", "proposal": "correct"}, "correction_required",
     "corrected_facts"),
    ({"verify_choice": "error_confirmed", "opinion": "有误", "proposal": "correct", "corrected_severity": "general"},
     "correction_required", "corrected_facts"),  # the same value as now is no correction
    ({"verify_choice": "error_confirmed", "opinion": "有误", "proposal": "correct",
      "corrected_basis_date": "2026/05/01"}, None, "corrected_basis_date"),
    ({"verify_choice": "error_confirmed", "opinion": "有误", "proposal": "correct",
      "corrected_basis_date": "2027-01-01"}, None, "corrected_basis_date"),  # in the future
])
def test_a_confirmed_error_says_what_to_do(recorded_staff, values, code, field):
    case = _accepted(recorded_staff)
    task = _open(case)
    with pytest.raises(Invalid) as refused:
        workflow.complete_task(recorded_staff["verifier1"], task.id, values)
    assert field in refused.value.fields and (code is None or refused.value.code == code)
    db.session.rollback()
    assert _open(case).id == task.id


# --- every field can be corrected ---------------------------------------------------------------------------------

@pytest.mark.parametrize("given,field,value,phrase", [
    ({"corrected_facts": "更正后的失信事实"}, "facts", "更正后的失信事实", "失信事实更正为：更正后的失信事实"),
    ({"corrected_basis_doc_no": "随测罚〔2026〕900号"}, "basis_doc_no", "随测罚〔2026〕900号",
     "认定文书号由“"),
    ({"corrected_basis_date": "2026-03-01"}, "basis_date", date(2026, 3, 1),
     "认定文书日期由“2026年5月1日”更正为“2026年3月1日”"),
    ({"corrected_category": "breach"}, "category", "breach", "失信类别由“行政处罚”更正为“政务违约”"),
    ({"corrected_severity": "serious"}, "severity", "serious", "失信程度由“一般”更正为“严重”"),
    ({"corrected_legal_basis": "《政府采购法》第七十一条"}, "legal_basis", "《政府采购法》第七十一条",
     "认定依据更正为：《政府采购法》第七十一条"),
])
def test_every_field_can_be_corrected(recorded_staff, given, field, value, phrase):
    record = own_record("applicant1")
    before = {f: getattr(record, f) for f in ("facts", "basis_doc_no", "category", "severity", "legal_basis",
                                              "earliest_repair_date", "auto_end_date", "basis_date")}
    case = _verified(recorded_staff, {"verify_choice": "error_confirmed", "opinion": "有误", "proposal": "correct",
                                      **given})
    _decide(recorded_staff, case, "correct")
    record = db.session.get(CreditRecord, record.id)
    assert record.status == "corrected" and getattr(record, field) == value
    # The inbox filters read the record's facts copied onto the case's tasks: the 更正 carried them along.
    copied = set(db.session.execute(select(HumanTask.category, HumanTask.severity).where(HumanTask.case_id == case.id)))
    assert copied == {(record.category, record.severity)}
    for other, old in before.items():  # unchanged fields are left (the dates move only with date or severity)
        if other != field and other not in ("earliest_repair_date", "auto_end_date"):
            assert getattr(record, other) == old
    history = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id,
                                                             RecordHistory.to_status == "corrected")).one()
    assert field in history.changes
    recomputed = rules.publication_dates(record.rule_set, record.severity, record.basis_date)
    assert (record.earliest_repair_date, record.auto_end_date) == recomputed
    moved = field in ("severity", "basis_date")
    assert ("auto_end_date" in history.changes) is moved and (record.auto_end_date != before["auto_end_date"]) is moved
    text = _text(case, "objection_decision")
    assert "更正后：" in text and phrase in text
    assert ("公示截止日期相应调整为" in text) is moved


def test_several_fields_at_once(recorded_staff):
    case = _verified(recorded_staff, {**CORRECT, "corrected_basis_date": "2026-04-15", "corrected_facts": "新事实"})
    _decide(recorded_staff, case, "correct")
    record = db.session.get(Case, case.id).record
    assert (record.severity, record.basis_date, record.facts) == ("serious", date(2026, 4, 15), "新事实")
    assert record.auto_end_date == rules.publication_dates(record.rule_set, "serious", date(2026, 4, 15))[1]
    text = _text(case, "objection_decision")
    assert "失信程度由“一般”更正为“严重”" in text and "认定文书日期由“2026年5月1日”更正为“2026年4月15日”" in text


# --- 异议中 from receipt ------------------------------------------------------------------------------------------------

def test_the_record_is_flagged_at_receipt(recorded_staff):
    record = own_record("applicant1")
    case = submitted_objection(recorded_staff["applicant1"], record)
    assert _open(case).bpmn_id == "intake_review"
    assert db.session.get(CreditRecord, record.id).status == "disputed"
    row = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id)).all()[-1]
    assert row.to_status == "disputed" and row.case_id == case.id and row.at == case.submitted_at
    assert "收到异议申请" in row.reason


@pytest.mark.parametrize("before", ["published", "corrected"])
def test_a_refusal_removes_the_flag(recorded_staff, before):
    record = own_record("applicant1")
    record.status = before
    db.session.commit()
    case = submitted_objection(recorded_staff["applicant1"], record)
    workflow.complete_task(recorded_staff["intake1"], _open(case).id,
                           {"intake_choice": "reject", "reason": "异议事项不属于本办受理范围"})
    db.session.commit()
    assert db.session.get(CreditRecord, record.id).status == before


def test_a_deemed_withdrawal_removes_the_flag(recorded_staff):
    record = own_record("applicant1")
    case = submitted_objection(recorded_staff["applicant1"], record)
    workflow.complete_task(recorded_staff["intake1"], _open(case).id,
                           {"intake_choice": "request_supplement", "supplement_items": "撤销决定书", "reason": "材料不全"})
    db.session.commit()
    assert db.session.get(CreditRecord, record.id).status == "disputed"
    clock.set_frozen(clock.now() + timedelta(days=30))
    for job_id in due_timer_ids():
        fire_timer(job_id)
    db.session.commit()
    # Undelivered, the 补正 deadline has not begun (未送达，期限未起算): nothing is withdrawn yet.
    assert db.session.get(Case, case.id).status == "supplement"
    delivery.opened(recorded_staff["applicant1"], _letter(case, "supplement_notice"))  # the applicant opens it
    db.session.commit()
    clock.set_frozen(clock.now() + timedelta(days=30))
    for job_id in due_timer_ids():
        fire_timer(job_id)
    db.session.commit()
    case = db.session.get(Case, case.id)
    assert case.status == "withdrawn" and case.record.status == "published"
    text = _text(case, "withdrawn_notice")
    assert "视为你单位撤回该异议申请" in text and "撤销决定书" in text and "“异议中”标注同时撤销" in text
    assert text.endswith(_text_challenge(case))


def _text_challenge(case: Case) -> str:
    from app.services.letters import challenge_sentence

    return challenge_sentence(case)


def test_a_disputed_record_still_ends_at_its_maximum_period(recorded_staff):
    record = own_record("applicant1")
    case = _verified(recorded_staff, CORRECT, record)
    record = db.session.get(CreditRecord, record.id)
    assert record.status == "disputed"
    assert publication.expire_records(record.auto_end_date) == 0  # not yet: the day itself counts
    assert publication.expire_records(record.auto_end_date + timedelta(days=1)) == 1
    db.session.commit()
    assert db.session.get(CreditRecord, record.id).status == "expired"
    _decide(recorded_staff, case, "correct")  # the objection is still decided, and recorded in the history
    record = db.session.get(CreditRecord, record.id)
    assert record.status == "expired" and record.severity == "serious"
    row = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id)).all()[-1]
    assert row.action == "objection_decided" and "severity" in row.changes
    assert db.session.get(Case, case.id).status == "closed"


# --- letters ------------------------------------------------------------------------------------------------------

def test_the_acceptance_notice_prints_the_query_code_and_the_day_counts(recorded_staff):
    case = _accepted(recorded_staff)
    text = _text(case, "acceptance_notice")
    verify = rules.time_limit(case.rule_set, "objection_verify")
    decide = rules.time_limit(case.rule_set, "objection_draft") + rules.time_limit(case.rule_set, "objection_approve")
    assert case.query_code and f"查询码（{case.query_code}）" in text
    assert f"在{verify}个工作日内完成核查" in text and f"在{decide}个工作日内依照认定单位的核查结论" in text
    assert _letter(case, "acceptance_notice").data["cc"] == [case.record.recording_unit.name]


def test_the_rejection_says_why_and_how_to_challenge(recorded_staff):
    case = submitted_objection(recorded_staff["applicant1"], own_record("applicant1"))
    workflow.complete_task(recorded_staff["intake1"], _open(case).id,
                           {"intake_choice": "reject", "reason": "异议事项不属于本办受理范围。"})
    db.session.commit()
    text = _text(case, "rejection_notice")
    assert "经审查，异议事项不属于本办受理范围，不符合" in text and "国发〔2016〕76号" in text
    assert text.endswith(_text_challenge(case)) and "本办决定不予受理" in text


@pytest.mark.parametrize("answer,decision,words", [
    ("correct", "correct", "本办将同步推送至信用中国（湖北）平台"),
    ("revoke", "revoke", "本办将同步通知信用中国（湖北）平台撤回该条记录"),
    ("no_error", "maintain", "本办将同步推送处理结果"),
    ("cannot_confirm", "annotate", "记载你单位的异议情况"),
])
def test_the_decision_states_basis_challenge_and_no_push_claim(recorded_staff, answer, decision, words):
    case = _verified(recorded_staff, ANSWERS[answer])
    _decide(recorded_staff, case, decision)
    letter = _letter(case, "objection_decision")
    text = _text(case, "objection_decision")
    assert words in text and "已推送" not in text
    assert f"核查结论为：{service.ANSWER_TEXT[ANSWERS[answer]['verify_choice']]}" in text
    assert "国发〔2016〕76号" in text and "鄂政发〔2017〕33号" in text and "随信用办〔2017〕9号" in text
    assert text.endswith(_text_challenge(case))
    assert letter.data["cc"] == [case.record.recording_unit.name]
    assert ("更正后：" in text) is (decision == "correct")


def test_the_supplement_notice_lists_what_to_supply_once(recorded_staff):
    case = submitted_objection(recorded_staff["applicant1"], own_record("applicant1"))
    workflow.complete_task(recorded_staff["intake1"], _open(case).id,
                           {"intake_choice": "request_supplement", "supplement_items": "撤销决定书原件扫描件",
                            "reason": "证据材料不清晰"})
    db.session.commit()
    letter = _letter(case, "supplement_notice")
    text = "".join(letter.data["paragraphs"])
    days = rules.time_limit(case.rule_set, "supplement")
    assert "撤销决定书原件扫描件" in text and "证据材料不清晰" in text
    assert f"请自本通知送达之日起{days}个工作日内" in text and "最后一日为2026年12月4日（含）" in text
    assert "逾期未补正的，视为撤回申请" in text
    assert case.query_code in text
    workflow.complete_task(recorded_staff["applicant1"], _open(case).id, {"statement": "已补正"})
    db.session.commit()
    task = _open(case)
    with pytest.raises(Conflict) as refused:
        workflow.complete_task(recorded_staff["intake1"], task.id,
                               {"intake_choice": "request_supplement", "supplement_items": "再补", "reason": "仍不全"})
    assert refused.value.code == "supplement_once"
    db.session.rollback()
    assert _open(case).id == task.id
    assert db.session.scalars(select(Letter.type).where(Letter.case_id == case.id)).all() == ["supplement_notice"]


def test_the_supplement_letters_are_declared_for_both_applications():
    from app.services.applications import SUPPLEMENT_LETTERS
    from processes.objection_review.letters import LETTERS

    assert LETTERS["supplement_notice"] is SUPPLEMENT_LETTERS["supplement_notice"]
    assert SUPPLEMENT_LETTERS["withdrawn_notice"].decides and not SUPPLEMENT_LETTERS["supplement_notice"].decides
    assert set(SUPPLEMENT_LETTERS["supplement_notice"].starts) == {"supplement_due"}
    assert all(LETTERS[name].decides for name in ("rejection_notice", "objection_decision"))


# --- the verifier's one extension of 核查 ---------------------------------------------------------------------------

def _verify_timer(case: Case) -> TimerJob:
    return timer(case.id, "verify_overdue")


def test_the_extension_is_asked_once_and_approved_by_the_office(recorded_staff):
    case = _accepted(recorded_staff)
    task = _open(case)
    before_timer, before_task = _verify_timer(case).fire_at, task.due_at
    service.request_verify_extension(recorded_staff["verifier1"], task.id, "需调取档案原件核对")
    db.session.commit()
    assert service.extension_state(case) == "requested"
    service.decide_verify_extension(recorded_staff["intake1"], case.id, True, "同意")
    db.session.commit()
    days = rules.time_limit(case.rule_set, "objection_verify_extension")
    expected = calendar.deadline(before_task, days).due
    assert days == 5 and _verify_timer(case).fire_at == expected and _verify_timer(case).fire_at > before_timer
    assert db.session.get(HumanTask, task.id).due_at == expected
    actions = db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)).all()
    assert "verify_extension_requested" in actions and "verify_extension_approved" in actions
    assert "deadline_moved" in actions
    audited = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(case.id))).all()
    assert {"objection.extension_requested", "objection.extension_decided"} <= set(audited)
    with pytest.raises(Conflict) as again:
        service.request_verify_extension(recorded_staff["verifier1"], task.id, "仍需时间")
    assert again.value.code == "extension_once" and "只能延长一次" in again.value.message
    db.session.rollback()


def test_a_refused_extension_moves_nothing_and_is_not_asked_again(recorded_staff):
    case = _accepted(recorded_staff)
    task = _open(case)
    before = _verify_timer(case).fire_at
    service.request_verify_extension(recorded_staff["verifier1"], task.id, "人手不足")
    db.session.commit()
    with pytest.raises(Invalid):  # a refusal says why
        service.decide_verify_extension(recorded_staff["intake1"], case.id, False, "")
    db.session.rollback()
    service.decide_verify_extension(recorded_staff["intake1"], case.id, False, "理由不充分")
    db.session.commit()
    assert _verify_timer(case).fire_at == before and service.extension_state(case) == "refused"
    with pytest.raises(Conflict, match="只能延长一次"):
        service.request_verify_extension(recorded_staff["verifier1"], task.id, "再次申请")
    db.session.rollback()
    with pytest.raises(Conflict) as nothing:
        service.decide_verify_extension(recorded_staff["intake1"], case.id, True, "")
    assert nothing.value.code == "no_extension_request"
    db.session.rollback()


@pytest.mark.parametrize("who,step", [("intake1", "request"), ("approver1", "request"),
                                      ("verifier1", "decide"), ("applicant1", "decide")])
def test_the_extension_by_a_wrong_role_is_refused(recorded_staff, who, step):
    case = _accepted(recorded_staff)
    task = _open(case)
    if step == "decide":
        service.request_verify_extension(recorded_staff["verifier1"], task.id, "需调取档案")
        db.session.commit()
    with pytest.raises((Forbidden, NotFound)):
        if step == "request":
            service.request_verify_extension(recorded_staff[who], task.id, "需调取档案")
        else:
            service.decide_verify_extension(recorded_staff[who], case.id, True, "同意")
    db.session.rollback()
    assert service.extension_state(case) == (None if step == "request" else "requested")


def test_the_extension_is_asked_only_while_verifying(recorded_staff):
    case = _accepted(recorded_staff)
    task_id = _open(case).id
    workflow.complete_task(recorded_staff["verifier1"], task_id, NO_ERROR)
    db.session.commit()
    with pytest.raises(Conflict) as done:
        service.request_verify_extension(recorded_staff["verifier1"], task_id, "需调取档案")
    assert done.value.code == "not_verification"
    db.session.rollback()
    assert service.extension_state(case) is None


# --- old cases keep running on their version ----------------------------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "objection_review_v1.bpmn"


def _deploy(tmp_path, name: str, xml: bytes) -> ProcessDefinition:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "objection_review.bpmn").write_bytes(xml)
    [(row, created)] = deploy_directory(folder)
    assert created
    db.session.commit()
    return row


@pytest.mark.parametrize("path", ["decided", "rejected"])
def test_a_case_started_on_the_old_version_runs_to_its_end(recorded_staff, tmp_path, path):
    old = _deploy(tmp_path, "v1", FIXTURE.read_bytes())
    record = own_record("applicant1")
    case = submitted_objection(recorded_staff["applicant1"], record)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert instance.definition_id == old.id
    assert db.session.get(CreditRecord, record.id).status == "published"  # the old diagram flags at acceptance
    current = (PROCESSES / "objection_review" / "objection_review.bpmn").read_bytes()
    new = _deploy(tmp_path, "v3", current + b"\n<!-- redeployed -->\n")
    assert new.version > old.version
    if path == "rejected":
        workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"intake_choice": "reject", "reason": "不属于"})
        db.session.commit()
        case = db.session.get(Case, case.id)
        assert case.status == "rejected" and case.record.status == "published"
        assert "国发〔2016〕76号" in _text(case, "rejection_notice")
        return
    workflow.complete_task(recorded_staff["intake1"], _open(case).id, {"intake_choice": "accept"})
    db.session.commit()
    assert db.session.get(CreditRecord, record.id).status == "disputed"  # flag_disputed still works
    workflow.complete_task(recorded_staff["verifier1"], _open(case).id, CORRECT)
    _decide(recorded_staff, case, "correct")
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "correct" and case.record.severity == "serious"
    assert "失信程度由“一般”更正为“严重”" in _text(case, "objection_decision")
    assert db.session.get(ProcessInstance, instance.id).definition_id == old.id
