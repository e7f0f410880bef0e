"""Staff view of records (credit office, recording units): detail, sanctions, opening a rectification order."""
from __future__ import annotations

from flask_babel import gettext as _
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import transaction
from app.extensions import db
from app.models import RECORD_UNREGISTERED, Case
from app.services import access, register, sanctions
from processes.rectification import service as rectification
from processes.source_change import service as source_change
from app.web import flash_refusal
from app.web.navigation import record_cursor, record_cursor_arg
from forms.cases import ActionForm
from forms.rectification import RectificationForm
from processes.record_registration import service as registration

bp = Blueprint("records", __name__, url_prefix="/records")


@bp.route("/")
def index():
    q = (request.args.get("q") or "").strip()[:60]
    after = record_cursor_arg()
    found = register.register_page(current_user, q, after)
    last = found.rows[-1] if len(found.rows) == register.PAGE else None
    return render_template("records/index.html", records=found.rows, total=found.total, capped=found.capped, q=q,
                           after=after, next_after=record_cursor(last) if last else "")


@bp.route("/<int:record_id>", methods=["GET", "POST"])
def show(record_id: int):
    record = access.get_record(current_user, record_id)
    form = RectificationForm()
    can_open = current_user.has_role("intake")
    block = rectification.rectification_block(record) if can_open else None
    # A record not yet registered is corrected through its registration, not reported as changed.
    can_change = record.status not in RECORD_UNREGISTERED and source_change.may_file(current_user, record)
    change_block = source_change.change_block(record) if can_change else None

    def page():
        cases = db.session.scalars(access.visible_cases(current_user).where(Case.record_id == record.id)
                                   .order_by(Case.id.desc())).all()
        on_record = [s for s in sanctions.visible_sanctions(current_user, record.subject_unit_id)
                     if record in s.records]
        own = current_user.has_role("verifier") and record.recording_unit_id == current_user.unit_id
        return render_template("records/show.html", record=record, form=form, can_open=can_open, block=block,
                               cases=cases, sanctions=on_record, action_form=ActionForm(),
                               can_edit=own and record.status in registration.EDITABLE,
                               can_withdraw=own and record.status == "draft",
                               can_change=can_change, change_block=change_block)

    def refused(exc):
        flash_refusal(exc)
        return page()

    if can_open and not block and form.validate_on_submit():
        transaction.on_refusal(refused)
        case = rectification.open_rectification(current_user, record.id, form.deadline_days.data,
                                                form.requirements.data)
        flash(_("已发起限期整改 %(number)s，限期整改通知书已出具。", number=case.number), "success")
        return redirect(url_for("cases.show", case_id=case.id))
    return page()
