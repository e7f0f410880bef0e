"""All models, importable from one place."""
from app.models.audit import AuditEvent
from app.models.cases import (
    CASE_OPEN,
    CASE_PENDING,
    CASE_STATUSES,
    CASE_TYPES,
    Attachment,
    Case,
    CaseEvent,
    Letter,
    LetterTemplate,
    LookupAttempt,
    NumberSequence,
    Notification,
)
from app.models.org import ROLES, UNIT_KINDS, LoginSession, Person, PersonPost, SavedFilter, Unit, User, UserRole
from app.models.records import (
    SANCTION_KINDS,
    SANCTION_STATUSES,
    AppSetting,
    Sanction,
    SanctionHistory,
    sanction_record,
    CATEGORIES,
    RECORD_PUBLIC,
    RECORD_SHOWN_SQL,
    RECORD_UNSHOWN_SQL,
    RECORD_SETTLED,
    RECORD_SOURCES,
    RECORD_STATUSES,
    RECORD_UNREGISTERED,
    IdempotencyKey,
    RecordImport,
    SEVERITIES,
    CalendarDay,
    CalendarYear,
    CreditRecord,
    RecordHistory,
    RuleSet,
)
from app.models.workflow import (
    MESSAGE_IS_PENDING,
    TASK_IS_OPEN,
    TIMER_IS_PENDING,
    HumanTask,
    OutboxMessage,
    ProcessDefinition,
    ProcessInstance,
    TimerJob,
)

__all__ = [name for name in dir() if not name.startswith("_")]
