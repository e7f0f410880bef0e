"""credit_repair decides lawfully (issue 13 §1, §3, §5, §6): the recording unit's opinion binds the approval, every
outcome has its letter, the repair lifts the measures resting on its record alone, the bar needs a basis, the
transition reading and the whole-case limit are recorded."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.core import clock
from app.extensions import db
from app.models import Case, CaseEvent, CreditRecord, HumanTask, Letter, Notification, Sanction
from app.services import calendar, delivery, eligibility, rules
from config import Config
from processes.credit_repair import service as repair
from tests.support.flows import (case_of, deliver_letters, do_task, file_repair, open_order, records_of,
                                 repairable, run_timers_at, timer)

TZ = ZoneInfo(Config.TIMEZONE)


def _letters(case_id: int) -> list[Letter]:
    return list(db.session.scalars(select(Letter).where(Letter.case_id == case_id).order_by(Letter.id)))


def _text(letter: Letter) -> str:
    return "".join(letter.data["paragraphs"])


def _accepted(api, record=None) -> dict:
    case = file_repair(api, record or repairable())
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    return case


def _open_steps(case_id: int) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(HumanTask.bpmn_id).where(HumanTask.case_id == case_id,
                                                                     HumanTask.status == "open")))


# --- 谁认定、谁修复: opinion × decision ---------------------------------------------------------

OPINION_DECISION = [
    # (opinion, decision) -> (HTTP status, case status, outcome, open steps, letter titles)
    ("agree", "approve", 200, "closed", "repaired", [], ["修复受理通知书", "信用修复决定书"]),
    ("agree", "refuse", 200, "closed", "refused", [], ["修复受理通知书", "不予修复决定书"]),
    ("agree", "return_applicant", 422, "in_progress", None, ["approve_repair"], ["修复受理通知书"]),
    ("agree", "return_verifier", 422, "in_progress", None, ["approve_repair"], ["修复受理通知书"]),
    ("disagree", "approve", 422, "in_progress", None, ["approve_repair"], ["修复受理通知书"]),
    ("disagree", "refuse", 200, "closed", "refused", [], ["修复受理通知书", "不予修复决定书"]),
    ("disagree", "return_applicant", 200, "supplement", None, ["more_materials"], ["修复受理通知书", "补充材料通知书"]),
    ("disagree", "return_verifier", 200, "in_progress", None, ["verify_repair"], ["修复受理通知书"]),
]


@pytest.mark.parametrize("opinion, decision, http, status, outcome, steps, titles", OPINION_DECISION)
def test_the_opinion_binds_the_approval(api, recorded_staff, opinion, decision, http, status, outcome, steps, titles):
    record = repairable()
    case = _accepted(api, record)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": opinion, "opinion": "意见说明。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": decision, "reasons": "缴款凭证原件。"},
            expect=http)
    db.session.expire_all()
    row = db.session.get(Case, case["id"])
    assert (row.status, row.outcome) == (status, outcome)
    assert _open_steps(case["id"]) == steps
    assert [l.title for l in _letters(case["id"])] == titles
    assert db.session.get(CreditRecord, record.id).status == ("repaired" if outcome == "repaired" else "published")


def test_a_refused_approval_names_the_opinion(api, recorded_staff):
    case = _accepted(api)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "尚未履行。"})
    client = api("approver1")
    task = next(t for t in client.get("/api/v1/tasks?scope=all").get_json()["items"] if t["case_id"] == case["id"])
    client.post(f"/api/v1/tasks/{task['id']}/claim")
    body = client.post(f"/api/v1/tasks/{task['id']}/complete",
                       json={"repair_decision": "approve", "reasons": "符合条件。"}).get_json()["error"]
    assert body["code"] == "decision_against_opinion" and "不同意" in body["message"]
    assert repair.allowed_decisions(db.session.get(Case, case["id"])) == ("refuse", "return_applicant", "return_verifier")


def test_return_to_the_applicant_and_back_to_the_verifier(api, recorded_staff):
    case = _accepted(api)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "缺缴款凭证。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "return_applicant",
                                                             "reasons": "法院出具的执行完毕证明。"})
    notice = _letters(case["id"])[-1]
    assert "法院出具的执行完毕证明。" in _text(notice) and "自本通知送达之日起5个工作日内" in _text(notice)
    assert notice.title == "补充材料通知书"
    do_task(api, "applicant1", case["id"], "more_materials", {"statement": "已补充执行完毕证明。"})
    assert _open_steps(case["id"]) == ["verify_repair"] and db.session.get(Case, case["id"]).status == "in_progress"
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "已履行。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合条件。"})
    assert case_of(api, "applicant1", case["id"])["outcome"] == "repaired"


def test_more_materials_not_supplied_is_withdrawn_with_a_letter(api, recorded_staff):
    case = _accepted(api)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "缺材料。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "return_applicant", "reasons": "凭证。"})
    # The 补充 deadline runs from the notice's delivery (the office enters it).
    delivery.record_office_delivery(recorded_staff["intake1"], _letters(case["id"])[-1], day=clock.local_today(),
                                    method="direct")
    db.session.commit()
    run_timers_at(timer(case["id"], "more_timeout").fire_at + timedelta(seconds=1))
    row = db.session.get(Case, case["id"])
    assert (row.status, row.outcome) == ("withdrawn", "supplement_overdue")
    letter = _letters(case["id"])[-1]
    assert letter.title == "视为撤回告知书" and "视为撤回" in _text(letter)
    assert letter.data["paragraphs"][-1] == _challenge(row)


def test_supplement_not_supplied_at_intake_is_withdrawn_with_a_letter(api, recorded_staff):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], "intake_review",
            {"intake_choice": "request_supplement", "supplement_items": "缴款凭证", "reason": "缺少凭证"})
    assert [l.title for l in _letters(case["id"])][-1] == "补正通知书"
    deliver_letters(case["id"])  # the 补正 deadline runs from the 补正通知书's delivery
    run_timers_at(timer(case["id"], "supplement_timeout").fire_at + timedelta(seconds=1))
    assert [l.title for l in _letters(case["id"])][-1] == "视为撤回告知书"


def _challenge(case: Case) -> str:
    from app.services.letters import challenge_sentence
    return challenge_sentence(case)


def _copy(record: CreditRecord, *, days: int) -> CreditRecord:
    """Another record of the same unit and category, `days` later (set-up)."""
    other = CreditRecord(**{c.name: getattr(record, c.name) for c in CreditRecord.__table__.columns
                            if c.name not in ("id", "subject_key", "basis_doc_no", "basis_date")},
                         basis_doc_no=f"另案〔2026〕{days}号", basis_date=record.basis_date + timedelta(days=days),
                         subject_key=f"{record.subject_key}-{days}")
    db.session.add(other)
    db.session.flush()
    return other


# --- the repair lifts the measures resting on its record alone (令第36号第三条) ----------------------------------

def _measure(kind: str, records: list[CreditRecord]) -> int:
    sanction = Sanction(kind=kind, unit_id=records[0].subject_unit_id, status="active", start_date=date(2026, 5, 6),
                        term_end=records[0].auto_end_date if kind == "honor_disqualification" else None,
                        created_at=clock.now())
    sanction.records = records
    db.session.add(sanction)
    db.session.commit()
    return sanction.id


KIND_LABELS = {"rectification_order": "限期整改", "honor_disqualification": "取消荣誉评选资格",
               "public_criticism": "公开通报批评", "award_restriction": "限制评优评先"}


@pytest.mark.parametrize("kind", sorted(KIND_LABELS))
@pytest.mark.parametrize("several", [False, True], ids=["alone", "several_records"])
def test_approval_lifts_measures_resting_on_the_record_alone(api, recorded_staff, kind, several):
    record = repairable()
    other = _copy(record, days=40)
    sanction_id = _measure(kind, [record, other] if several else [record])
    case = _accepted(api, record)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "已履行。"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合条件。"})
    db.session.expire_all()
    sanction = db.session.get(Sanction, sanction_id)
    assert sanction.status == ("active" if several else "lifted")
    if not several:
        assert sanction.lifted_by_case_id == case["id"]  # the same transaction as the repair
    restorations = db.session.scalars(select(Case).where(Case.type == "restoration")).all()
    restoration_started = several and kind == "honor_disqualification"
    assert len(restorations) == (1 if restoration_started else 0)
    text = _text(_letters(case["id"])[-1])
    label = KIND_LABELS[kind] + "（自2026年5月6日起实施）"
    lifted_part = text.split("同时解除仅依据该记录实施的惩戒措施：")[1].split("。")[0] if not several else ""
    assert (label in lifted_part) is (not several)
    assert ("不予解除：" + label in text) is several
    assert ("将另行办理恢复" in text) is restoration_started
    assert ("没有仅依据该记录实施" in text) is several
    assert "令第36号）第三条" in text


# --- the letters ---------------------------------------------------------------------------------------------

def test_acceptance_notice_prints_query_code_day_counts_and_copy(api, recorded_staff):
    record = repairable()
    case = _accepted(api, record)
    row = db.session.get(Case, case["id"])
    letter = _letters(case["id"])[0]
    text = _text(letter)
    due = date.fromisoformat(row.form["due_total"])
    assert letter.title == "修复受理通知书"
    for expected in (row.query_code, row.number, "5个工作日内出具意见", "2个工作日内作出决定", "10个工作日内办结",
                     f"{due.year}年{due.month}月{due.day}日（含）前办结", record.recording_unit.name):
        assert expected in text, expected
    assert letter.data["cc"] == [record.recording_unit.name]


@pytest.mark.parametrize("step, values, title, must", [
    ("intake_review", {"intake_choice": "reject", "reason": "材料与申请事项不符"}, "不予受理通知书",
     ["材料与申请事项不符", "令第36号）", "本办决定不予受理"]),
])
def test_rejection_is_a_decision_with_its_challenge(api, recorded_staff, step, values, title, must):
    case = file_repair(api, repairable())
    do_task(api, "intake1", case["id"], step, values)
    letter = _letters(case["id"])[-1]
    assert letter.title == title and all(m in _text(letter) for m in must)
    assert letter.data["paragraphs"][-1] == _challenge(db.session.get(Case, case["id"]))


def test_refusal_states_opinion_reasons_basis_and_challenge(api, recorded_staff):
    case = _accepted(api)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "disagree", "opinion": "尚未履行判决义务"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "refuse", "reasons": "未履行判决义务。"})
    letter = _letters(case["id"])[-1]
    text = _text(letter)
    assert "不同意修复：尚未履行判决义务" in text and "未履行判决义务。" in text and "令第36号）第三条" in text
    assert "符合信用修复条件" not in text
    assert letter.data["paragraphs"][-1] == _challenge(db.session.get(Case, case["id"]))


@pytest.mark.parametrize("obstacle, reason_word, dated", [
    ("min_period", "最短公示期未满", True),
    ("rectification", "整改尚未通过审核", False),
])
def test_ineligible_inside_the_process_gets_a_letter(api, recorded_staff, monkeypatch, obstacle, reason_word, dated):
    """The process's own check (DMN on the facts at submission) finds the application ineligible: a letter says why."""
    record = repairable()
    earliest = clock.local_today() + timedelta(days=30)
    if obstacle == "min_period":
        record.earliest_repair_date = earliest
        db.session.commit()
    else:
        open_order(api, record=record)
    # The form's precheck saw it eligible a moment before (e.g. a change in between); the process checks again.
    case_id = _file_past_precheck(api, record, monkeypatch)
    row = db.session.get(Case, case_id)
    assert (row.status, row.outcome) == ("rejected", obstacle)
    letter = _letters(case_id)[-1]
    text = _text(letter)
    assert letter.title == "不符合修复条件告知书" and reason_word in text
    assert (f"{earliest.year}年{earliest.month}月{earliest.day}日起重新申请" in text) is dated
    assert letter.data["paragraphs"][-1] == _challenge(row)


