"""Units, users, roles and login sessions."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._types import UTCDateTime, label

UNIT_KINDS = {
    "government": _l("政府"),
    "department": _l("部门"),
    "institution": _l("事业单位"),
    "grassroots": _l("基层自治组织"),
}

ROLES = {
    "applicant": _l("申请单位经办人"),
    "intake": _l("信用办受理员"),
    "verifier": _l("认定单位核查员"),
    "approver": _l("信用办负责人"),
    "admin": _l("系统管理员"),
    "auditor": _l("审计管理员"),
    "personnel": _l("组织人事部门查询员"),
}


class Unit(db.Model):
    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint("kind IN ('government','department','institution','grassroots')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    region: Mapped[str] = mapped_column(String(40), default="")
    # The credit office itself: its staff hold intake/approver roles for the whole city.
    is_credit_office: Mapped[bool] = mapped_column(default=False)
    # A deactivated unit gets no new accounts and is not offered in forms; what it made or received stays.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

    parent: Mapped[Unit | None] = relationship(remote_side=[id])

    kind_label = label("kind", UNIT_KINDS, fallback=True)


class Person(db.Model):
    """A civil servant who can be a record's subject (个人信息保护法: the minimum, the ID number encrypted at rest).

    The ID number is kept three ways: encrypted (readable with the configured key only), as a keyed digest (to find the
    same person again without decrypting) and masked for display. Name, post and unit are the current ones; the posts
    held over time are PersonPost rows."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    id_cipher: Mapped[str | None] = mapped_column(Text)
    id_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str] = mapped_column(String(24), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    post: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    unit: Mapped[Unit] = relationship()
    posts: Mapped[list[PersonPost]] = relationship(order_by="PersonPost.start_date", lazy="selectin",
                                                   back_populates="person")


class PersonPost(db.Model):
    """A post a person held in a unit, from a date (to a date once they moved on)."""

    __tablename__ = "person_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    post: Mapped[str] = mapped_column(String(80))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="posts")
    unit: Mapped[Unit] = relationship()


class User(db.Model):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)
    # Set when an administrator issued the password (new account, reset): it is changed at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # TOTP second factor (admin and approver): secret set at enrolment, confirmed by a first valid code.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    unit: Mapped[Unit] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    # Flask-Login protocol. The id handed to the session cookie is the server-side session
    # token, so logging out (revoking the row) kills every copy of the cookie.
    session_token = None  # set per request from the server-side session
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class UserRole(db.Model):
    __tablename__ = "user_role"
    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint("role IN ('applicant','intake','verifier','approver','admin','auditor','personnel')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))


class LoginSession(db.Model):
    """A server-side session (web cookie or API bearer token); revoking it logs the holder out."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="web")  # web | api
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship()


class SavedFilter(db.Model):
    """A named set of inbox filters; shared ones are offered to every colleague with the same roles."""

    __tablename__ = "saved_filter"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSON)
    shared: Mapped[bool] = mapped_column(default=False)

    owner: Mapped[User] = relationship()
