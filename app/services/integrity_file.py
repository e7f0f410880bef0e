"""The integrity file (诚信档案, issue 12 §6): for one unit or one person, every registered record, case, sanction
and letter about them in date order, as the credit office prints it for 督查考核 — a page and a PDF.

Who may open a file: the credit office (intake, approver), and a unit (its applicants) its own file and the files
of its people. The auditor reads audit logs, not case content; a recording unit sees its records elsewhere.
"""
from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.core import clock
from app.core.errors import NotFound, found
from app.extensions import db
from app.letters.integrity_file import render_file_pdf
from app.models import (RECORD_STATUSES, RECORD_UNREGISTERED, Case, CreditRecord, Letter, Person, Sanction, Unit,
                        User, sanction_record)
from app.services import access, audit, persons

# Order of the rows of one day: records, records ending, each case followed by its letters, sanctions last.
_ORDER = {"record": 0, "record_end": 1, "case": 2, "letter": 2, "sanction": 4}


def _office(user: User) -> bool:
    return user.has_role(*access.STAFF_ROLES)


def _unit_reachable(user: User, unit_id: int) -> bool:
    return _office(user) or (user.has_role("applicant") and user.unit_id == unit_id)


def may_open_person_file(user: User, person: Person) -> bool:
    """The office, or an applicant of the person's current unit."""
    return _office(user) or (user.has_role("applicant") and user.unit_id == person.unit_id)


def may_open_unit_file(user: User, unit_id: int) -> bool:
    return _unit_reachable(user, unit_id)


def _registered(query):
    return query.where(CreditRecord.status.not_in(RECORD_UNREGISTERED))


def _cases(record_ids: list[int]) -> list[Case]:
    """The filed cases on these records (no drafts; a registration case once it registered the record)."""
    if not record_ids:
        return []
    return list(db.session.scalars(select(Case).where(
        Case.record_id.in_(record_ids), Case.status != "draft",
        (Case.type != "registration") | (Case.outcome == "registered")).order_by(Case.id)))


def _letters(case_ids: list[int]) -> list:
    if not case_ids:
        return []
    return list(db.session.execute(select(Letter.id, Letter.title, Letter.doc_number, Letter.issued_on,
                                          Letter.case_id).where(Letter.case_id.in_(case_ids)).order_by(Letter.id)))


def _record_subject(record: CreditRecord) -> str:
    return record.subject_label


def _rows(records: list[CreditRecord], cases: list[Case], sanctions: list[Sanction], letters: list) -> list[dict]:
    rows = []
    for r in records:
        rows.append({"kind": "record", "sub": (r.id,), "day": r.basis_date, "doc": r.basis_doc_no, "status": str(r.status_label),
                     "event": _("失信记录：%(unit)s认定 %(subject)s %(category)s（%(severity)s）",
                                unit=r.recording_unit.name, subject=_record_subject(r), category=r.category_label,
                                severity=r.severity_label)})
        registered, ended = persons.record_span(r)
        if ended is not None:
            rows.append({"kind": "record_end", "sub": (r.id,), "day": ended, "doc": r.basis_doc_no,
                         "status": str(RECORD_STATUSES[r.status]) if r.status in persons.ENDED else "",
                         "event": _("失信记录终止：%(status)s", status=RECORD_STATUSES.get(r.status, r.status))})
    numbers = {c.id: c.number for c in cases}
    for c in cases:
        day = clock.local_date(c.submitted_at or c.created_at)
        rows.append({"kind": "case", "sub": (c.id, 0), "day": day, "doc": c.number or "", "status": str(c.status_label),
                     "event": _("办件：%(type)s（%(record)s）", type=c.type_label, record=c.record.basis_doc_no)})
    for letter in letters:
        rows.append({"kind": "letter", "sub": (letter.case_id, 1, letter.id), "day": letter.issued_on, "doc": letter.doc_number, "status": _("已出具"),
                     "event": _("文书：%(title)s（办件 %(number)s）", title=letter.title,
                                number=numbers.get(letter.case_id) or "")})
    for s in sanctions:
        rows.append({"kind": "sanction", "sub": (s.id,), "day": s.start_date or clock.local_date(s.created_at),
                     "doc": "、".join(r.basis_doc_no for r in s.records), "status": str(s.status_label),
                     "event": _("惩戒措施：%(kind)s", kind=s.kind_label)
                     + (_("（期限至%(day)s）", day=s.term_end.isoformat()) if s.term_end else "")})
    rows.sort(key=lambda row: (row["day"], _ORDER[row["kind"]], row["sub"]))
    return rows


