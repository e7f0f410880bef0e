"""Administration: the outbox of side effects (pending, failing, failed) with a retry button."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMessage
from app.services import audit, outbox
from forms.cases import ActionForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    if not current_user.has_role("admin"):
        abort(404)


@bp.route("/outbox")
def outbox_page():
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status != "delivered")
        .order_by(OutboxMessage.status.desc(), OutboxMessage.next_attempt_at).limit(500)
    ).all()
    delivered = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "delivered").order_by(OutboxMessage.id.desc()).limit(50)
    ).all()
    return render_template("admin/outbox.html", rows=rows, delivered=delivered, form=ActionForm())


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
def retry(message_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    if outbox.retry_failed(message_id):
        audit.record("outbox.retry", object_type="outbox", object_id=message_id)
        db.session.commit()
        flash("已重新排队发送。", "success")
    else:
        flash("只有“失败”的消息可以重新发送。", "error")
    return redirect(url_for("admin.outbox_page"))
