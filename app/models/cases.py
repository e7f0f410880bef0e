"""Cases (one per process run), their history, attachments, letters and notifications."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from datetime import date, datetime

from sqlalchemy import (
    JSON, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, label, partial_index
from app.models.org import Unit, User
from app.models.records import CreditRecord, RuleSet

CASE_TYPES = {
    "registration": _l("认定登记"),
    "source_change": _l("认定变更"),
    "objection": _l("异议处理"),
    "rectification": _l("限期整改"),
    "repair": _l("信用修复"),
    "restoration": _l("荣誉评选资格恢复"),
}
CASE_STATUSES = {
    "draft": _l("草稿"),
    "in_progress": _l("办理中"),
    "supplement": _l("待补正"),
    "closed": _l("已办结"),
    "rejected": _l("不予受理"),
    "withdrawn": _l("已撤回"),
}
# Status groups, defined once. Open: submitted and not yet ended; pending: not yet ended, drafts included.
CASE_OPEN = ("in_progress", "supplement")
CASE_PENDING = ("draft", *CASE_OPEN)


class Case(db.Model):
    __tablename__ = "case"
    __table_args__ = (
        CheckConstraint("type IN ('registration','source_change','objection','rectification','repair','restoration')",
                        name="type"),
        CheckConstraint(
            "status IN ('draft','in_progress','supplement','closed','rejected','withdrawn')", name="status"
        ),
        # A closed case always says when it closed and how.
        CheckConstraint("status NOT IN ('closed','rejected','withdrawn') OR closed_at IS NOT NULL", name="closed_at"),
        # One open objection per record (SPEC §4.1.1), enforced by the database as well.
        partial_index("uq_case_open_objection", "record_id", unique=True,
                      where="type='objection' AND status IN ('in_progress','supplement')"),
        # Dashboard figures read from indexes alone: open cases by type and unit (and which have an overdue
        # task), cases submitted per month, handling time of recently closed cases. The first serves any
        # filter on status too.
        Index("ix_case_status_unit_type", "status", "applicant_unit_id", "type", "id"),
        Index("ix_case_submitted_type", "submitted_at", "type"),
        Index("ix_case_status_closed", "status", "closed_at", "submitted_at"),
        # The applicant unit's own list, newest first (/portal/cases, migration 0017): what access.case_filter asks
        # of a case is in the index, so the page and the pager's count never read the table's rows.
        Index("ix_case_applicant_list", "applicant_unit_id", "id", "type", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(24), unique=True)
    query_code: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")  # indexed by ix_case_status_unit_type
    outcome: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_record.id"), index=True)
    applicant_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))  # indexed by ix_case_applicant_list
    # None when the system opened the case (a repair's follow-up, a sanction's term ending).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("rule_set.id"))
    # The application form as filed: reason code, statement, requested corrections...
    form: Mapped[dict] = mapped_column(JSON, default=dict)
    current_step: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    record: Mapped[CreditRecord] = relationship()
    applicant_unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()
    rule_set: Mapped[RuleSet] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(order_by="CaseEvent.id", back_populates="case")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.uploaded_at", back_populates="case")
    letters: Mapped[list[Letter]] = relationship(order_by="Letter.id", back_populates="case")

    type_label = label("type", CASE_TYPES)
    status_label = label("status", CASE_STATUSES)


class CaseEvent(db.Model):
    """Append-only case history: every step, decision, comment and letter."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(60), default="")
    choice: Mapped[str | None] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Internal opinions are for staff only; the applicant sees only public events.
    internal: Mapped[bool] = mapped_column(default=False)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")
    user: Mapped[User | None] = relationship()


class Attachment(db.Model):
    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # generated; also the storage key
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="attachments")


class NumberSequence(db.Model):
    """Gap-free counter per series and year (letters, case numbers), bumped in the using transaction."""

    __tablename__ = "number_sequence"

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)


class Letter(db.Model):
    """An issued letter: immutable once issued (content, number and hash never change)."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("series", "year", "seq", name="uq_letter_series_year_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(60))
    series: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column()
    doc_number: Mapped[str] = mapped_column(String(60), unique=True)
    addressee: Mapped[str] = mapped_column(String(120))
    issued_on: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verify_code: Mapped[str] = mapped_column(String(24), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    data: Mapped[dict] = mapped_column(JSON)
    # The letter_template version its body was written from (0: the built-in text of its letter type).
    template_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # 送达: when and how the addressee received it ('electronic': a user of the addressee unit opened it in the app;
    # otherwise the office enters the date and the way, e.g. 'post', 'in_person'). Deadlines that depend on the
    # letter run from delivered_at.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_method: Mapped[str | None] = mapped_column(String(20))
    delivered_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    delivery_note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="letters")


class LetterTemplate(db.Model):
    """One saved version of a letter type's text, as an administrator edited it; the newest version is used."""

    __tablename__ = "letter_template"
    __table_args__ = (UniqueConstraint("letter_type", "version", name="uq_letter_template_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_type: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    formula: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(db.Model):
    """An in-app message to a unit (optionally one role there) or to one user."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# What may be written on an issued letter afterwards: its delivery (送达), once, from nothing.
LETTER_DELIVERY_COLUMNS = ("delivered_at", "delivery_method", "delivered_by_id", "delivery_note")


@event.listens_for(Letter, "before_update")
def _letters_are_immutable(mapper, connection, target):
    """An issued letter never changes: refuse any UPDATE through the ORM but the one recording its delivery."""
    from sqlalchemy import inspect as inspect_row

    state = inspect_row(target)
    changed = {attr.key: attr.history for attr in state.attrs if attr.history.has_changes()}
    first_delivery = changed and all(
        key in LETTER_DELIVERY_COLUMNS and not any(v is not None for v in history.deleted)
        for key, history in changed.items())
    if not first_delivery:
        raise ValueError(f"letter {target.id} is issued and immutable")


class LookupAttempt(db.Model):
    """A public progress lookup, kept to rate-limit guessing of query codes per address."""

    __tablename__ = "lookup_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