def _file_past_precheck(api, record, monkeypatch) -> int:
    monkeypatch.setattr(eligibility, "repair_verdict",
                        lambda *a, **k: eligibility.Verdict(True, "eligible", "符合"))
    created = api("applicant1").post("/api/v1/cases", json={"type": "repair", "record_id": record.id,
                                                            "statement": "说明"})
    assert created.status_code == 201, created.get_json()
    return _submit(api, created.get_json()["id"])


def _submit(api, case_id: int) -> int:
    import io

    from tests.support.files import PDF_BYTES

    client = api("applicant1")
    for kind in ("evidence", "commitment"):
        client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                    data={"kind": kind, "file": (io.BytesIO(PDF_BYTES), "a.pdf")})
    response = client.post(f"/api/v1/cases/{case_id}/submit")
    assert response.status_code == 200, response.get_json()
    return case_id


# --- the bar only with its basis; the transition reading -------------------------------------------------------

@pytest.mark.parametrize("bar, barred", [
    ({}, False),
    ({"repeat_within_months": 12}, False),  # no cited basis: not applied
    ({"repeat_within_months": 12, "legal_basis": "  "}, False),
    ({"repeat_within_months": 12, "legal_basis": "某法规第十条"}, True),
    ({"repeat_within_months": 0, "legal_basis": "某法规第十条"}, False),
])
def test_repeat_offence_bar_needs_its_basis(app, seeded, bar, barred):
    first = db.session.scalars(select(CreditRecord).order_by(CreditRecord.id)).first()
    _copy(first, days=30)
    first.rule_set.repair_bar = bar
    db.session.flush()
    assert (eligibility.repeat_offence(first) is not None) is barred


