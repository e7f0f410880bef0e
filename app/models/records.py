"""Dishonesty records, their history, rule sets and the working-day calendar."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, label
from app.models.org import Unit, User

CATEGORIES = {
    "judgment": _l("司法判决"),
    "admin_penalty": _l("行政处罚"),
    "discipline": _l("纪律处分"),
    "accountability": _l("问责处理"),
    "breach": _l("政务违约"),
}
SEVERITIES = {"minor": _l("轻微"), "general": _l("一般"), "serious": _l("严重")}
RECORD_STATUSES = {
    "published": _l("公示中"),
    "disputed": _l("异议中"),
    "corrected": _l("已更正"),
    "revoked": _l("已撤销"),
    "repaired": _l("已修复"),
    "expired": _l("已届满"),
}
# Status groups, defined once. Public: shown on 信用随州 and shared with the provincial platform.
RECORD_PUBLIC = ("published", "disputed", "corrected")
# Settled: public and not under objection — what an objection or a repair may be filed against, and what expires.
RECORD_SETTLED = ("published", "corrected")


class RuleSet(db.Model):
    """A versioned rule set: publication periods by severity and default time limits."""

    __tablename__ = "rule_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # {"minor": {"min_months": 0, "max_months": 3, "published": false}, ...}
    periods: Mapped[dict] = mapped_column(JSON)
    # {"objection_intake": 2, "objection_verify": 5, ...} in working days
    time_limits: Mapped[dict] = mapped_column(JSON)
    # When repair is barred, e.g. {"repeat_within_months": 12}: the same unit recorded again for the
    # same category within that many months after this record.
    repair_bar: Mapped[dict] = mapped_column(JSON, default=dict)


class CreditRecord(db.Model):
    __tablename__ = "credit_record"
    __table_args__ = (
        CheckConstraint(
            "status IN ('published','disputed','corrected','revoked','repaired','expired')", name="status"
        ),
        CheckConstraint("severity IN ('minor','general','serious')", name="severity"),
        CheckConstraint(
            "category IN ('judgment','admin_penalty','discipline','accountability','breach')", name="category"
        ),
        CheckConstraint("subject_type IN ('unit','person')", name="subject_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    person_name: Mapped[str | None] = mapped_column(String(40))
    person_post: Mapped[str | None] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    recording_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    basis_doc_no: Mapped[str] = mapped_column(String(80))
    basis_date: Mapped[date] = mapped_column(Date)
    facts: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="published", index=True)
    annotation: Mapped[str | None] = mapped_column(Text)
    publication_start: Mapped[date] = mapped_column(Date)
    earliest_repair_date: Mapped[date] = mapped_column(Date)
    auto_end_date: Mapped[date] = mapped_column(Date)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("rule_set.id"))
    rectified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    subject_unit: Mapped[Unit] = relationship(foreign_keys=[subject_unit_id])
    recording_unit: Mapped[Unit] = relationship(foreign_keys=[recording_unit_id])
    rule_set: Mapped[RuleSet] = relationship()
    history: Mapped[list[RecordHistory]] = relationship(
        order_by="RecordHistory.id", back_populates="record", lazy="selectin"
    )

    status_label = label("status", RECORD_STATUSES)
    category_label = label("category", CATEGORIES)
    severity_label = label("severity", SEVERITIES)

    @property
    def subject_label(self) -> str:
        if self.subject_type == "person":
            return f"{self.subject_unit.name} {self.person_post or ''} {self.person_name or ''}".strip()
        return self.subject_unit.name


class RecordHistory(db.Model):
    """Append-only change history of a record: who changed what, when, why, in which case."""

    __tablename__ = "record_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_record.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str | None] = mapped_column(String(12))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # {field: [old, new]}
    reason: Mapped[str] = mapped_column(Text, default="")

    record: Mapped[CreditRecord] = relationship(back_populates="history")
    user: Mapped[User | None] = relationship()


class CalendarDay(db.Model):
    """A date that differs from Monday–Friday: a weekday rest day or a weekend make-up workday."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column()
    name: Mapped[str] = mapped_column(String(40), default="")
    source: Mapped[str] = mapped_column(String(120))


class CalendarYear(db.Model):
    """A year whose State Council schedule is loaded; other years are provisional (weekends only)."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


SANCTION_KINDS = {
    "rectification_order": _l("限期整改"),
    "honor_disqualification": _l("取消荣誉评选资格"),
    "public_criticism": _l("公开通报批评"),
    "award_restriction": _l("限制评优评先"),
}
SANCTION_STATUSES = {"proposed": _l("拟实施"), "active": _l("实施中"), "lifted": _l("已解除"), "declined": _l("未批准")}

sanction_record = db.Table(
    "sanction_record",
    db.Column("sanction_id", db.ForeignKey("sanction.id", ondelete="CASCADE"), primary_key=True),
    db.Column("record_id", db.ForeignKey("credit_record.id"), primary_key=True),
)


class Sanction(db.Model):
    """A disciplinary measure (惩戒措施) resting on one or more records."""

    __tablename__ = "sanction"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('rectification_order','honor_disqualification','public_criticism','award_restriction')",
            name="kind",
        ),
        CheckConstraint("status IN ('proposed','active','lifted','declined')", name="status"),
        # A lifted sanction always says when, by which case and why.
        CheckConstraint("status <> 'lifted' OR (lifted_at IS NOT NULL AND lifted_reason IS NOT NULL)", name="lifted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    start_date: Mapped[date | None] = mapped_column(Date)
    term_end: Mapped[date | None] = mapped_column(Date)
    created_by_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    lifted_by_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    unit: Mapped[Unit] = relationship()
    records: Mapped[list[CreditRecord]] = relationship(secondary=sanction_record, lazy="selectin")
    history: Mapped[list[SanctionHistory]] = relationship(order_by="SanctionHistory.id", lazy="selectin")

    kind_label = label("kind", SANCTION_KINDS)
    status_label = label("status", SANCTION_STATUSES)


class SanctionHistory(db.Model):
    """Append-only history of a sanction's status changes."""

    __tablename__ = "sanction_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    sanction_id: Mapped[int] = mapped_column(ForeignKey("sanction.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")


class AppSetting(db.Model):
    """Small shared settings every process reads (e.g. the training clock's offset)."""

    __tablename__ = "app_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
