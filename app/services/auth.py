"""Logins, lockout and server-side sessions (web cookies and API bearer tokens)."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
import hashlib
import re
import secrets
from datetime import timedelta

import pyotp

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import LoginSession, User, UserRole
from app.services import audit
from app.core import write_intent
from app.core.clock import now, wall_now
from app.core.errors import Invalid

# Same answer for a wrong password, an unknown user and a locked account: nothing leaks.
LOGIN_FAILED = _l("用户名或密码错误，或账户已被临时锁定。")
# A dummy hash so that unknown users cost the same time as known ones.
_DUMMY_HASH = generate_password_hash("timing-equaliser-not-a-password")


# Set in the database session's info when resolving a session wrote something (touch, expiry and its audit row):
# the caller commits that before the view's own work, so a view's rollback cannot undo it.
SESSION_WRITTEN = "auth_session_written"
# A session's last_seen_at is written at most this often: not a write on every request.
_TOUCH_EVERY = timedelta(minutes=1)


def session_written() -> bool:
    """Say (once) whether the last resolve_session wrote something that must be committed now."""
    return bool(db.session.info.pop(SESSION_WRITTEN, False))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password (≥ 12 characters, 3 of 4 character classes)."""
    if len(password) < 12:
        return _("密码长度至少 12 位。")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 3:
        return _("密码须包含大写字母、小写字母、数字、符号中的至少三类。")
    return None


def hash_password(password: str) -> str:
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(password, method=method)


def create_user(username: str, display_name: str, unit_id: int, roles: list[str], password: str,
                email: str | None = None) -> User:
    """Create a user after checking the password policy (flushes only)."""
    problem = password_problem(password)
    if problem:
        raise Invalid(problem, fields={"password": problem})
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Invalid(_("用户名已存在。"), fields={"username": _("用户名已存在。")})
    user = User(username=username, display_name=display_name, unit_id=unit_id, email=email,
                password_hash=hash_password(password), password_changed_at=now(), failed_logins=0)
    user.role_rows = [UserRole(role=r) for r in roles]
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", object_type="user", object_id=user.id, details={"username": username, "roles": roles})
    return user


def authenticate(username: str, password: str, ip: str) -> User | None:
    """Check credentials with lockout after repeated failures; audit every attempt."""
    user = db.session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        audit.record("auth.login", outcome="failure", details={"username": (username or "")[:64], "why": "unknown"},
                     actor=audit.Actor(username=(username or "")[:64], ip=ip))
        return None
    actor = audit.Actor(user_id=user.id, username=user.username, unit_id=user.unit_id, ip=ip)
    if _locked(user):
        check_password_hash(_DUMMY_HASH, password or "")
        audit.record("auth.login", outcome="denied", details={"why": "locked"}, actor=actor)
        return None
    if not user.active or not check_password_hash(user.password_hash, password or ""):
        details = {"why": "password", "failures": user.failed_logins + 1}
        if _count_failure(user, actor):
            details["locked_until"] = user.locked_until.isoformat()
        audit.record("auth.login", outcome="failure", details=details, actor=actor)
        return None
    if not needs_second_factor(user):
        # A password alone completes this sign-in. For an admin or approver the failure count runs on through
        # the TOTP step and is cleared only by a correct code: wrong codes after a right password still lock.
        user.failed_logins = 0
        user.locked_until = None
    audit.record("auth.login", actor=actor)
    return user


