"""Administration: rule-set versions, and the outbox of side effects with a retry button."""
from __future__ import annotations

from flask_babel import gettext as _
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from app import transaction
from app.extensions import db
from app.models import OutboxMessage
from app.services import outbox, rules
from app.web import flash_refusal
from forms.admin import SEVERITY_LABELS, build_rule_set_form
from forms.cases import ActionForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/outbox")
def outbox_page():
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status != "delivered")
        .order_by(OutboxMessage.status.desc(), OutboxMessage.next_attempt_at).limit(500)
    ).all()
    delivered = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "delivered").order_by(OutboxMessage.id.desc()).limit(50)
    ).all()
    return render_template("admin/outbox.html", rows=rows, delivered=delivered, form=ActionForm(),
                           describe=outbox.describe, explain=outbox.explain_error)


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
def retry(message_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    if outbox.retry_failed(message_id):
        flash(_("已重新排队发送。"), "success")
    else:
        flash(_("只有“失败”的消息可以重试。"), "error")
    return redirect(url_for("admin.outbox_page"))


@bp.route("/rule-sets", methods=["GET", "POST"])
def rule_sets():
    existing = rules.all_rule_sets()
    form = build_rule_set_form(existing[-1] if existing else None)

    def page():
        return render_template("admin/rule_sets.html", rule_sets=existing, form=form, severities=SEVERITY_LABELS,
                               limit_keys=list(rules.DEFAULT_TIME_LIMITS), limit_labels=rules.TIME_LIMIT_LABELS)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return page()

    if form.validate_on_submit():
        periods = {severity: {"min_months": form[f"{severity}_min"].data, "max_months": form[f"{severity}_max"].data,
                              "published": form[f"{severity}_published"].data} for severity in SEVERITY_LABELS}
        limits = {key: form[f"limit_{key}"].data for key in rules.DEFAULT_TIME_LIMITS}
        transaction.on_refusal(refused)
        row = rules.add_rule_set(code=form.code.data, name=form.name.data, legal_basis=form.legal_basis.data,
                                 effective_from=form.effective_from.data, periods=periods, time_limits=limits,
                                 repair_bar={"repeat_within_months": form.repeat_within_months.data,
                                             "legal_basis": form.repair_bar_basis.data or ""})
        flash(_("规则集 %(code)s 已添加，自 %(day)s 起适用于认定日期在此之后的记录。", code=row.code, day=row.effective_from.isoformat()), "success")
        return redirect(url_for("admin.rule_sets"))
    return page()
