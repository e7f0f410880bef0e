"""The rectification's letters (issue 13 §2–4, §8): their words, legal basis, deadlines from delivery, 抄送, the 通报's
title and its public page; and a case started on the old diagram still running (lawfully) to its end."""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.engine.definitions import deploy_directory
from app.extensions import db
from app.models import Case, Letter, ProcessDefinition, ProcessInstance
from app.services.workflow import registry
from tests.support import factories
from tests.support.constants import PROCESSES
from tests.support.flows import (case_of, decide_measures, do_task, open_order, overdue, run_timers_at, sanctions_of,
                                 timer)
from tests.support.letter_sweep import FREE_TEXT

FIXTURES = Path(__file__).parent / "fixtures"
TYPES = ("rectification_notice", "rework_notice", "rectification_accepted_notice", "measures_notice",
         "measures_decision", "public_criticism_decision")


def letters_of(case_id: int) -> dict[str, Letter]:
    return {l.type: l for l in db.session.scalars(select(Letter).where(Letter.case_id == case_id).order_by(Letter.id))}


def text(letter: Letter) -> str:
    return "".join(letter.data["paragraphs"])


@pytest.mark.parametrize("letter_type, decides, starts", [
    ("rectification_notice", False, {"rectification_due"}),
    ("rework_notice", False, {"rectification_due"}),
    ("rectification_accepted_notice", False, set()),
    ("measures_notice", False, {"statement_due"}),
    ("measures_decision", True, set()),
    ("public_criticism_decision", True, set()),
])
def test_letter_types(app, letter_type, decides, starts):
    kind = registry.letter_type(letter_type)
    assert isinstance(kind.paragraphs, str)  # a template text
    assert kind.decides is decides and set(kind.starts) == starts
    if decides:
        assert kind.paragraphs.rstrip().endswith("{{ challenge }}") and "{{ law." in kind.paragraphs
    assert letter_type in FREE_TEXT


