"""Login and logout, and the interface language switch."""
from __future__ import annotations


import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app import transaction
from app.extensions import db
from app.models import User
from app.services import audit, auth
from app.core import clock
from app.core.errors import Invalid
from app.web import refills_stale_form
from app.web.navigation import same_site_path, same_site_referrer
from forms.auth import LoginForm, PasswordChangeForm, SecondFactorForm

bp = Blueprint("auth", __name__)


# A correct password alone does not sign in an admin or approver (second factor) or a holder of an expired
# password (must change it first). Until then the browser holds only this pending mark in its signed cookie;
# no server-side session exists, so nothing else is reachable.
PENDING_KEY = "pending_login"
PENDING_MINUTES = 5


def _set_pending(user, step: str, target: str | None) -> None:
    session[PENDING_KEY] = {"user_id": user.id, "step": step, "at": clock.now().timestamp(), "next": target}


def _pending_next() -> str | None:
    """Where the pending sign-in goes once complete (checked again: the mark is only as good as its signature)."""
    mark = session.get(PENDING_KEY)
    return same_site_path(mark.get("next")) if isinstance(mark, dict) else None


def _pending_user(step: str) -> User | None:
    mark = session.get(PENDING_KEY)
    if not isinstance(mark, dict) or mark.get("step") != step:
        return None
    if clock.now().timestamp() - float(mark.get("at", 0)) > PENDING_MINUTES * 60:
        session.pop(PENDING_KEY, None)
        return None
    user = db.session.get(User, mark.get("user_id"))
    return user if user is not None and user.active else None


def _next_step(user, target: str | None):
    """Send a user whose password checked out on to what is still missing, or sign them in and on to `target`
    (the page that asked for the sign-in)."""
    if auth.password_expired(user):
        _set_pending(user, "password", target)
        if user.must_change_password:
            flash(_("您的密码由管理员签发，请先修改为只有您知道的密码。"), "info")
        else:
            flash(_("您的密码已超过 %(days)s 天未更换，请先修改密码。", days=current_app.config["PASSWORD_MAX_AGE_DAYS"]),
                  "info")
        return redirect(url_for("auth.change_password"))
    if auth.needs_second_factor(user):
        _set_pending(user, "second_factor", target)
        if not auth.second_factor_enrolled(user):
            return redirect(url_for("auth.enrol_second_factor"))
        return redirect(url_for("auth.second_factor"))
    return _sign_in(user, target)


@bp.route("/login", methods=["GET", "POST"])
@refills_stale_form
def login():
    """Sign in; `?next=` (a path on this site, set by the redirect from a protected page) is where it ends."""
    form = LoginForm()
    if form.validate_on_submit():
        user = auth.authenticate(form.username.data, form.password.data, request.remote_addr or "")
        transaction.commit_now("login_attempt")
        if user is None:
            flash(str(auth.LOGIN_FAILED), "error")
            return render_template("auth/login.html", form=form), 200
        return _next_step(user, same_site_path(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor():
    user = _pending_user("second_factor")
    if user is None:
        return redirect(url_for("auth.login"))
    if not auth.second_factor_enrolled(user):
        return redirect(url_for("auth.enrol_second_factor"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        ok = auth.verify_second_factor(user, form.code.data, request.remote_addr or "")
        transaction.commit_now("login_attempt")
        if ok:
            return _sign_in(user, _pending_next())
        flash(_("动态口令不正确或已使用过，请等待下一个口令。"), "error")
    return render_template("auth/second_factor.html", form=form)


@bp.route("/login/second-factor/enrol", methods=["GET", "POST"])
def enrol_second_factor():
    """First sign-in of an admin or approver: show the QR code, then confirm with a first code."""
    user = _pending_user("second_factor")
    if user is None:
        return redirect(url_for("auth.login"))
    if auth.second_factor_enrolled(user):
        return redirect(url_for("auth.second_factor"))
    secret = auth.begin_enrolment(user)
    form = SecondFactorForm()
    if form.validate_on_submit():
        ok = auth.verify_second_factor(user, form.code.data, request.remote_addr or "")
        transaction.commit_now("login_attempt")
        if ok:
            flash(_("动态口令已绑定。以后登录时请输入验证器中的 6 位口令。"), "success")
            return _sign_in(user, _pending_next())
        flash(_("动态口令不正确，请核对手机时间后重试。"), "error")
    qr = segno.make(auth.provisioning_uri(user), error="m").svg_data_uri(scale=5)
    return render_template("auth/enrol_second_factor.html", form=form, qr=qr,
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


def _sign_in(user, target: str | None = None):
    session.clear()
    user.session_token = auth.open_session(user, "web", request.remote_addr or "")
    # The browser is signed in only once its server-side session row is committed.
    transaction.after_commit(lambda: login_user(user, remember=False))
    return redirect(target or url_for("auth.home"))


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """Change one's password; every other session of the account ends. Also the way out of an expired password."""
    signed_in = current_user.is_authenticated
    user = current_user if signed_in else _pending_user("password")
    if user is None:
        return redirect(url_for("auth.login"))
    form = PasswordChangeForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            auth.change_password(user, form.current.data, form.new.data, form.repeat.data)
        except Invalid as exc:  # no rollback: a wrong current password is an audited failure the request keeps
            errors = exc.fields
            flash(exc.message, "error")
        else:
            flash(_("密码已修改，其他设备上的登录已全部失效。"), "success")
            # This browser continues on a fresh session (identity just proven); a pending login goes on.
            return _sign_in(user) if signed_in else _next_step(user, _pending_next())
    return render_template("auth/change_password.html", form=form, errors=errors, signed_in=signed_in,
                           min_length=12)


@bp.route("/logout", methods=["POST"])
def logout():
    auth.revoke_session(current_user.session_token)
    audit.record("auth.logout")
    transaction.after_commit(_signed_out)
    return redirect(url_for("auth.login"))


def _signed_out() -> None:
    """Forget the browser's sign-in once the revocation is committed."""
    logout_user()
    session.clear()
    flash(_("您已安全退出。"), "info")


@bp.route("/lang/<code>")
def set_language(code: str):
    """Remember the interface language (zh or en) in a cookie and go back to a same-site page."""
    from app.i18n import LOCALES

    if code not in LOCALES:
        abort(404)
    target = same_site_referrer()
    if not target or target.startswith("/lang/"):
        target = "/"
    response = redirect(target)
    response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    return response


@bp.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("public.index"))
    if current_user.has_role("applicant"):
        return redirect(url_for("portal.records"))
    if current_user.has_role("intake", "approver", "verifier"):
        return redirect(url_for("staff.tasks"))
    if current_user.has_role("auditor"):
        return redirect(url_for("audit.search"))
    if current_user.has_role("personnel"):
        return redirect(url_for("persons.eligibility"))
    return render_template("auth/home.html")
