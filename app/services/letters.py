"""Issue official letters: number, render from plain data, store immutably with their hash (SPEC §5).

Each letter's words are its process slice's (processes/<name>/letters.py); this module numbers, renders and keeps them.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app

from sqlalchemy import select

from app.extensions import db
from app.letters.render import render_letter_pdf
from app.models import Case, CaseEvent, Letter
from app.services import audit, calendar, delivery, notifications, sequences
from app.core.clock import local_date, local_today, now
from app.core.faults import fault_point
from app.services.workflow import registry


@dataclass(frozen=True)
class LetterType:
    """One kind of letter, declared by the process slice that issues it (processes/<name>/letters.py)."""
    title: str
    series: str  # the series part of the document number, e.g. 异决 → 随信用异决〔2026〕3号
    # The body: a template text (see render_body: Jinja in a sandbox, paragraphs separated by blank lines), or,
    # for letters not yet written as templates, fn(case, context) -> [str] (plain strings; the renderer escapes them).
    paragraphs: str | Callable[[Case, dict], list[str]]
    # The 结束语 closing the body ("特此决定。"); the renderer keeps it with the signature.
    formula: str | None = None
    # The values its text needs, read from the case when the letter is issued: fn(case) -> dict.
    context: Callable[[Case], dict] = lambda case: {}
    # To whom it is addressed (default: the applicant unit) and who gets a copy (抄送).
    addressee: Callable[[Case], str] | None = None
    cc: Callable[[Case], list[str]] = lambda case: []
    # A decision (决定书, 通报, a refusal…): its body states its legal basis and how to challenge it ({{ challenge }}).
    decides: bool = False
    # Deadlines that run from this letter's delivery (送达): workflow variable -> working days, read from the case when
    # the letter is issued, e.g. {"rectification_due": lambda case: case.form["deadline_days"]}. The delivery service
    # (issue 13 §7) sets the variable (and its timer) from the day the letter is delivered.
    starts: dict = field(default_factory=dict)
    # Workflow variables that follow a started deadline (e.g. a reminder before it): fn(case, due) -> {variable:
    # aware datetime}, called with the new last instant whenever a variable of `starts` is set or pushed out.
    follow_on: Callable[[Case, datetime], dict] | None = None


def doc_number(prefix: str, series: str, year: int, seq: int | str) -> str:
    """Format a document number: full year in 〔〕, no padding, no 第 (GB/T 9704-2012 7.2.4)."""
    return f"{prefix}{series}\u3014{year}\u3015{seq}号"


def chinese_date(day: date) -> str:
    """Format a date in Arabic numerals without padding: 2026年11月27日."""
    return f"{day.year}年{day.month}月{day.day}日"


def subject_phrase(record, unit: str = "你单位") -> str:
    """Who did what a letter speaks of: the unit, or the unit's civil servant by post and name (你单位××职务××同志).

    A letter about a person names the person and goes to them through their unit (issue 12 §5)."""
    if record.subject_type == "person":
        return f"{unit}{record.person_post or ''}{record.person_name or ''}同志"
    return unit


def record_phrase(case: Case) -> str:
    """The record a case is about, as the letters name it (a person's record names the person)."""
    record = case.record
    about = f"{record.person_post or ''}{record.person_name or ''}同志的" if record.subject_type == "person" else ""
    return (
        f"{record.recording_unit.name}认定的{about}政务失信记录（认定文书：{record.basis_doc_no}，"
        f"{chinese_date(record.basis_date)}）"
    )


def facts(case: Case) -> str:
    return case.record.facts.rstrip("。；; ") + "。"


def basis_sentence(case: Case) -> str:
    record = case.record
    return (f"该行为已由{record.recording_unit.name}认定（认定文书：{record.basis_doc_no}，"
            f"{chinese_date(record.basis_date)}）。")


def application_opening(case: Case, what: str) -> str:
    """"你单位于…提交的关于…的<what>（受理编号：…）收悉。" — the first sentence of a reply to an application."""
    submitted = chinese_date(local_date(case.submitted_at))
    return f"你单位于{submitted}提交的关于{record_phrase(case)}的{what}（受理编号：{case.number}）收悉。"


# --- letter bodies as templates ---------------------------------------------------------------------------------
# A letter's body is a template text: Jinja (sandboxed: no attribute of an ORM object is reachable, only the plain
# values below and the letter type's context), paragraphs separated by a blank line, lines inside a paragraph joined
# without spaces, empty paragraphs dropped (so `{% if %}` can leave one out). Undefined names are errors, never blanks.

CITATIONS = {
    # The documents letters cite by name (issue 13 §8); a template writes {{ law.plan }} and so on.
    "gov_integrity": "《国务院关于加强政务诚信建设的指导意见》（国发〔2016〕76号）",
    "hubei": "《省人民政府关于加强政务诚信建设的实施意见》（鄂政发〔2017〕33号）",
    "plan": "《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号）",
    "repair": "《信用修复管理办法》（国家发展和改革委员会令第36号）",
    "repair_58": "《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展和改革委员会令第58号）",
    "court_list": "《最高人民法院关于公布失信被执行人名单信息的若干规定》",
    "punishment_law": "《中华人民共和国行政处罚法》",
}

# How to challenge a decision, by the kind of the unit it is addressed to (issue 13 §4; LAW.md "Every decision").
CHALLENGE_DEFAULTS = {
    "government": "你单位对本决定不服的，可以自收到本决定书之日起15个工作日内，向随州市社会信用体系建设领导小组申请复核。",
    "department": "你单位对本决定不服的，可以自收到本决定书之日起15个工作日内，向随州市社会信用体系建设领导小组申请复核。",
    "institution": "你单位对本决定不服的，可以自收到本决定书之日起60日内依法申请行政复议，或者自收到本决定书之日起6个月内"
                   "依法向人民法院提起行政诉讼。",
    "grassroots": "你单位对本决定不服的，可以自收到本决定书之日起60日内依法申请行政复议，或者自收到本决定书之日起6个月内"
                  "依法向人民法院提起行政诉讼。",
    "person": "当事人对本决定不服的，可以依照《中华人民共和国公务员法》第九十五条的规定申请复核或者提出申诉。",
}


def challenge_sentence(case: Case) -> str:
    """The sentence telling the addressee how to challenge the decision, by subject type."""
    record = case.record
    key = "person" if record is not None and record.subject_type == "person" else case.applicant_unit.kind
    return CHALLENGE_DEFAULTS.get(key, CHALLENGE_DEFAULTS["government"])


def last_day(day: date) -> str:
    """A last day stated without doubt whether it counts: 2026年12月2日（含）前."""
    return f"{chinese_date(day)}（含）前"


def from_delivery(days: int) -> str:
    """A deadline that runs from this letter's delivery, its counting and its last day if delivered today, stated so
    no one can doubt it: working days, the delivery day not counted, electronic delivery = first opening in the app."""
    last = local_date(calendar.deadline(now(), int(days)).due)
    return (f"自本通知送达之日起{int(days)}个工作日内（工作日不含法定节假日和休息日；送达当日不计入，自次日起算；电子送达的，以你单位"
            f"在本系统首次打开本通知之时为送达；按{chinese_date(local_today())}送达计，最后一日为{chinese_date(last)}（含））")


def common_context(case: Case) -> dict:
    """The values every letter template may use, beside its letter type's own context."""
    record = case.record
    return {
        "law": CITATIONS,
        "case_number": case.number or "",
        "query_code": case.query_code or "",
        "applicant": case.applicant_unit.name,
        "submitted": chinese_date(local_date(case.submitted_at)) if case.submitted_at else "",
        "recording_unit": record.recording_unit.name if record is not None else "",
        "subject": subject_phrase(record) if record is not None else "你单位",
        "subject_named": subject_phrase(record, case.applicant_unit.name) if record is not None else case.applicant_unit.name,
        "record": record_phrase(case) if record is not None else "",
        "facts": facts(case) if record is not None else "",
        "basis": basis_sentence(case) if record is not None else "",
        "challenge": challenge_sentence(case),
        "date": chinese_date,
        "last_day": last_day,
        "from_delivery": from_delivery,
    }


_ENV = None


def _env():
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        _ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    return _ENV


def compile_template(text: str):
    """Compile a letter template, raising jinja2.TemplateError when it is not valid."""
    return _env().from_string(text)


def render_template_text(text: str, values: dict) -> list[str]:
    """Render a template text into paragraphs (blank lines separate them; empty ones are dropped)."""
    rendered = compile_template(text).render(**values)
    paragraphs = []
    for block in re.split(r"\n\s*\n", rendered):
        joined = "".join(line.strip() for line in block.splitlines())
        if joined:
            paragraphs.append(joined)
    return paragraphs


def render_body(case: Case, letter_type: str, context: dict) -> list[str]:
    """The body paragraphs of a letter of this type for this case."""
    kind = registry.letter_type(letter_type)
    if callable(kind.paragraphs):
        return kind.paragraphs(case, context)
    return render_template_text(kind.paragraphs, {**common_context(case), **context})


def letter_data(case: Case, letter_type: str, number: str, verify_code: str, context: dict) -> dict:
    """Build the plain-data dict a letter is rendered from (never ORM objects)."""
    cfg = current_app.config
    today = local_today()
    kind = registry.letter_type(letter_type)
    return {
        "title": kind.title,
        "doc_number": number,
        "issuer_name": cfg["ISSUER_NAME"],
        "addressee": kind.addressee(case) if kind.addressee else case.applicant_unit.name,
        "paragraphs": render_body(case, letter_type, context),
        "formula": kind.formula,
        "issued_on": today,
        "cc": kind.cc(case),
        "printed_by": cfg["ISSUER_NAME"],
        "printed_on": today,
        "verify_url": f"{cfg['PUBLIC_BASE_URL'].rstrip('/')}/v/{verify_code}",
    }


def _render(data: dict, *, draft: bool) -> bytes:
    cfg = current_app.config
    return render_letter_pdf(data, draft=draft, font_dir=cfg.get("LETTER_FONT_DIR"), seal_image=cfg.get("LETTER_SEAL_IMAGE"))


def preview_letter(case: Case, letter_type: str, context: dict) -> bytes:
    """Render a watermarked 草稿 preview without using a number."""
    number = doc_number(current_app.config["ISSUER_SHORT"], registry.letter_type(letter_type).series, local_today().year, "×")
    data = letter_data(case, letter_type, number, "draft", context)
    return _render(data, draft=True)


def issue_letter(case: Case, letter_type: str, *, user_id: int | None, context: dict) -> Letter:
    """Number, render and store a letter in the caller's transaction, and tell the applicant unit."""
    kind = registry.letter_type(letter_type)
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
    delivery.open_deadlines(case, letter)  # the deadlines it starts wait for its delivery (送达)
    return letter


def verify_letter(code: str) -> tuple[Letter, bool] | None:
    """Find a letter by its verification code and check the stored file against its hash."""
    letter = db.session.scalar(select(Letter).where(Letter.verify_code == code))
    if letter is None:
        return None
    return letter, hashlib.sha256(letter.pdf).hexdigest() == letter.sha256