@pytest.mark.parametrize("bar, refused", [
    ({"repeat_within_months": 12, "legal_basis": ""}, True),
    ({"repeat_within_months": 12, "legal_basis": "某法规第十条"}, False),
    ({"repeat_within_months": 0, "legal_basis": ""}, False),
])
def test_rule_set_refuses_a_bar_without_basis(app, seeded, bar, refused):
    from app.core.errors import Invalid

    current = rules.all_rule_sets()[-1]
    call = dict(code="LOCAL-2027", name="本地规则", legal_basis="依据", effective_from=date(2027, 1, 1),
                periods=current.periods, time_limits={}, repair_bar=bar)
    if refused:
        with pytest.raises(Invalid) as caught:
            rules.add_rule_set(**call)
        assert "repair_bar_basis" in caught.value.fields
    else:
        row = rules.add_rule_set(**call)
        assert bool(row.repair_bar) is bool(bar["repeat_within_months"])


def test_seed_sets_no_bar(app, seeded):
    assert all(r.repair_bar == {} for r in rules.all_rule_sets())


@pytest.mark.parametrize("today, policy, reading, applied, earliest", [
    (date(2026, 3, 31), None, "basis_date", "NDRC-58", date(2026, 6, 15)),  # still under 令第58号
    (date(2026, 4, 1), None, "favourable", "NDRC-36", date(2026, 3, 15)),  # from 2026-04-01: more favourable
    (date(2026, 4, 1), "basis_date", "basis_date", "NDRC-58", date(2026, 6, 15)),  # the other reading, as data
])
def test_transition_reading_for_a_record_dated_before_2026_04_01(app, seeded, today, policy, reading, applied,
                                                                  earliest):
    old, new = rules.rule_set_on(date(2026, 3, 15)), rules.rule_set_on(date(2026, 4, 1))
    new.policy = {"transition": policy} if policy else {}
    basis = date(2026, 3, 15)
    record = SimpleNamespace(rule_set=old, severity="minor", basis_date=basis,
                             earliest_repair_date=rules.publication_dates(old, "minor", basis)[0])
    result = eligibility.repair_reading(record, today)
    assert (result["reading"], result["applied_rule_set"], result["earliest_repair_date"]) == (reading, applied, earliest)


