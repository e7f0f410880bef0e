"""Issue official letters: number, render from plain data, store immutably with their hash (SPEC §5)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date

from flask import current_app

from sqlalchemy import select

from app.extensions import db
from app.letters.render import render_letter_pdf
from app.models import Case, CaseEvent, Letter
from app.services import audit, notifications, sequences
from app.core.clock import local_date, local_today, now
from app.core.faults import fault_point


@dataclass(frozen=True)
class LetterType:
    title: str
    series: str  # the series part of the document number, e.g. 异决 → 随信用异决〔2026〕3号
    # The 结束语 closing the body ("特此决定。"); the renderer keeps it with the signature.
    formula: str | None = None


LETTER_TYPES = {
    "acceptance_notice": LetterType("受理通知书", "异受"),
    "rejection_notice": LetterType("不予受理通知书", "异不受", "特此通知。"),
    "objection_decision": LetterType("异议处理决定书", "异决", "特此决定。"),
    "rectification_notice": LetterType("限期整改通知书", "整改", "特此通知。"),
    "public_criticism_decision": LetterType("通报批评决定", "通报"),
    "repair_rejection_notice": LetterType("不予受理通知书", "修不受", "特此通知。"),
    "repair_decision": LetterType("信用修复决定书", "修决", "特此决定。"),
    "repair_refusal": LetterType("不予修复决定书", "不修", "特此决定。"),
    "restoration_decision": LetterType("荣誉评选资格恢复决定书", "复决", "特此决定。"),
}
# 荣誉评选资格恢复决定书 are copied to the organisation and HR departments (SPEC §4.4.4).
RESTORATION_CC = ["中共随州市委组织部", "随州市人力资源和社会保障局"]

DECISION_TEXT = {
    "correct": "对该条政务失信记录予以更正。更正后的信息已在“信用随州”网站同步更新，并推送至信用中国（湖北）平台。",
    "revoke": "撤销该条政务失信记录，终止公示并撤回共享。",
    "maintain": "维持该条政务失信记录，不予更正，撤销“异议中”标注。",
    "annotate": "经核查无法确认相关信息，该条政务失信记录予以保留，并记载你单位的异议情况。",
}


def doc_number(prefix: str, series: str, year: int, seq: int | str) -> str:
    """Format a document number: full year in 〔〕, no padding, no 第 (GB/T 9704-2012 7.2.4)."""
    return f"{prefix}{series}\u3014{year}\u3015{seq}号"


def chinese_date(day: date) -> str:
    """Format a date in Arabic numerals without padding: 2026年11月27日."""
    return f"{day.year}年{day.month}月{day.day}日"


def _record_phrase(case: Case) -> str:
    record = case.record
    return (
        f"{record.recording_unit.name}认定的政务失信记录（认定文书：{record.basis_doc_no}，"
        f"{chinese_date(record.basis_date)}）"
    )


def _facts(case: Case) -> str:
    return case.record.facts.rstrip("。；; ") + "。"


def _basis_sentence(case: Case) -> str:
    record = case.record
    return (f"该行为已由{record.recording_unit.name}认定（认定文书：{record.basis_doc_no}，"
            f"{chinese_date(record.basis_date)}）。")


def letter_paragraphs(case: Case, letter_type: str, context: dict) -> list[str]:
    """Compose the body of a letter from the case (plain strings; the renderer escapes them).

    The closing formula is not part of the body: it is ``LetterType.formula``.
    """
    if letter_type in ("acceptance_notice", "rejection_notice", "objection_decision"):
        return _objection_paragraphs(case, letter_type, context)
    if letter_type == "rectification_notice":
        return [
            f"经查，你单位存在以下政务失信行为：{_facts(case)}{_basis_sentence(case)}",
            "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），"
            f"请你单位书面说明原因，并于{context['due_text']}前完成整改，通过本系统提交书面说明和整改情况报告"
            f"（办件编号：{case.number}）。",
            f"整改要求：{context.get('requirements') or '纠正失信行为，消除不良影响，建立健全防范机制。'}",
            "逾期未提交的，将取消你单位荣誉评选资格，并视情予以公开通报批评。",
        ]
    if letter_type in ("repair_rejection_notice", "repair_decision", "repair_refusal"):
        return _repair_paragraphs(case, letter_type, context)
    if letter_type == "restoration_decision":
        return [
            f"经查，{case.applicant_unit.name}因政务失信行为（{context['basis']}）被取消荣誉评选资格。"
            f"{context['why']}",
            "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），"
            f"经审核，决定自{chinese_date(local_today())}起恢复该单位的荣誉评选资格。",
            "请组织、人事部门在开展评优评先、荣誉评选时据此办理。",
        ]
    if letter_type == "public_criticism_decision":
        return [
            f"{case.applicant_unit.name}存在政务失信行为：{_facts(case)}{_basis_sentence(case)}本办于"
            f"{context['notice_text']}出具限期整改通知（办件编号：{case.number}），该单位未在{context['due_text']}"
            "前提交书面说明和整改情况报告。",
            "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），"
            "经研究，决定对该单位予以公开通报批评，并取消其荣誉评选资格。",
            "希望该单位引以为戒，切实履行整改责任，依法依规重塑政务诚信。",
        ]
    raise KeyError(letter_type)


def _repair_paragraphs(case: Case, letter_type: str, context: dict) -> list[str]:
    submitted = chinese_date(local_date(case.submitted_at))
    opening = f"你单位于{submitted}提交的关于{_record_phrase(case)}的信用修复申请（受理编号：{case.number}）收悉。"
    if letter_type == "repair_rejection_notice":
        return [opening + f"经审查，{context.get('reason') or '不符合受理条件'}，本办决定不予受理。"]
    if letter_type == "repair_decision":
        return [
            opening + f"经审核，并征求认定单位{case.record.recording_unit.name}意见，你单位已纠正失信行为、履行相关义务，"
            "符合信用修复条件。",
            "本办决定对该条政务失信记录予以信用修复：即日起在“信用随州”网站终止公示，停止共享，"
            "并推送信用中国（湖北）撤回该记录。依据该记录实施的取消荣誉评选资格措施，将另行办理恢复。",
            f"理由：{context.get('reasons', '')}",
        ]
    return [
        opening + "经审核，本办决定不予修复。",
        f"理由：{context.get('reasons', '')}",
        "你单位可在整改到位、符合条件后重新申请。",
    ]


def _objection_paragraphs(case: Case, letter_type: str, context: dict) -> list[str]:
    submitted = chinese_date(local_date(case.submitted_at))
    opening = f"你单位于{submitted}提交的关于{_record_phrase(case)}的异议申请（受理编号：{case.number}）收悉。"
    if letter_type == "acceptance_notice":
        return [
            opening + "经审查，符合受理条件，本办决定予以受理。",
            "受理期间，该条记录在“信用随州”网站标注“异议中”并继续公示。本办将会同认定单位在规定时限内完成核查，"
            "并书面告知处理结果。",
            "你单位可凭受理编号和查询码在“信用随州”网站查询办理进度。",
        ]
    if letter_type == "rejection_notice":
        return [
            opening + f"经审查，{context.get('reason') or '不符合受理条件'}。",
            "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号）"
            "及有关规定，本办决定不予受理。",
        ]
    return [
        opening + f"经认定单位{case.record.recording_unit.name}核查，本办研究，决定如下：",
        DECISION_TEXT[context["decision"]],
        f"理由：{context.get('reasons', '')}",
    ]


def letter_data(case: Case, letter_type: str, number: str, verify_code: str, context: dict) -> dict:
    """Build the plain-data dict a letter is rendered from (never ORM objects)."""
    cfg = current_app.config
    today = local_today()
    return {
        "title": LETTER_TYPES[letter_type].title,
        "doc_number": number,
        "issuer_name": cfg["ISSUER_NAME"],
        # A public criticism is addressed to all units, not to the criticised one (通报).
        "addressee": "各县、市、区人民政府，市直各有关单位" if letter_type == "public_criticism_decision"
        else case.applicant_unit.name,
        "paragraphs": letter_paragraphs(case, letter_type, context),
        "formula": LETTER_TYPES[letter_type].formula,
        "issued_on": today,
        "cc": RESTORATION_CC if letter_type == "restoration_decision"
        else [case.record.recording_unit.name] if letter_type in ("objection_decision", "public_criticism_decision",
                                                                  "repair_decision", "repair_refusal")
        else [],
        "printed_by": cfg["ISSUER_NAME"],
        "printed_on": today,
        "verify_url": f"{cfg['PUBLIC_BASE_URL'].rstrip('/')}/v/{verify_code}",
    }


def _render(data: dict, *, draft: bool) -> bytes:
    cfg = current_app.config
    return render_letter_pdf(data, draft=draft, font_dir=cfg.get("LETTER_FONT_DIR"), seal_image=cfg.get("LETTER_SEAL_IMAGE"))


def preview_letter(case: Case, letter_type: str, context: dict) -> bytes:
    """Render a watermarked 草稿 preview without using a number."""
    number = doc_number(current_app.config["ISSUER_SHORT"], LETTER_TYPES[letter_type].series, local_today().year, "×")
    data = letter_data(case, letter_type, number, "draft", context)
    return _render(data, draft=True)


def issue_letter(case: Case, letter_type: str, *, user_id: int | None, context: dict) -> Letter:
    """Number, render and store a letter in the caller's transaction, and tell the applicant unit."""
    kind = LETTER_TYPES[letter_type]
    year = local_today().year
    seq = sequences.next_number(f"letter:{kind.series}", year)
    number = doc_number(current_app.config["ISSUER_SHORT"], kind.series, year, seq)
    verify_code = secrets.token_urlsafe(9)
    data = letter_data(case, letter_type, number, verify_code, context)
    pdf = _render(data, draft=False)
    letter = Letter(
        case_id=case.id, type=letter_type, title=kind.title, series=kind.series, year=year, seq=seq,
        doc_number=number, addressee=data["addressee"], issued_on=data["issued_on"], issued_at=now(),
        issuer_id=user_id, verify_code=verify_code, sha256=hashlib.sha256(pdf).hexdigest(), pdf=pdf,
        data={**data, "issued_on": data["issued_on"].isoformat(), "printed_on": data["printed_on"].isoformat()},
    )
    db.session.add(letter)
    db.session.flush()
    fault_point("letters.issue.before_commit")
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="letter_issued",
                             comment=f"{kind.title}（{number}）", details={"letter_id": letter.id}))
    notifications.notify(case.applicant_unit_id, "applicant", kind="letter", title=f"{kind.title}已出具：{number}",
                         body=f"办件 {case.number}，可在办件页面下载。", case_id=case.id)
    audit.record("letter.issue", object_type="letter", object_id=letter.id,
                 details={"case_id": case.id, "doc_number": number, "sha256": letter.sha256})
    return letter


def verify_letter(code: str) -> tuple[Letter, bool] | None:
    """Find a letter by its verification code and check the stored file against its hash."""
    letter = db.session.scalar(select(Letter).where(Letter.verify_code == code))
    if letter is None:
        return None
    return letter, hashlib.sha256(letter.pdf).hexdigest() == letter.sha256
