"""Deployed process definitions, running instances and their SQL projections (ENGINE.md)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, partial_index


class ProcessDefinition(db.Model):
    """One immutable row per deployed version of a process (keyed by the files' hash)."""

    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_process_definition_key_version"),
        UniqueConstraint("process_key", "file_hash", name="uq_process_definition_key_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column()
    file_hash: Mapped[str] = mapped_column(String(64))
    sources: Mapped[dict] = mapped_column(JSON)  # {filename: xml text}
    spec_json: Mapped[str] = mapped_column(Text)  # serialized top-level spec + subprocess specs
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessInstance(db.Model):
    __tablename__ = "process_instance"
    __table_args__ = (CheckConstraint("status IN ('running','completed','error')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="running")
    state: Mapped[str] = mapped_column(Text)  # serialized workflow without the spec
    serializer_version: Mapped[str] = mapped_column(String(10))
    lock_version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    definition: Mapped[ProcessDefinition] = relationship()


class HumanTask(db.Model):
    """Projection of an open (or finished) BPMN user task; queues read only this table."""

    __tablename__ = "human_task"
    __table_args__ = (
        CheckConstraint("status IN ('open','completed','cancelled')", name="status"),
        CheckConstraint("status <> 'completed' OR (completed_at IS NOT NULL)", name="completed"),
        partial_index("ix_human_task_open_lane_due", "lane", "candidate_unit_id", "due_at", "id", where="status='open'"),
        # Credit-office lanes are not bound to a unit: their queues are read in due order by lane alone.
        partial_index("ix_human_task_open_lane_only_due", "lane", "due_at", "id", where="status='open'"),
        # Queues filtered by process type, in due order.
        partial_index("ix_human_task_open_lane_type_due", "lane", "case_type", "due_at", "id", where="status='open'"),
        # The 已办 tab: a person's completed tasks, newest first.
        # (id last: tasks completed at one instant are still read in order, never sorted; 0015)
        partial_index("ix_human_task_done_by", "completed_by_id", "completed_at", "id",
                      where="completed_by_id IS NOT NULL"),
        # The 已办 tab filtered by process: a reviewer's many done tasks are not read to find a few.
        partial_index("ix_human_task_done_by_type", "completed_by_id", "case_type", "completed_at", "id",
                      where="completed_by_id IS NOT NULL"),
        # Dashboard: overdue open tasks by type and their cases, and the on-time rate of completed tasks by type,
        # read from this index alone (status leads: SQLite covers a query only with every column it names).
        Index("ix_human_task_status_due_figures", "status", "due_at", "case_type", "case_id", "completed_at"),
        # Only claimed tasks: planners then see the index as selective for "my tasks".
        partial_index("ix_human_task_open_assigned_due", "assignee_id", "due_at", "id",
                      where="status='open' AND assignee_id IS NOT NULL"),
        # The inbox's business filters on the copied case/record facts, in due order (0015): a value rare in a
        # lane is found by a range of its own, never by walking the lane.
        partial_index("ix_human_task_open_lane_unit_due", "lane", "applicant_unit_id", "due_at", "id",
                      where="status='open'"),
        partial_index("ix_human_task_open_lane_category_due", "lane", "category", "due_at", "id", where="status='open'"),
        partial_index("ix_human_task_open_lane_severity_due", "lane", "severity", "due_at", "id", where="status='open'"),
        # The same filters on the 已办 tab, newest first.
        partial_index("ix_human_task_done_by_unit", "completed_by_id", "applicant_unit_id", "completed_at", "id",
                      where="completed_by_id IS NOT NULL"),
        partial_index("ix_human_task_done_by_category", "completed_by_id", "category", "completed_at", "id",
                      where="completed_by_id IS NOT NULL"),
        partial_index("ix_human_task_done_by_severity", "completed_by_id", "severity", "completed_at", "id",
                      where="completed_by_id IS NOT NULL"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task UUID
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    bpmn_id: Mapped[str] = mapped_column(String(60))
    # The case's process type, copied here so queue filters by process need no join.
    case_type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    form_key: Mapped[str] = mapped_column(String(60))
    # The case's applicant unit and its record's category and severity, copied here so the inbox's filters need no
    # join (app/services/inbox/facts.py fills them for new tasks and follows a record's correction).
    applicant_unit_id: Mapped[int | None] = mapped_column()
    category: Mapped[str | None] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(10))
    lane: Mapped[str] = mapped_column(String(20))
    # Applicant and verifier tasks belong to one unit; credit-office tasks to the office.
    candidate_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(12), default="open")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_provisional: Mapped[bool] = mapped_column(default=False)
    due_days: Mapped[int | None] = mapped_column()  # the time limit in working days, to recompute
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    case = relationship("Case")
    assignee = relationship("User", foreign_keys=[assignee_id])


class TimerJob(db.Model):
    """Projection of a waiting BPMN timer; the worker picks due rows from here."""

    __tablename__ = "timer_job"
    __table_args__ = (
        CheckConstraint("status IN ('pending','fired','cancelled')", name="status"),
        partial_index("ix_timer_job_pending_fire_at", "fire_at", where="status='pending'"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # timer task UUID
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    bpmn_id: Mapped[str] = mapped_column(String(60))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default="pending")
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(db.Model):
    """A side effect outside the database, delivered after commit and retried until done."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending','sending','delivered','failed')", name="status"),
        partial_index("ix_outbox_pending_next", "next_attempt_at", where="status='pending'"),
        partial_index("ix_outbox_sending_claimed", "claimed_until", where="status='sending'"),  # expired claims
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # email | push | notify
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A worker that claimed the row holds it until then; a crashed worker's claim simply expires.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Conditions written as SQL literals, not bound parameters: the queue and sweep indexes are partial
# (WHERE status='open' / 'pending'), and a planner can only use them when it sees the literal.
TASK_IS_OPEN = HumanTask.status == literal_column("'open'")
TIMER_IS_PENDING = TimerJob.status == literal_column("'pending'")
MESSAGE_IS_PENDING = OutboxMessage.status == literal_column("'pending'")