def test_case_records_rules_applied_and_whole_case_due(api, web, recorded_staff):
    record = repairable()
    case = file_repair(api, record)
    row = db.session.get(Case, case["id"])
    expected_due = clock.local_date(calendar.deadline(row.submitted_at, 10).due)
    assert row.form["due_total"] == expected_due.isoformat()
    assert row.form["rule_reading"]["record_rule_set"] == record.rule_set.code
    assert row.form["rule_reading"]["applied_rule_set"] in ("NDRC-58", "NDRC-36")
    page = web("intake1").get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "整件办结期限" in page and expected_due.isoformat() in page and "修复条件适用" in page
    assert db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == row.id, CaseEvent.action == "rules_applied"))


@pytest.mark.parametrize("days_after, escalated", [(0, False), (1, True)])
def test_whole_case_overdue_tells_the_office_once(api, recorded_staff, days_after, escalated):
    case = file_repair(api, repairable())
    due = date.fromisoformat(db.session.get(Case, case["id"]).form["due_total"])
    clock.set_frozen(datetime.combine(due + timedelta(days=days_after), time(10), TZ))
    before = db.session.scalar(select(db.func.count()).select_from(Notification))
    assert repair.escalate_overdue_cases() == (1 if escalated else 0)
    assert repair.escalate_overdue_cases() == 0  # once
    db.session.commit()
    after = db.session.scalar(select(db.func.count()).select_from(Notification))
    assert (after > before) is escalated


def test_the_sweep_reports_a_whole_case_overdue_and_counts_no_restoration(api, recorded_staff):
    from app.services.worker import sweep

    case = file_repair(api, repairable())
    due = date.fromisoformat(db.session.get(Case, case["id"]).form["due_total"])
    clock.set_frozen(datetime.combine(due + timedelta(days=1), time(10), TZ))
    assert sweep().restorations == 0
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case["id"],
                                                      CaseEvent.action == "overdue_escalated",
                                                      CaseEvent.step == "repair_total"))
    assert event is not None


@pytest.mark.parametrize("opinion, offered", [
    ("agree", ["approve", "refuse"]),
    ("disagree", ["refuse", "return_applicant", "return_verifier"]),
])
def test_the_approval_choices_follow_the_opinion(api, recorded_staff, opinion, offered):
    from processes.credit_repair.task_forms import approval_choices

    case = _accepted(api)
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": opinion, "opinion": "意见。"})
    choices = approval_choices(db.session.get(Case, case["id"]))["repair_decision"]
    assert [value for value, _label in choices] == offered
