"""Account administration by the system administrator: create with roles, edit, deactivate, unlock, reset.

Each change is audited. A password the administrator hands over is generated here, meets the policy of
app.services.auth, is returned once (never stored in clear, never logged) and must be changed at the next sign-in.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.clock import now
from app.core.errors import Invalid, found
from app.extensions import db
from app.models import LoginSession, Unit, User, UserRole
from app.models.org import ROLES
from app.services import audit, auth

# MLPS level 3 (GB/T 22239-2019 8.1.4.2): the system administrator and the audit administrator are separate
# people, and neither works cases; case roles may be combined (object rules and separation of duties decide more).
SEPARATE_ROLES = ("admin", "auditor")
# The issued password: 16 characters from all four classes, without look-alikes (0/O, 1/l/I) for reading it out.
_ALPHABETS = ("abcdefghijkmnpqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "#%+-=@")
ISSUED_LENGTH = 16
USERNAME = re.compile(r"[A-Za-z0-9_.\-]{2,64}")


@dataclass(frozen=True)
class Issued:
    """An account and the password issued to it, shown to the administrator once."""

    user: User
    password: str


def generate_password() -> str:
    """A random password that meets the policy: at least one character of every class."""
    pool = "".join(_ALPHABETS)
    chars = [secrets.choice(a) for a in _ALPHABETS] + [secrets.choice(pool) for _ in range(ISSUED_LENGTH - 4)]
    secrets.SystemRandom().shuffle(chars)
    password = "".join(chars)
    assert auth.password_problem(password) is None  # the policy and this generator must agree
    return password


def all_users() -> list[User]:
    """Every account, active first, then by username."""
    return list(db.session.scalars(select(User).order_by(User.active.desc(), User.username)))


def get_user(user_id: int) -> User:
    return found(db.session.get(User, user_id))


def locked(user: User) -> bool:
    """Whether the account is locked out now by failed sign-ins."""
    return bool(user.locked_until and user.locked_until > now())


def role_problem(roles: list[str] | set[str]) -> str | None:
    """Say what is wrong with a set of roles (none, unknown, or an administrator role combined with another)."""
    roles = set(roles)
    if not roles:
        return _("请至少选择一个角色。")
    unknown = sorted(roles - set(ROLES))
    if unknown:
        return _("未知角色：%(roles)s。", roles="、".join(unknown))
    for role in SEPARATE_ROLES:
        if role in roles and len(roles) > 1:
            return _("%(role)s不能兼任其他角色（三员分立）。", role=ROLES[role])
    return None


def _check_unit(unit_id: int | None, *, current: int | None = None) -> Unit:
    unit = db.session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        raise Invalid(_("所属单位不存在。"), fields={"unit_id": _("所属单位不存在。")})
    if not unit.active and unit.id != current:
        raise Invalid(_("所属单位已停用，不能新增或调入账户。"), fields={"unit_id": _("所属单位已停用，不能新增或调入账户。")})
    return unit


def _check_roles(roles: list[str]) -> list[str]:
    problem = role_problem(roles)
    if problem:
        raise Invalid(problem, fields={"roles": problem})
    return sorted(set(roles))


def create_account(username: str, display_name: str, unit_id: int | None, roles: list[str], *,
                   email: str | None = None, password: str | None = None) -> Issued:
    """Create an account in an active unit; without `password` one is generated and must be changed (flushes)."""
    username, display_name = (username or "").strip(), (display_name or "").strip()
    if not USERNAME.fullmatch(username):
        message = _("用户名为 2–64 位字母、数字、点、下划线或连字符。")
        raise Invalid(message, fields={"username": message})
    if not display_name:
        raise Invalid(_("请填写姓名。"), fields={"display_name": _("请填写姓名。")})
    roles = _check_roles(roles)
    unit = _check_unit(unit_id)
    issued = password is None
    password = generate_password() if issued else password
    user = auth.create_user(username, display_name, unit.id, roles, password, email=(email or "").strip() or None)
    if issued:
        user.must_change_password = True
        db.session.flush()
    return Issued(user=user, password=password)


def edit_account(user: User, *, display_name: str, unit_id: int | None, roles: list[str], email: str | None,
                 acting: User | None = None) -> dict:
    """Change name, unit, roles and e-mail; return {field: [old, new]}. A changed role or unit ends the sessions."""
    display_name = (display_name or "").strip()
    if not display_name:
        raise Invalid(_("请填写姓名。"), fields={"display_name": _("请填写姓名。")})
    roles = _check_roles(roles)
    unit = _check_unit(unit_id, current=user.unit_id)
    if acting is not None and acting.id == user.id and "admin" not in roles:
        raise Invalid(_("不能取消自己的系统管理员角色。"), fields={"roles": _("不能取消自己的系统管理员角色。")})
    email = (email or "").strip() or None
    changes = {}
    if user.display_name != display_name:
        changes["display_name"] = [user.display_name, display_name]
        user.display_name = display_name
    if user.email != email:
        changes["email"] = [user.email, email]
        user.email = email
    if user.unit_id != unit.id:
        changes["unit_id"] = [user.unit_id, unit.id]
        user.unit_id = unit.id
    if sorted(user.roles) != roles:
        changes["roles"] = [sorted(user.roles), roles]
        user.role_rows = [row for row in user.role_rows if row.role in roles]
        db.session.flush()  # delete the dropped roles before adding (user_id, role) is unique
        user.role_rows.extend(UserRole(role=r) for r in roles if r not in user.roles)
    if changes:
        if "roles" in changes or "unit_id" in changes:
            # What the holder may reach changed: sessions opened under the old roles or unit end.
            auth.revoke_all_sessions(user)
        db.session.flush()
        audit.record("user.edit", object_type="user", object_id=user.id, details={"changes": changes})
    return changes


def deactivate(user: User, reason: str, *, acting: User | None = None) -> None:
    """Disable an account: it cannot sign in and every session and API token of it ends (audited)."""
    reason = _reason(reason)
    if acting is not None and acting.id == user.id:
        raise Invalid(_("不能停用自己的账户。"), code="self")
    if not user.active:
        raise Invalid(_("该账户已停用。"), code="user_inactive")
    user.active = False
    auth.revoke_all_sessions(user)
    db.session.flush()
    audit.record("user.deactivate", object_type="user", object_id=user.id, details={"reason": reason})


def reactivate(user: User, reason: str) -> None:
    """Enable a disabled account again, if its unit is active (audited)."""
    reason = _reason(reason)
    if user.active:
        raise Invalid(_("该账户已是启用状态。"), code="user_active")
    if not user.unit.active:
        raise Invalid(_("所属单位已停用，请先调整账户的单位。"), code="unit_inactive")
    user.active = True
    db.session.flush()
    audit.record("user.reactivate", object_type="user", object_id=user.id, details={"reason": reason})


def unlock(user: User) -> None:
    """Lift a lockout after failed sign-ins and clear the failure count (audited)."""
    if not locked(user) and not user.failed_logins:
        raise Invalid(_("该账户未被锁定，也没有失败的登录尝试。"), code="not_locked")
    details = {"locked_until": user.locked_until.isoformat() if locked(user) else None,
               "failed_logins": user.failed_logins}
    user.locked_until = None
    user.failed_logins = 0
    db.session.flush()
    audit.record("user.unlock", object_type="user", object_id=user.id, details=details)


def reset_password(user: User) -> str:
    """Issue a new password (returned once): the old one stops working, sessions end, it is changed at sign-in."""
    password = generate_password()
    user.password_hash = auth.hash_password(password)
    user.password_changed_at = now()
    user.must_change_password = True
    auth.revoke_all_sessions(user)
    db.session.flush()
    audit.record("user.password_reset", object_type="user", object_id=user.id)
    return password


def reset_second_factor(user: User) -> None:
    """Forget a lost authenticator (auth.reset_second_factor audits it); refused when there is none to forget."""
    if not user.totp_secret:
        raise Invalid(_("该账户没有绑定动态口令。"), code="no_second_factor")
    auth.reset_second_factor(user)


def live_sessions(user: User) -> int:
    """How many sessions and API tokens of the account are not revoked (idle ones end when next used)."""
    return len(db.session.scalars(select(LoginSession.id).where(LoginSession.user_id == user.id,
                                                                 LoginSession.revoked_at.is_(None))).all())


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请填写原因。"), code="reason_required", fields={"reason": _("请填写原因。")})
    return reason[:500]
