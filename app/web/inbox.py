"""Everyone's own pages: notifications, and sanctions of the units one may see."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models import Unit
from app.services import notifications, sanctions
from forms.cases import ActionForm

bp = Blueprint("inbox", __name__)


@bp.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications_page():
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        count = notifications.mark_all_read(current_user)
        db.session.commit()
        flash(f"已将 {count} 条消息标为已读。", "success")
        return redirect(url_for("inbox.notifications_page"))
    return render_template("inbox/notifications.html", rows=notifications.recent(current_user), form=form)


@bp.route("/sanctions")
@login_required
def sanctions_page():
    if not current_user.has_role("applicant", "intake", "approver", "verifier"):
        abort(404)
    unit_id = request.args.get("unit_id", type=int)
    rows = sanctions.visible_sanctions(current_user, unit_id)
    unit = db.session.get(Unit, unit_id) if unit_id else None
    return render_template("inbox/sanctions.html", rows=rows, unit=unit)
