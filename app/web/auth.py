"""Login and logout, and the interface language switch."""
from __future__ import annotations


from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db
from app.services import audit, auth
from app.web.navigation import same_site_referrer
from forms.auth import LoginForm

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = auth.authenticate(form.username.data, form.password.data, request.remote_addr or "")
        if user is None:
            db.session.commit()  # keep the failure count and the audit row
            flash(str(auth.LOGIN_FAILED), "error")
            return render_template("auth/login.html", form=form), 200
        session.clear()
        user.session_token = auth.open_session(user, "web", request.remote_addr or "")
        db.session.commit()
        login_user(user, remember=False)
        return redirect(url_for("auth.home"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    auth.revoke_session(current_user.session_token)
    audit.record("auth.logout")
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("您已安全退出。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str):
    """Remember the interface language (zh or en) in a cookie and go back to a same-site page."""
    from app import LOCALES

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
    return render_template("auth/home.html")
