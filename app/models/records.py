"""Dishonesty records, their history, rule sets and the working-day calendar."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, label, partial_index
from app.models.org import Person, Unit, User

CATEGORIES = {
    "judgment": _l("司法判决"),
    "admin_penalty": _l("行政处罚"),
    "discipline": _l("纪律处分"),
    "accountability": _l("问责处理"),
    "breach": _l("政务违约"),
}
SEVERITIES = {"minor": _l("轻微"), "general": _l("一般"), "serious": _l("严重")}
RECORD_STATUSES = {
    "draft": _l("待报送"),
    "reviewing": _l("审核中"),
    "returned": _l("退回修改"),
    "withdrawn": _l("已撤回"),
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
# Shown on public pages: a public status and publication begun. Literal SQL, the WHERE of the partial indexes
# ix_credit_record_public*, so that a query saying the same words provably uses them (SQLite, generic plans).
RECORD_SHOWN_SQL = "status IN ('published', 'disputed', 'corrected') AND published_at IS NOT NULL"
# Its complement (neither part can be NULL): the records the public never sees, for the staff's list.
RECORD_UNSHOWN_SQL = f"NOT ({RECORD_SHOWN_SQL})"
# Not yet a record: entered by the recording unit, not (yet) accepted by the credit office — seen only by the recording
# unit and the office, never by the subject or the public, never pushed.
RECORD_UNREGISTERED = ("draft", "reviewing", "returned", "withdrawn")
# Where a record came from: entered on the page, through the API, or a row of a bulk import.
RECORD_SOURCES = {"web": _l("页面录入"), "api": _l("接口报送"), "import": _l("批量导入"), "seed": _l("演示数据")}


def _subject_key(context) -> str:
    params = context.get_current_parameters()
    return CreditRecord.key_for(params.get("subject_type"), params.get("subject_unit_id"), params.get("person_id"))


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
    # The rule set's legal choices as data (issue 13): read through app/services/rules.policy(rule_set, key), which
    # supplies the defaults (rules.DEFAULT_POLICY) for keys a version does not set.
    policy: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")


class CreditRecord(db.Model):
    __tablename__ = "credit_record"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft','reviewing','returned','withdrawn','published','disputed','corrected','revoked',"
            "'repaired','expired')", name="status"
        ),
        CheckConstraint("severity IN ('minor','general','serious')", name="severity"),
        CheckConstraint(
            "category IN ('judgment','admin_penalty','discipline','accountability','breach')", name="category"
        ),
        CheckConstraint("subject_type IN ('unit','person')", name="subject_type"),
        CheckConstraint("subject_type = 'unit' OR person_id IS NOT NULL", name="person_subject"),
        # One record per recording unit, basis document and subject: importing or posting it again finds it.
        UniqueConstraint("recording_unit_id", "basis_doc_no", "subject_key", name="uq_record_identity"),
        # The sweep's daily rules (migration 0015_requests): records past their period by status and end date, and
        # the few records whose publication has not begun, without reading the whole table each sweep.
        Index("ix_credit_record_status_auto_end", "status", "auto_end_date"),
        Index("ix_credit_record_publish_due", "publication_start", sqlite_where=text("published_at IS NULL"),
              postgresql_where=text("published_at IS NULL")),
        # The public list (migration 0015): newest basis date first, and one unit's records; the filters' columns
        # follow, so the page and its capped count are read from the index alone.
        Index("ix_credit_record_public", "basis_date", "id", "category", "severity", "rule_set_id", "subject_type",
              "subject_unit_id", sqlite_where=text(RECORD_SHOWN_SQL), postgresql_where=text(RECORD_SHOWN_SQL)),
        Index("ix_credit_record_public_unit", "subject_unit_id", "basis_date", "id", "subject_type", "category",
              "severity", "rule_set_id", sqlite_where=text(RECORD_SHOWN_SQL),
              postgresql_where=text(RECORD_SHOWN_SQL)),
        # One unit's own list, newest basis date first (migration 0017): the subject's (/portal/records, its status
        # in the index for the count of the pager) and the recording unit's (/records), read in order, never sorted.
        Index("ix_credit_record_subject_list", "subject_unit_id", "basis_date", "id", "status"),
        Index("ix_credit_record_recording_list", "recording_unit_id", "basis_date", "id"),
        # The credit office's list of every record (/records, services/register.py) reads the shown ones from
        # ix_credit_record_public and the others from this one, in the same order, merged: an index of every record
        # in that order drew SQLite's public-list plans off the covering public index (58 ms against 5).
        Index("ix_credit_record_unshown", "basis_date", "id", sqlite_where=text(RECORD_UNSHOWN_SQL),
              postgresql_where=text(RECORD_UNSHOWN_SQL)),
        # The basis document number searched by its beginning (services/prefix.py: byte-wise ranges).
        Index("ix_credit_record_doc_no", "basis_doc_no", postgresql_ops={"basis_doc_no": "text_pattern_ops"}),
        # The public list's count of a document prefix many records share (migration 0018, PostgreSQL only): the
        # shown records' numbers with the columns the list filters on, so the first 1,001 matches are read from
        # the index alone instead of every entry of the prefix's range and its table rows (10–16 ms → 0.4 ms for
        # 随财罚 at a million records). SQLite's plans for that count are already ranges of the index above.
        Index("ix_credit_record_public_doc_no", "basis_doc_no", "category", "severity", "rule_set_id",
              postgresql_ops={"basis_doc_no": "text_pattern_ops"},
              postgresql_where=text(RECORD_SHOWN_SQL)).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))  # indexed by ix_credit_record_subject_list
    # A civil servant: the person, and their name and post as the record states them (a snapshot).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    person_name: Mapped[str | None] = mapped_column(String(40))
    person_post: Mapped[str | None] = mapped_column(String(80))
    # "unit:<id>" or "person:<id>": the subject half of the record's identity (uq_record_identity).
    subject_key: Mapped[str] = mapped_column(String(24), default=_subject_key)
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    recording_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))  # ix_credit_record_recording_list
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
    # When publication began (shown publicly and pushed); None before, and always for unpublished (minor) records.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A court's record (失信被执行人 and other judicial records): changed only on the court's instruction.
    judicial: Mapped[bool] = mapped_column(default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(10), default="web", server_default="seed")
    import_id: Mapped[int | None] = mapped_column(ForeignKey("record_import.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    subject_unit: Mapped[Unit] = relationship(foreign_keys=[subject_unit_id])
    person: Mapped[Person | None] = relationship()
    recording_unit: Mapped[Unit] = relationship(foreign_keys=[recording_unit_id])
    rule_set: Mapped[RuleSet] = relationship()
    history: Mapped[list[RecordHistory]] = relationship(
        order_by="RecordHistory.id", back_populates="record", lazy="selectin"
    )

    status_label = label("status", RECORD_STATUSES)
    category_label = label("category", CATEGORIES)
    severity_label = label("severity", SEVERITIES)
    source_label = label("source", RECORD_SOURCES, fallback=True)

    @property
    def subject_label(self) -> str:
        """For staff and the subject: the unit, or the person with their post and unit."""
        if self.subject_type == "person":
            return f"{self.subject_unit.name} {self.person_post or ''} {self.person_name or ''}".strip()
        return self.subject_unit.name

    @property
    def public_subject(self) -> str:
        """For public pages: a unit by name; a person never identified (name, post and unit together would)."""
        if self.subject_type == "person":
            return "公职人员（依法不公开个人信息）"
        return self.subject_unit.name

    @staticmethod
    def key_for(subject_type: str, subject_unit_id: int | None, person_id: int | None) -> str:
        return f"person:{person_id}" if subject_type == "person" else f"unit:{subject_unit_id}"


class RecordImport(db.Model):
    """One bulk import of records (批量导入): who, when, which file (SHA-256) and what it created."""

    __tablename__ = "record_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    existing: Mapped[int] = mapped_column(default=0)  # rows already on file (same identity): not created again
    record_ids: Mapped[list] = mapped_column(JSON, default=list)

    user: Mapped[User] = relationship()


class IdempotencyKey(db.Model):
    """An API client's Idempotency-Key: a retry of the same request answers with what the first one made."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))  # the same key with another body is refused
    status: Mapped[int] = mapped_column()
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
        Index("ix_sanction_kind_status_term", "kind", "status", "term_end"),  # the daily rule: terms that ended
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
