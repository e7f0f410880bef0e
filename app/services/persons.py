"""Civil servants as record subjects (issue 12 §5): the person, their ID number encrypted at rest, their posts.

个人信息保护法: keep the minimum. The ID number (居民身份证号码, GB 11643-1999) is checked, then kept encrypted with
AES-256-GCM under ``PERSON_DATA_KEY`` (outside the database), as an HMAC digest to find the same person again, and
masked (``421302********123X``) for display; the clear number is never stored or shown.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import false, or_, select, true

from app.core import clock
from app.core.clock import now
from app.core.errors import Forbidden, Invalid, NotFound, found
from app.core.ids import is_object_id
from app.extensions import db
from app.models import (RECORD_UNREGISTERED, CreditRecord, Person, PersonPost, Sanction, Unit, User,
                        sanction_record)
from app.services import access, audit, sanctions

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
CIPHER_VERSION = "v1"


def id_number_problem(value: str) -> str | None:
    """None when value is a valid 18-character ID number (GB 11643-1999), else a Chinese reason."""
    # isascii: str.isdigit() also holds for full-width and other Unicode digits, which no ID number has
    if len(value) != 18 or not value.isascii() or not value[:17].isdigit() or not (value[17].isdigit()
                                                                                   or value[17] == "X"):
        return _("身份证号应为 18 位：17 位数字加 1 位数字或 X。")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return _("身份证号中的出生日期不存在。")
    if born > clock.local_today() or born.year < 1900:
        return _("身份证号中的出生日期不在合理范围内。")
    expected = _CHECK[sum(int(c) * w for c, w in zip(value[:17], _WEIGHTS)) % 11]
    if value[17] != expected:
        return _("身份证号校验位不正确（按前 17 位应为 %(c)s）。", c=expected)
    return None


def _key() -> bytes:
    secret = current_app.config.get("PERSON_DATA_KEY") or ""
    if not secret:
        raise RuntimeError("PERSON_DATA_KEY is not configured")
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _digest(number: str) -> str:
    return hmac.new(_key(), b"person-id:" + number.encode("ascii"), hashlib.sha256).hexdigest()


def encrypt(number: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, number.encode("ascii"), b"person-id")
    return CIPHER_VERSION + ":" + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(token: str) -> str:
    version, _sep, body = token.partition(":")
    if version != CIPHER_VERSION:
        raise ValueError("unknown cipher version")
    raw = base64.b64decode(body)
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], b"person-id").decode("ascii")


def mask(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def normalise(raw) -> str:
    return str(raw or "").strip().upper().replace(" ", "")


def find_by_number(number: str) -> Person | None:
    return db.session.scalar(select(Person).where(Person.id_digest == _digest(number)))


def resolve(raw: dict, *, units_by_id: dict | None = None) -> Person:
    """The person a record is about: an existing one by ``person_id``, or by ID number (created when new, with their
    post and unit). Raises Invalid naming the bad fields (``name``, ``id_number``, ``post``, ``unit_id``)."""
    if raw.get("person_id") not in (None, ""):
        value = raw["person_id"]
        person = db.session.get(Person, int(value)) if not isinstance(value, bool) and is_object_id(str(value)) else None
        if person is None:
            raise Invalid(_("该人员不存在。"), fields={"person_id": _("该人员不存在。")})
        return person
    errors = {}
    name = str(raw.get("name") or "").strip()
    if not name or len(name) > 40:
        errors["name"] = _("请填写姓名（不超过 40 字）。")
    number = normalise(raw.get("id_number"))
    problem = id_number_problem(number)
    if problem:
        errors["id_number"] = problem
    post = str(raw.get("post") or "").strip()
    if not post or len(post) > 80:
        errors["post"] = _("请填写职务（不超过 80 字）。")
    unit_raw = raw.get("unit_id")
    unit = None
    if isinstance(unit_raw, bool) or not is_object_id(str(unit_raw or "").strip()):
        errors["unit_id"] = _("请选择所在单位。")
    else:
        unit = (units_by_id or {}).get(int(unit_raw)) or db.session.get(Unit, int(unit_raw))
        if unit is None or not unit.active:
            errors["unit_id"] = _("所在单位不存在或已停用。")
    if errors:
        raise Invalid(_("人员信息有误。"), fields=errors)
    person = find_by_number(number)
    if person is not None:
        if person.name != name:
            raise Invalid(_("该身份证号已登记为另一姓名的人员，请核对。"),
                          fields={"id_number": _("身份证号与姓名不符（已登记的姓名不同）。")})
        # A record may name the post held when the act happened; the person's current post changes only by a move
        # the office records (move_person, audited), never as a side effect of entering a record.
        return person
    person = Person(name=name, id_cipher=encrypt(number), id_digest=_digest(number), id_masked=mask(number),
                    unit_id=unit.id, post=post, created_at=now())
    db.session.add(person)
    db.session.flush()
    db.session.add(PersonPost(person_id=person.id, unit_id=unit.id, post=post, start_date=clock.local_today()))
    return person


def move(person: Person, unit: Unit, post: str, *, on: date | None = None) -> None:
    """Record that the person now holds a post in a unit (the previous post ends the day before)."""
    day = on or clock.local_today()
    for held in person.posts:
        if held.end_date is None:
            held.end_date = day
    person.unit_id, person.post = unit.id, post
    db.session.add(PersonPost(person_id=person.id, unit_id=unit.id, post=post, start_date=day))
    db.session.flush()


# --------------------------------------------------------------------------- who sees whom

def person_filter(user: User):
    """SQL condition for the persons a user may see: the office all; a unit its own people (current unit); a
    recording unit the persons on the records it made. Everyone else (personnel, admin, auditor) nobody."""
    if user.has_role(*access.STAFF_ROLES):
        return true()
    conditions = []
    if user.has_role("applicant"):
        conditions.append(Person.unit_id == user.unit_id)
    if user.has_role("verifier"):
        conditions.append(Person.id.in_(select(CreditRecord.person_id).where(
            CreditRecord.recording_unit_id == user.unit_id, CreditRecord.person_id.is_not(None))))
    return or_(*conditions) if conditions else false()


def get_person(user: User, person_id: int) -> Person:
    """Load a person the user may see, else NotFound."""
    return found(db.session.scalar(select(Person).where(Person.id == person_id, person_filter(user))))


def checked_number(raw) -> str:
    """The normalised ID number, or Invalid naming the field with the reason (check digit, date, length)."""
    number = normalise(raw)
    problem = id_number_problem(number)
    if problem:
        raise Invalid(problem, fields={"id_number": problem})
    return number


def looks_like_number(text: str) -> bool:
    """Whether a search text is meant as an ID number (18 characters, 17 digits first) rather than a name."""
    value = normalise(text)
    return len(value) == 18 and value[:17].isdigit()


SEARCH_LIMIT = 200


def search(user: User, q: str = "") -> list[Person]:
    """Persons the user may see, by part of the name or by the full ID number (matched by its digest: the clear
    number is neither stored nor compared). An ID number with a wrong check character is Invalid."""
    query = select(Person).where(person_filter(user))
    q = (q or "").strip()[:40]
    if q and looks_like_number(q):
        query = query.where(Person.id_digest == _digest(checked_number(q)))
    elif q:
        query = query.where(Person.name.contains(q, autoescape=True))
    return list(db.session.scalars(query.order_by(Person.name, Person.id).limit(SEARCH_LIMIT)))


def sees_whole_file(user: User, person: Person) -> bool:
    """The office and the person's own unit see every record about the person, in whichever unit they served; a
    recording unit only the records it made."""
    return user.has_role(*access.STAFF_ROLES) or (user.has_role("applicant") and user.unit_id == person.unit_id)


def records_about(user: User, person: Person) -> list[CreditRecord]:
    """The registered records about the person that the user may see, oldest first."""
    reach = true() if sees_whole_file(user, person) else access.record_filter(user)
    return list(db.session.scalars(select(CreditRecord).where(
        CreditRecord.person_id == person.id, CreditRecord.status.not_in(RECORD_UNREGISTERED), reach)
        .order_by(CreditRecord.basis_date, CreditRecord.id)))


def sanctions_about(user: User, person: Person) -> list[Sanction]:
    """The sanctions resting on a record about the person that the user may see."""
    reach = true() if sees_whole_file(user, person) else sanctions.sanction_filter(user)
    return list(db.session.scalars(select(Sanction).where(
        Sanction.id.in_(select(sanction_record.c.sanction_id).join(
            CreditRecord, CreditRecord.id == sanction_record.c.record_id).where(CreditRecord.person_id == person.id)),
        reach).order_by(Sanction.id)))


def move_person(user: User, person_id: int, unit_id, post, on: date | None = None) -> Person:
    """The credit office records that a person now holds a post in another unit (or another post): audited."""
    if not user.has_role("intake"):
        raise Forbidden(_("只有信用办受理人员可以登记人员调动。"))
    person = get_person(user, person_id)
    errors = {}
    post = str(post or "").strip()
    if not post or len(post) > 80:
        errors["post"] = _("请填写职务（不超过 80 字）。")
    unit = db.session.get(Unit, unit_id) if isinstance(unit_id, int) and not isinstance(unit_id, bool) else None
    if unit is None or not unit.active:
        errors["unit_id"] = _("所在单位不存在或已停用。")
    day = on or clock.local_today()
    if person.posts and day < max(p.start_date for p in person.posts):
        errors["on"] = _("调动日期不能早于现任职务的起始日期。")
    if day > clock.local_today():
        errors["on"] = _("调动日期不能晚于今天。")
    if errors:
        raise Invalid(_("调动信息有误。"), fields=errors)
    if (person.unit_id, person.post) == (unit.id, post):
        raise Invalid(_("该人员已在该单位担任该职务。"), fields={"post": _("与现任单位和职务相同。")})
    before = {"unit_id": person.unit_id, "post": person.post}
    move(person, unit, post, on=day)
    audit.record("person.move", object_type="person", object_id=person.id,
                 details={"from": before, "to": {"unit_id": unit.id, "post": post}, "on": day.isoformat()})
    return person


# --------------------------------------------------------------------------- 限制评优评先 on a date

ENDED = ("repaired", "revoked", "expired")  # a record no longer in force (corrected stays in force, corrected)


@dataclass(frozen=True)
class Restriction:
    """One reason a person is restricted on a day: a record in force, or an award-restriction sanction."""

    kind: str  # "record" or "sanction"
    record: CreditRecord | None
    sanction: Sanction | None
    since: date  # registered (or in force) from
    earliest_end: date | None  # the earliest date it could end: repair possible from (may be past), or the term's end
    latest_end: date | None  # when it ends at the latest without repair (the record's automatic end)


@dataclass(frozen=True)
class AwardAnswer:
    person: Person
    day: date
    reasons: list[Restriction]

    @property
    def restricted(self) -> bool:
        return bool(self.reasons)


def record_span(record: CreditRecord) -> tuple[date | None, date | None]:
    """(registered on, ended on) from the record's status history, in local dates: the first move to published,
    and the first move after it to repaired, revoked or expired. None where it has not happened."""
    registered = ended = None
    for row in record.history:
        day = clock.local_date(row.at)
        if registered is None and row.to_status == "published":
            registered = day
        elif registered is not None and ended is None and row.to_status in ENDED:
            ended = day
    if registered is None and record.status not in RECORD_UNREGISTERED:
        # Records from before the registration process kept no such row: publication stands in for it.
        registered = clock.local_date(record.published_at) if record.published_at else record.publication_start
    if ended is None and record.status in ENDED:
        ended = clock.local_date(record.updated_at)
    return registered, ended


def in_force_on(record: CreditRecord, day: date) -> bool:
    """A record restricts on `day` from the day it was registered up to (not including) the day it ended."""
    registered, ended = record_span(record)
    return registered is not None and registered <= day and (ended is None or day < ended)


def sanction_covers(sanction: Sanction, day: date) -> bool:
    """An award-restriction sanction covers `day` from its start through its term, unless lifted on or before."""
    if sanction.status not in ("active", "lifted") or sanction.start_date is None or sanction.start_date > day:
        return False
    if sanction.lifted_at is not None and clock.local_date(sanction.lifted_at) <= day:
        return False
    return sanction.term_end is None or day <= sanction.term_end


def award_eligibility(person: Person, day: date) -> AwardAnswer:
    """Whether a civil servant is restricted from awards (限制评优评先) on `day`, with the reasons."""
    reasons = []
    records = db.session.scalars(select(CreditRecord).where(
        CreditRecord.person_id == person.id, CreditRecord.status.not_in(RECORD_UNREGISTERED))
        .order_by(CreditRecord.basis_date, CreditRecord.id)).all()
    for record in records:
        if in_force_on(record, day):
            reasons.append(Restriction("record", record, None, record_span(record)[0],
                                       record.earliest_repair_date, record.auto_end_date))
    for sanction in db.session.scalars(select(Sanction).where(
            Sanction.kind == "award_restriction", Sanction.id.in_(
                select(sanction_record.c.sanction_id).join(CreditRecord, CreditRecord.id == sanction_record.c.record_id)
                .where(CreditRecord.person_id == person.id))).order_by(Sanction.id)):
        if sanction_covers(sanction, day):
            reasons.append(Restriction("sanction", None, sanction, sanction.start_date, sanction.term_end,
                                       sanction.term_end))
    return AwardAnswer(person, day, reasons)


def _may_query(user: User) -> None:
    if not user.has_role("personnel", *access.STAFF_ROLES):
        raise NotFound()


def query_award_eligibility(user: User, *, person_id: int | None = None, id_number=None,
                            day: date | None = None) -> AwardAnswer | None:
    """The organisation and HR departments' query (and the office's): by person or by ID number; every query is
    audited (who asked about whom). None when no person with that ID number is on file (so no record about them)."""
    _may_query(user)
    day = day or clock.local_today()
    if person_id is not None:
        person = found(db.session.get(Person, person_id))
        by = "person_id"
    else:
        person = find_by_number(checked_number(id_number))
        by = "id_number"
    answer = award_eligibility(person, day) if person is not None else None
    audit.record("person.query", object_type="person", object_id=person.id if person else "",
                 details={"by": by, "date": day.isoformat(), "found": person is not None,
                          "restricted": bool(answer and answer.restricted),
                          "records": [r.record.id for r in answer.reasons if r.record] if answer else []})
    return answer
