"""Everyone's own pages: notifications, sanctions of the units one may see, honour eligibility."""
from __future__ import annotations

from flask_babel import gettext as _
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from sqlalchemy import select

from app.extensions import db
from app.models import Unit
from app.core import clock
from app.services import eligibility, notifications, sanctions
from app.core.ids import object_id
from forms.cases import ActionForm
from processes.honor_restoration import service as restoration

bp = Blueprint("inbox", __name__)


@bp.route("/notifications", methods=["GET", "POST"])
def notifications_page():
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        count = notifications.mark_all_read(current_user)
        flash(_("已将 %(count)s 条消息标为已读。", count=count), "success")
        return redirect(url_for("inbox.notifications_page"))
    return render_template("inbox/notifications.html", rows=notifications.recent(current_user), form=form)


@bp.route("/sanctions")
def sanctions_page():
    unit_id = request.args.get("unit_id", type=object_id)
    rows = sanctions.visible_sanctions(current_user, unit_id)
    unit = db.session.get(Unit, unit_id) if unit_id else None
    # The unit's own disqualifications: the application is offered only when it would succeed, else why not.
    offers = {s.id: restoration.restoration_offer(s) for s in rows if s.kind == "honor_disqualification"
              and s.status == "active" and current_user.has_role("applicant") and s.unit_id == current_user.unit_id}
    return render_template("inbox/sanctions.html", rows=rows, unit=unit, offers=offers)


@bp.route("/eligibility")
def honour_eligibility():
    """Is unit X eligible for honour evaluation on date D, and which sanctions and records stand in the way."""
    staff = current_user.has_role("intake", "approver")
    units = db.session.scalars(select(Unit).order_by(Unit.name)).all() if staff else [current_user.unit]
    unit_id = request.args.get("unit_id", type=object_id) or current_user.unit_id
    if unit_id not in {u.id for u in units}:
        abort(404)
    try:
        day = date.fromisoformat(request.args.get("date", "")) if request.args.get("date") else clock.local_today()
    except ValueError:
        flash(_("日期格式应为 YYYY-MM-DD。"), "error")
        day = clock.local_today()
    answer = eligibility.honour_eligibility(unit_id, day)
    return render_template("inbox/eligibility.html", units=units, unit=db.session.get(Unit, unit_id), day=day,
                           answer=answer)