def test_order_rework_and_acceptance_letters(api, recorded_staff):
    case = open_order(api, days=3)
    do_task(api, "applicant1", case["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", case["id"], "review_rectification",
            {"review": "return_for_rework", "opinion": "制度未修订", "new_deadline_days": "5"})
    do_task(api, "applicant1", case["id"], "submit_rectification", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", case["id"], "review_rectification", {"review": "accept", "opinion": "到位"})
    issued = letters_of(case["id"])
    recording = db.session.get(Case, case["id"]).record.recording_unit.name
    notice = text(issued["rectification_notice"])
    assert "国发〔2016〕76号" in notice and "随信用办〔2017〕9号）三（二）4" in notice
    assert "自本通知送达之日起3个工作日内" in notice and "最后一日为2026年12月2日（含））完成整改" in notice
    assert "整改要求：追回违规资金并完善采购内控制度。" in notice
    assert "取消荣誉评选资格、公开通报批评" in notice and "书面决定后方予实施" in notice
    rework = text(issued["rework_notice"])
    assert "制度未修订。" in rework and "自本通知送达之日起5个工作日内" in rework
    assert "最后一日为2026年12月4日（含））重新提交" in rework
    accepted = text(issued["rectification_accepted_notice"])
    assert "本办予以验收" in accepted and "解除对你单位的限期整改" in accepted and "2026年11月27日起" in accepted
    assert "不因本次验收而解除" not in accepted  # nothing else stands
    for letter in issued.values():
        assert letter.data["cc"] == [recording]


def test_notice_decision_and_criticism_letters(api, web, recorded_staff):
    case = open_order(api, days=3)
    overdue(api, case["id"])
    notice = text(letters_of(case["id"])["measures_notice"])
    assert "1．取消荣誉评选资格，依据：" in notice and "2．公开通报批评，依据：" in notice
    assert "行政处罚法》第四十四条、第四十五条" in notice and "送达之日起3个工作日内" in notice
    assert "鼓励自我纠错" in notice and "书面决定后方予实施" in notice
    # The public page lists no 通报 before one is issued.
    anonymous = web()
    assert "暂无通报" in anonymous.get("/public/notices").get_data(as_text=True)
    decide_measures(api, case["id"], outcome="confirm", statement="我单位正在整改。")
    issued = letters_of(case["id"])
    row = db.session.get(Case, case["id"])
    unit, recording = row.applicant_unit, row.record.recording_unit.name
    decision = text(issued["measures_decision"])
    assert "你单位提出陈述申辩意见：我单位正在整改。" in decision and "理由：经审查，理由如下。" in decision
    criticism = issued["public_criticism_decision"]
    assert criticism.title == f"关于对{unit.name}予以通报批评的通报" and criticism.data["title"] == criticism.title
    assert criticism.addressee == "各县、市、区人民政府，市直各有关单位"
    superior = unit.parent.name if unit.parent is not None else "随州市社会信用体系建设领导小组"
    assert criticism.data["cc"] == [recording, superior]
    body = text(criticism)
    assert f"决定对{unit.name}予以通报批评" in body and "并听取了该单位的陈述申辩" in body
    assert "“予以公开通报批评”" in body
    # Published once issued: the list, its text and its PDF, without signing in; other letters are not public.
    listing = anonymous.get("/public/notices").get_data(as_text=True)
    assert criticism.title in listing and criticism.doc_number in listing
    page = anonymous.get(f"/public/notices/{criticism.id}")
    assert page.status_code == 200 and f"决定对{unit.name}予以通报批评" in page.get_data(as_text=True)
    pdf = anonymous.get(f"/public/notices/{criticism.id}.pdf")
    assert pdf.status_code == 200 and pdf.data == criticism.pdf
    other = issued["measures_decision"]
    assert anonymous.get(f"/public/notices/{other.id}").status_code == 404
    assert anonymous.get(f"/public/notices/{other.id}.pdf").status_code == 404


def test_criticism_is_copied_to_the_superior_unit(api, recorded_staff):
    case = open_order(api, days=3)
    row = db.session.get(Case, case["id"])
    row.applicant_unit.parent = factories.unit("随州市测试上级局")
    db.session.commit()
    overdue(api, case["id"])
    decide_measures(api, case["id"], outcome="confirm")
    criticism = letters_of(case["id"])["public_criticism_decision"]
    assert criticism.data["cc"] == [row.record.recording_unit.name, "随州市测试上级局"]


def test_catalogue_page_is_public(web, recorded_staff):
    page = web().get("/public/measures").get_data(as_text=True)
    for words in ("取消荣誉评选资格", "公开通报批评", "限制评优评先", "三（二）4", "从轻时不予公开通报批评"):
        assert words in page


@pytest.mark.parametrize("criticism, expected, titles", [
    ("approve", {"honor_disqualification": "active", "public_criticism": "active"},
     {"measures_decision", "public_criticism_decision"}),
    ("decline", {"honor_disqualification": "declined", "public_criticism": "declined"}, {"measures_decision"}),
])
def test_a_case_on_the_old_diagram_runs_to_its_end(api, recorded_staff, tmp_path, criticism, expected, titles):
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(FIXTURES / "rectification_v1.bpmn", old / "rectification.bpmn")
    [(v1, created)] = deploy_directory(old)
    db.session.commit()
    assert created
    case = open_order(api, days=3)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case["id"]))
    assert instance.definition_id == v1.id
    # A newer version is deployed while the case runs: the case stays on its own.
    new = tmp_path / "new"
    new.mkdir()
    (new / "rectification.bpmn").write_bytes((PROCESSES / "rectification" / "rectification.bpmn").read_bytes()
                                             + b"<!-- v3 -->\n")
    [(v3, created)] = deploy_directory(new)
    db.session.commit()
    assert created and v3.version > v1.version
    run_timers_at(timer(case["id"], "rectification_deadline").fire_at + timedelta(seconds=1))
    # The old overdue step no longer imposes anything by itself.
    assert sanctions_of(case["id"]) == {"rectification_order": "active", "honor_disqualification": "proposed",
                                        "public_criticism": "proposed"}
    assert sorted(t["bpmn_id"] for t in case_of(api, "intake1", case["id"])["open_tasks"]) == [
        "approve_public_criticism", "submit_late"]
    values = {"criticism": criticism} if criticism == "approve" else {"criticism": "decline", "comment": "已及时纠正"}
    do_task(api, "approver1", case["id"], "approve_public_criticism", values)
    assert sanctions_of(case["id"]) == {"rectification_order": "active", **expected}
    issued = letters_of(case["id"])
    assert set(issued) == {"rectification_notice"} | titles
    decision = text(issued["measures_decision"])
    assert "拟惩戒告知书" not in decision  # the old path issued none, and the letter does not claim one
    assert ("已及时纠正" in decision) is (criticism == "decline")
    do_task(api, "applicant1", case["id"], "submit_late", {"explanation": "逾期说明", "report": "整改报告"})
    do_task(api, "intake1", case["id"], "review_rectification", {"review": "accept", "opinion": "同意"})
    final = case_of(api, "intake1", case["id"])
    assert final["status"] == "closed" and final["outcome"] == "accepted"
    assert db.session.scalar(select(ProcessInstance.definition_id).where(
        ProcessInstance.case_id == case["id"])) == v1.id
    assert "rectification_accepted_notice" in letters_of(case["id"])
    assert db.session.get(ProcessDefinition, v1.id).process_key == "rectification"


@pytest.mark.parametrize("delivered_on, due, reminder", [
    # Issued Fri 11-27: 20 working days from delivery (the day not counted), the reminder 3 working days before, 09:00.
    (None, "2026-12-25T15:59:59+00:00", "2026-12-22T01:00:00+00:00"),  # not delivered yet: counted from the issue
    ("2026-11-27", "2026-12-25T15:59:59+00:00", "2026-12-22T01:00:00+00:00"),
    ("2026-11-30", "2026-12-28T15:59:59+00:00", "2026-12-23T01:00:00+00:00"),  # Monday: both move by one working day
])
def test_the_deadline_and_its_reminder_run_from_delivery(api, recorded_staff, delivered_on, due, reminder):
    from datetime import date, time

    from app.core import clock
    from app.models import User
    from app.services import delivery
    from tests.support.flows import unit_record

    response = api("intake1").post("/api/v1/cases", json={"type": "rectification", "record_id": unit_record().id,
                                                          "deadline_days": 20, "requirements": "整改"})
    case_id = response.get_json()["id"]
    if delivered_on is not None:
        day = date.fromisoformat(delivered_on)
        clock.set_frozen(clock.local_instant(day, time(10, 0)))  # 10:00, as T0 is
        intake = db.session.scalar(select(User).where(User.username == "intake1"))
        notice = letters_of(case_id)["rectification_notice"]
        delivery.record_office_delivery(intake, notice, day=delivered_on, method="post")
        db.session.commit()
    assert timer(case_id, "rectification_deadline").fire_at.isoformat() == due
    assert timer(case_id, "rectification_reminder").fire_at.isoformat() == reminder
