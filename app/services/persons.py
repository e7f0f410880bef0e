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
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.core import clock
from app.core.clock import now
from app.core.errors import Invalid
from app.extensions import db
from app.models import Person, PersonPost, Unit

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
        person = db.session.get(Person, int(value)) if str(value).isdigit() and not isinstance(value, bool) else None
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
    if isinstance(unit_raw, bool) or not str(unit_raw or "").strip().isdigit():
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
        if (person.unit_id, person.post) != (unit.id, post):
            move(person, unit, post)
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