def _summary(records, cases, sanctions, letters, today: date) -> list[tuple[str, int]]:
    return [(_("失信记录"), len(records)),
            (_("其中当前有效"), sum(persons.in_force_on(r, today) for r in records)),
            (_("办件"), len(cases)),
            (_("惩戒措施"), len(sanctions)),
            (_("其中实施中"), sum(s.status == "active" for s in sanctions)),
            (_("文书"), len(letters))]


def _file(title: str, header: list, records, cases, sanctions, letters, *, posts=None, kind: str, subject) -> dict:
    today = clock.local_today()
    return {"title": title, "issuer_name": current_app.config["ISSUER_NAME"], "printed_on": today,
            "header": header, "summary": _summary(records, cases, sanctions, letters, today),
            "rows": _rows(records, cases, sanctions, letters), "posts": posts or [], "kind": kind,
            "subject_id": subject.id}


def unit_file(user: User, unit_id: int) -> dict:
    """The unit's file as plain data: its records (those about its people too), cases, sanctions, letters."""
    unit = db.session.get(Unit, unit_id)
    if unit is None or not _unit_reachable(user, unit.id):
        raise NotFound()
    records = list(db.session.scalars(_registered(select(CreditRecord).where(CreditRecord.subject_unit_id == unit.id))
                                      .order_by(CreditRecord.basis_date, CreditRecord.id)))
    cases = _cases([r.id for r in records])
    sanctions = list(db.session.scalars(select(Sanction).where(Sanction.unit_id == unit.id).order_by(Sanction.id)))
    letters = _letters([c.id for c in cases])
    header = [(_("单位名称"), unit.name), (_("统一社会信用代码"), unit.uscc), (_("所在地区"), unit.region or "—")]
    return _file(_("%(name)s 政务诚信档案", name=unit.name), header, records, cases, sanctions, letters,
                 kind="unit", subject=unit)


def person_file(user: User, person_id: int) -> dict:
    """The person's file as plain data: the records about them in any unit, their cases, sanctions, letters."""
    person = found(db.session.get(Person, person_id))
    if not may_open_person_file(user, person):
        raise NotFound()
    records = list(db.session.scalars(_registered(select(CreditRecord).where(CreditRecord.person_id == person.id))
                                      .order_by(CreditRecord.basis_date, CreditRecord.id)))
    cases = _cases([r.id for r in records])
    sanctions = list(db.session.scalars(select(Sanction).where(Sanction.id.in_(
        select(sanction_record.c.sanction_id).where(sanction_record.c.record_id.in_([r.id for r in records]))))
        .order_by(Sanction.id))) if records else []
    letters = _letters([c.id for c in cases])
    header = [(_("姓名"), person.name), (_("身份证号"), person.id_masked),
              (_("现任单位"), person.unit.name), (_("现任职务"), person.post)]
    posts = [{"unit": p.unit.name, "post": p.post, "start": p.start_date, "end": p.end_date} for p in person.posts]
    return _file(_("%(name)s 个人政务诚信档案", name=person.name), header, records, cases, sanctions, letters,
                 posts=posts, kind="person", subject=person)


def file_pdf(data: dict) -> bytes:
    """Render a file (unit_file/person_file) to PDF and audit the export."""
    pdf = render_file_pdf(data, font_dir=current_app.config.get("LETTER_FONT_DIR"))
    audit.record("integrity_file.export", object_type=data["kind"], object_id=data["subject_id"],
                 details={"rows": len(data["rows"])})
    return pdf
