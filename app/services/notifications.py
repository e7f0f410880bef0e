"""In-app notifications per user (fanned out from a unit and role), with e-mail through the outbox."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask import current_app
from typing import NamedTuple

from sqlalchemy import and_, func, or_, select, update

from app.extensions import db
from app.models import Notification, User, UserRole
from app.services import audit, outbox
from app.core.clock import now

KINDS = {
    "new_task": _l("新待办"),
    "reminder": _l("期限提醒"),
    "overdue": _l("超期"),
    "escalation": _l("超期报告"),
    "decision": _l("决定出具"),
    "letter": _l("文书出具"),
    "record": _l("失信记录告知"),
}


class Message(NamedTuple):
    """One notification for every active user with `role` in `unit_id` (see notify_many)."""

    unit_id: int | None
    role: str
    kind: str
    title: str
    body: str = ""
    case_id: int | None = None


def notify(unit_id: int | None, role: str, *, kind: str, title: str, body: str = "", case_id: int | None = None) -> int:
    """Tell every active user with this role in this unit; queue an e-mail for those with an address."""
    return notify_many([Message(unit_id, role, kind, title, body, case_id)])


def notify_many(messages: list[Message]) -> int:
    """Send each message to every active user with its role in its unit, the recipients of all read in one query;
    return how many notifications were made."""
    wanted = {(m.unit_id, m.role) for m in messages if m.unit_id is not None}
    if not wanted:
        return 0
    # The columns a notification needs, not the accounts as objects (a step or timer sends a few of these). No flush
    # first: recipients are accounts written before (an account is made and given its roles in a flush of its own),
    # and the step's events and notifications pending now are written together later.
    rows = db.session.execute(
        select(User.id, User.unit_id, User.email, UserRole.role).join(UserRole)
        .where(or_(*(and_(User.unit_id == unit_id, UserRole.role == role) for unit_id, role in sorted(wanted))),
               User.active.is_(True))
        .order_by(User.id).execution_options(autoflush=False)
    ).all()
    holders: dict[tuple[int | None, str], list[Recipient]] = {}
    for user_id, unit_id, email, role in rows:
        holders.setdefault((unit_id, role), []).append(Recipient(user_id, unit_id, email))
    sent = 0
    for m in messages:
        for user in holders.get((m.unit_id, m.role), ()):
            notify_user(user, kind=m.kind, title=m.title, body=m.body, case_id=m.case_id)
            sent += 1
    return sent


class Recipient(NamedTuple):
    """What a notification needs of its account (a User serves as well)."""

    id: int
    unit_id: int
    email: str | None


def notify_user(user: User | Recipient, *, kind: str, title: str, body: str = "", case_id: int | None = None) -> None:
    """Tell one user (and queue an e-mail when they have an address and mail is configured)."""
    row = Notification(unit_id=user.unit_id, role=None, user_id=user.id, case_id=case_id, kind=kind, title=title,
                       body=body, created_at=now())
    db.session.add(row)
    if current_app.config.get("MAIL_SERVER") and user.email:
        db.session.flush()  # the e-mail's idempotency key is the row's id
        outbox.enqueue("email", f"email:notification:{row.id}",
                       {"to": user.email, "subject": f"【{KINDS.get(kind, kind)}】{title}", "body": body or title})


UNREAD_CAP = 99  # the top bar's badge says "99+" beyond this: every page shows it, so it counts no further


def unread_count(user: User) -> int:
    """The user's unread notifications, counted no further than UNREAD_CAP + 1."""
    unread = (select(Notification.id).where(Notification.user_id == user.id, Notification.read_at.is_(None))
              .limit(UNREAD_CAP + 1).subquery())
    return db.session.scalar(select(func.count()).select_from(unread))


def unread_badge(user: User) -> str:
    """The top bar's badge: the unread count, "99+" beyond UNREAD_CAP, "" when none."""
    count = unread_count(user)
    return "" if not count else f"{UNREAD_CAP}+" if count > UNREAD_CAP else str(count)


def recent(user: User, limit: int = 100) -> list[Notification]:
    return list(db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc()).limit(limit)
    ))


def mark_all_read(user: User) -> int:
    """Mark the user's unread notifications read; return how many."""
    result = db.session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=now())
    )
    audit.record("notification.read", object_type="user", object_id=user.id, details={"count": result.rowcount})
    return result.rowcount