def open_session(user: User, kind: str, ip: str) -> str:
    """Create a server-side session and return its secret token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(token_hash=_token_hash(token), kind=kind, user_id=user.id, created_at=now(),
                                last_seen_at=now(), ip=ip))
    db.session.flush()
    return token


def resolve_session(token: str, kind: str) -> User | None:
    """Return the user of a live session, touching it; None when revoked, unknown or idle too long."""
    if not token:
        return None
    # One round trip for the session, its user, roles and unit: this runs on every request.
    row = db.session.scalar(select(LoginSession).where(LoginSession.token_hash == _token_hash(token),
                                                       LoginSession.kind == kind)
                            .options(joinedload(LoginSession.user).joinedload(User.role_rows),
                                     joinedload(LoginSession.user).joinedload(User.unit)))
    if row is None or row.revoked_at is not None:
        return None
    cfg = current_app.config
    idle, max_age = ((cfg["IDLE_TIMEOUT"], cfg["SESSION_MAX_AGE"]) if kind == "web"
                     else (cfg["API_TOKEN_IDLE_TIMEOUT"], cfg["API_TOKEN_MAX_AGE"]))
    expired = ("idle" if now() - row.last_seen_at > idle
               else "lifetime" if now() - row.created_at > max_age else None)
    if expired or now() - row.last_seen_at > _TOUCH_EVERY:
        # A page that reads (GET) writes this touch or expiry in a writing transaction of its own; the row is
        # re-read there, so a revocation committed in between is seen.
        write_intent.writing()
        if row.revoked_at is not None:
            return None
    if expired:
        row.revoked_at = now()
        db.session.info[SESSION_WRITTEN] = True
        audit.record("auth.session_expired", object_type="session", object_id=row.id,
                     details={"kind": kind, "why": expired},
                     actor=audit.Actor(user_id=row.user_id, username=row.user.username, unit_id=row.user.unit_id))
        return None
    if now() - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now()
        db.session.info[SESSION_WRITTEN] = True
    user = row.user
    if not user.active:
        return None
    user.session_token = token
    return user


def revoke_session(token: str) -> bool:
    """Revoke one session (logout): every copy of its cookie or token stops working; say whether one was live."""
    result = db.session.execute(update(LoginSession).where(LoginSession.token_hash == _token_hash(token or ""),
                                                           LoginSession.revoked_at.is_(None))
                                .values(revoked_at=now()).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def revoke_all_sessions(user: User) -> None:
    """Revoke every session of a user (password change, deactivation)."""
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id,
                                                  LoginSession.revoked_at.is_(None)).values(revoked_at=now()))


# --- password change and expiry (QUALITY.md §3: expiry after 90 days) ---------------------------------------

def password_expired(user: User) -> bool:
    """Say whether the password must be changed before anything else: issued by an administrator, or too old."""
    return user.must_change_password or (
        now() - user.password_changed_at > timedelta(days=current_app.config["PASSWORD_MAX_AGE_DAYS"]))


def change_password(user: User, current: str, new: str, repeat: str) -> None:
    """Replace a password after checking the old one and the policy; every session of the user ends (flushes)."""
    if not check_password_hash(user.password_hash, current or ""):
        audit.record("auth.password_change", outcome="failure", object_type="user", object_id=user.id,
                     details={"why": "current"})
        raise Invalid(_("当前密码不正确。"), fields={"current": _("当前密码不正确。")}, audited=True)
    if new != repeat:
        raise Invalid(_("两次输入的新密码不一致。"), fields={"repeat": _("两次输入的新密码不一致。")})
    problem = password_problem(new or "")
    if problem:
        raise Invalid(problem, fields={"new": problem})
    if check_password_hash(user.password_hash, new):
        message = _("新密码不能与当前密码相同。")
        raise Invalid(message, fields={"new": message})
    user.password_hash = hash_password(new)
    user.password_changed_at = now()
    user.must_change_password = False
    revoke_all_sessions(user)
    audit.record("auth.password_change", object_type="user", object_id=user.id)
    db.session.flush()


# --- TOTP second factor for admin and approver (RFC 6238, 30-second steps, 6 digits) -------------------------

def needs_second_factor(user: User) -> bool:
    """Say whether this account signs in with a TOTP code as well as its password."""
    return user.has_role(*current_app.config["SECOND_FACTOR_ROLES"])


def second_factor_enrolled(user: User) -> bool:
    return bool(user.totp_secret and user.totp_confirmed_at)


def begin_enrolment(user: User) -> str:
    """Give the user an unconfirmed TOTP secret (kept until confirmed) and return it (flushes)."""
    if second_factor_enrolled(user):
        raise Invalid(_("该账户已绑定动态口令。"), code="already_enrolled")
    if not user.totp_secret:
        write_intent.writing()  # the enrolment page is a GET; the user is re-read in the writing transaction
        if not user.totp_secret:
            user.totp_secret = pyotp.random_base32()
            db.session.flush()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    """The otpauth:// address an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username,
                                                         issuer_name=current_app.config["TOTP_ISSUER"])


def verify_second_factor(user: User, code: str, ip: str) -> bool:
    """Accept a TOTP code once (no replay); failures count towards the login lockout; audit both outcomes."""
    actor = audit.Actor(user_id=user.id, username=user.username, unit_id=user.unit_id, ip=ip)
    code = re.sub(r"\s", "", code or "")
    step = _accepted_step(user, code) if (user.totp_secret and not _locked(user)) else None
    if step is None:
        _count_failure(user, actor)
        audit.record("auth.second_factor", outcome="failure", actor=actor)
        return False
    first = user.totp_confirmed_at is None
    user.totp_last_step = step
    user.failed_logins = 0
    user.locked_until = None
    if first:
        user.totp_confirmed_at = now()
        audit.record("auth.second_factor_enrol", object_type="user", object_id=user.id, actor=actor)
    audit.record("auth.second_factor", actor=actor)
    return True


def reset_second_factor(user: User) -> None:
    """Forget a lost authenticator: the next sign-in enrols a new one (flushes; an administrator's act)."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    revoke_all_sessions(user)
    audit.record("auth.second_factor_reset", object_type="user", object_id=user.id)
    db.session.flush()


def _locked(user: User) -> bool:
    return bool(user.locked_until and user.locked_until > now())


def _count_failure(user: User, actor: audit.Actor) -> bool:
    """Count a wrong password or code; at the limit lock the account (audited) and say so.

    The count is one counter for passwords and codes, web and API alike, incremented in the database
    (not read-modify-write in Python) so that parallel wrong attempts cannot overwrite each other's count.
    """
    cfg = current_app.config
    failures = db.session.execute(update(User).where(User.id == user.id)
                                  .values(failed_logins=User.failed_logins + 1)
                                  .returning(User.failed_logins)
                                  .execution_options(synchronize_session=False)).scalar_one()
    set_committed_value(user, "failed_logins", failures)
    if failures < cfg["LOGIN_MAX_FAILURES"]:
        return False
    user.locked_until = now() + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
    user.failed_logins = 0
    audit.record("auth.lockout", outcome="denied", object_type="user", object_id=user.id, actor=actor)
    return True


def _accepted_step(user: User, code: str) -> int | None:
    """Return the time step the code belongs to (±1 step for phone clock drift), if it was not used before."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = int(wall_now().timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue  # a code is good once: a shoulder-surfed or replayed code is refused
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None
