"""认定文书撤销或变更: the recording unit reports a revoked or changed 认定文书 and corrects a returned report."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import transaction
from app.core.errors import NotFound
from app.services import access, attachments
from app.web import flash_refusal
from forms.source_change import SourceChangeForm
from processes.source_change import service as source_change

bp = Blueprint("source_change", __name__, url_prefix="/source-change")


def _upload(form: SourceChangeForm):
    data = form.document.data
    return (data.filename, data.stream) if data and data.filename else (None, None)


@bp.route("/records/<int:record_id>", methods=["GET", "POST"])
def new(record_id: int):
    record = access.get_record(current_user, record_id)
    if not source_change.may_file(current_user, record):
        raise NotFound()
    block = source_change.change_block(record)
    form = SourceChangeForm(data=source_change.current_values(record))

    def page():
        return render_template("source_change/new.html", record=record, form=form, block=block,
                               limits=attachments.upload_limits(), case=None)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return page()

    if not block and form.validate_on_submit():
        transaction.on_refusal(refused, unless=(NotFound,))
        case = source_change.file_change(current_user, record.id, form.values(), *_upload(form))
        flash(_("已报送认定文书撤销或变更（编号 %(number)s），信用办将在 3 个工作日内办理。", number=case.number), "success")
        return redirect(url_for("cases.show", case_id=case.id))
    return page()


@bp.route("/cases/<int:case_id>/correct", methods=["GET", "POST"])
def correct(case_id: int):
    case, _task = source_change.open_correction(current_user, case_id)
    form = SourceChangeForm(data={**source_change.current_values(case.record), **case.form,
                                  **case.form.get("changes", {})})

    def page():
        return render_template("source_change/new.html", record=case.record, form=form, block=None,
                               limits=attachments.upload_limits(), case=case)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return page()

    if form.validate_on_submit():
        transaction.on_refusal(refused, unless=(NotFound,))
        source_change.amend_change(current_user, case.id, form.values(), *_upload(form), form.statement.data)
        flash(_("已补正并重新报送（编号 %(number)s）。", number=case.number), "success")
        return redirect(url_for("cases.show", case_id=case.id))
    return page()
