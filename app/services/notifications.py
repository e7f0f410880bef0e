"""In-app notifications per user (fanned out from a unit and role), with e-mail through the outbox."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask import current_app
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, update

from app.extensions import db, execute_plain
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
    """Send each message to every active user with its role in its unit, the recipients of all read in one query and
    the notifications written in one INSERT; return how many notifications were made."""
    wanted = {(m.unit_id, m.role) for m in messages if m.unit_id is not None}
    if not wanted:
        return 0
    # The columns a notification needs, not the accounts as objects (a step or timer sends a few of these), read on
    # the session's connection: no flush first. Recipients are accounts written before (an account is made and
    # given its roles in a flush of its own).
    pairs = sorted(wanted)
    bound = {}
    for i, (unit_id, role) in enumerate(pairs):
        bound[f"unit{i}"], bound[f"role{i}"] = unit_id, role
    rows = execute_plain(_recipients(len(pairs)), bound).all()
    holders: dict[tuple[int | None, str], list[Recipient]] = {}
    for user_id, unit_id, email, role in rows:
        holders.setdefault((unit_id, role), []).append(Recipient(user_id, unit_id, email))
    made = [(user, _values(user, m.kind, m.title, m.body, m.case_id))
            for m in messages for user in holders.get((m.unit_id, m.role), ())]
    _write(made)
    return len(made)


@lru_cache(maxsize=16)
def _recipients(count: int):
    """The active holders of `count` (unit, role) pairs (bound as unit0, role0, …), built once per count."""
    return (select(User.id, User.unit_id, User.email, UserRole.role).join(UserRole)
            .where(or_(*(and_(User.unit_id == bindparam(f"unit{i}"), UserRole.role == bindparam(f"role{i}"))
                         for i in range(count))), User.active.is_(True))
            .order_by(User.id))


class Recipient(NamedTuple):
    """What a notification needs of its account (a User serves as well)."""

    id: int
    unit_id: int
    email: str | None


_TABLE = Notification.__table__
# Several rows in one statement with their ids in the rows' order (SQLAlchemy's insertmanyvalues).
_INSERT_RETURNING_ID = _TABLE.insert().returning(_TABLE.c.id, sort_by_parameter_order=True)


def _values(user: User | Recipient, kind: str, title: str, body: str, case_id: int | None) -> dict:
    return {"unit_id": user.unit_id, "role": None, "user_id": user.id, "case_id": case_id, "kind": kind,
            "title": title, "body": body, "created_at": now(), "read_at": None}


def _write(made: list[tuple[User | Recipient, dict]]) -> None:
    """Write notifications as one plain INSERT (a notification is appended once, never read back as an object in its
    transaction); with mail configured, the rows' ids come back in order and each recipient with an address gets an
    e-mail keyed by its row's id, all queued in one more INSERT."""
    if not made:
        return
    rows = [values for _user, values in made]
    if not current_app.config.get("MAIL_SERVER"):
        execute_plain(_TABLE.insert(), rows)
        return
    ids = execute_plain(_INSERT_RETURNING_ID, rows).scalars().all()
    outbox.enqueue_many("email", [
        (f"email:notification:{row_id}",
         {"to": user.email, "subject": f"【{KINDS.get(values['kind'], values['kind'])}】{values['title']}",
          "body": values["body"] or values["title"]})
        for row_id, (user, values) in zip(ids, made, strict=True) if user.email])


def notify_user(user: User | Recipient, *, kind: str, title: str, body: str = "", case_id: int | None = None) -> None:
    """Tell one user (and queue an e-mail when they have an address and mail is configured)."""
    _write([(user, _values(user, kind, title, body, case_id))])


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
