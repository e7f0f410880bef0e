"""The rectification's letters (SPEC §5): 限期整改通知书 and 通报批评决定."""
from __future__ import annotations

from datetime import datetime

from app.core import clock
from app.models import Case
from app.services.letters import LetterType, basis_sentence, chinese_date, facts, subject_phrase
from processes.rectification.service import deadline_delivered

PLAN = "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），"


def _due_text(case: Case) -> str:
    return chinese_date(clock.local_date(datetime.fromisoformat(case.form["current_due"])))


def _notice(case: Case, context: dict) -> list[str]:
    return [
        f"经查，{subject_phrase(case.record)}存在以下政务失信行为：{facts(case)}{basis_sentence(case)}",
        PLAN + f"请你单位书面说明原因，并于{context['due_text']}前完成整改，通过本系统提交书面说明和整改情况报告"
        f"（办件编号：{case.number}）。",
        f"整改要求：{context.get('requirements') or '纠正失信行为，消除不良影响，建立健全防范机制。'}",
        "逾期未提交的，将取消你单位荣誉评选资格，并视情予以公开通报批评。",
    ]


def _criticism(case: Case, context: dict) -> list[str]:
    return [
        f"{subject_phrase(case.record, case.applicant_unit.name)}存在政务失信行为：{facts(case)}{basis_sentence(case)}本办于"
        f"{context['notice_text']}出具限期整改通知（办件编号：{case.number}），该单位未在{context['due_text']}"
        "前提交书面说明和整改情况报告。",
        PLAN + "经研究，决定对该单位予以公开通报批评，并取消其荣誉评选资格。",
        "希望该单位引以为戒，切实履行整改责任，依法依规重塑政务诚信。",
    ]


LETTERS = {
    "rectification_notice": LetterType(
        "限期整改通知书", "整改", _notice, "特此通知。",
        context=lambda case: {"due_text": _due_text(case), "requirements": case.form.get("requirements", "")},
        # The deadline runs from the notice's delivery (送达, issue 13 §7); the reminder moves with it.
        starts={"rectification_due": lambda case: case.form["deadline_days"]}, follow_on=deadline_delivered),
    "public_criticism_decision": LetterType(
        "通报批评决定", "通报", _criticism,
        context=lambda case: {"due_text": _due_text(case), "notice_text": chinese_date(clock.local_date(case.submitted_at))},
        # A public criticism is addressed to all units, not to the criticised one (通报).
        addressee=lambda case: "各县、市、区人民政府，市直各有关单位",
        cc=lambda case: [case.record.recording_unit.name]),
}
