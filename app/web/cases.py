"""Case pages shared by applicants and staff: detail, attachments, letters."""
from __future__ import annotations

from flask_babel import gettext as _
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import transaction
from app.extensions import db
from app.models import HumanTask
from app.services import access, applications, attachments, audit, delivery, diagram, progress, workflow
from app.web import flash_refusal
from forms.cases import DeliveryForm, ExtensionDecisionForm, UploadForm
from processes.objection_review import service as objections

bp = Blueprint("cases", __name__, url_prefix="/cases")

# Types a browser shows by itself: PDFs in its viewer, images in an <img>.
PREVIEW_TYPES = ("application/pdf", "image/")


@bp.route("/<int:case_id>")
def show(case_id: int):
    case = access.get_case(current_user, case_id)
    internal = access.can_see_internal(current_user)
    events = [e for e in case.events if internal or not e.internal]
    open_tasks = db.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")).all()
    can_upload = attachments.may_upload(current_user, case)
    return render_template("cases/show.html", case=case, events=events, open_tasks=open_tasks, show_internal=internal,
                           my_steps=[t for t in open_tasks if workflow.may_work(current_user, t)],
                           supplement=applications.supplement_request(case), steps=progress.case_steps(case),
                           upload_form=UploadForm() if can_upload else None, kinds=attachments.KINDS,
                           has_diagram=diagram.case_instance(case) is not None, previewable=previewable,
                           has_previews=any(previewable(a.content_type) for a in case.attachments),
                           limits=attachments.upload_limits(),
                           delivery_form=DeliveryForm() if current_user.has_role(*delivery.OFFICE_ROLES) else None,
                           delivery_text=delivery.delivery_text, deadlines=delivery.deadline_lines(case),
                           extension_form=ExtensionDecisionForm() if case.type == "objection"
                           and current_user.has_role("intake") and objections.extension_state(case) == "requested"
                           else None,
                           extension_request=objections.extension_request(case) if case.type == "objection" else None)


@bp.route("/<int:case_id>/diagram.json")
def diagram_json(case_id: int):
    case = access.get_case(current_user, case_id)
    return jsonify(diagram.case_diagram(case))


@bp.route("/<int:case_id>/attachments", methods=["POST"])
def upload(case_id: int):
    case = access.get_case(current_user, case_id)
    if not attachments.may_upload(current_user, case):
        abort(404)
    form = UploadForm()
    if not form.validate_on_submit() or not form.file.data:
        flash(_("请选择文件。"), "error")
        return redirect(url_for("cases.show", case_id=case.id))
    back = url_for("cases.show", case_id=case.id)

    def refused(exc):
        flash_refusal(exc)
        return redirect(back)

    transaction.on_refusal(refused)
    attachments.store_attachment(current_user, case, form.kind.data, form.file.data.filename, form.file.data.stream)
    flash(_("材料已上传。"), "success")
    return redirect(back)


@bp.route("/attachments/<attachment_id>")
def download(attachment_id: str):
    row = access.get_attachment(current_user, attachment_id)
    audit.record("attachment.download", object_type="attachment", object_id=row.id)
    return _file_response(attachments.read_attachment(row), row.content_type, row.display_name)


@bp.route("/attachments/<attachment_id>/preview")
def preview(attachment_id: str):
    row = access.get_attachment(current_user, attachment_id)
    if not previewable(row.content_type):
        abort(404)
    audit.record("attachment.preview", object_type="attachment", object_id=row.id)
    response = _file_response(attachments.read_attachment(row), row.content_type, row.display_name, inline=True)
    # The case page shows a PDF in an <iframe>: this one response may be framed by the app itself.
    response.headers["Content-Security-Policy"] = "default-src 'self'; object-src 'none'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def previewable(content_type: str) -> bool:
    """Whether the browser can show a file of this type in the page or a tab of its own."""
    return content_type.startswith(PREVIEW_TYPES)


@bp.route("/letters/<int:letter_id>.pdf")
def letter_pdf(letter_id: int):
    row = access.get_letter(current_user, letter_id)
    audit.record("letter.download", object_type="letter", object_id=row.id)
    delivery.opened(current_user, row)  # its addressee's first opening delivers it (送达)
    return _file_response(row.pdf, "application/pdf", f"{row.title}-{row.doc_number}.pdf")


@bp.route("/<int:case_id>/extension", methods=["POST"])
def decide_extension(case_id: int):
    """The credit office approves or refuses the recording unit's request to extend an objection's 核查."""
    back = url_for("cases.show", case_id=case_id)
    if not ExtensionDecisionForm().validate_on_submit():
        flash(_("页面已过期，请刷新后重试。"), "error")
        return redirect(back)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return redirect(back)

    transaction.on_refusal(refused)
    approve = request.form.get("decision") == "approve"
    objections.decide_verify_extension(current_user, case_id, approve, request.form.get("comment", ""))
    flash(_("已同意延长核查期限。") if approve else _("已不同意延长核查期限。"), "success")
    return redirect(back)


@bp.route("/letters/<int:letter_id>/delivery", methods=["POST"])
def record_delivery(letter_id: int):
    row = access.get_letter(current_user, letter_id)
    back = url_for("cases.show", case_id=row.case_id)
    form = DeliveryForm()
    if not form.validate_on_submit():
        flash(_("请刷新页面后重试。"), "error")
        return redirect(back)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return redirect(back)

    transaction.on_refusal(refused)
    delivery.record_office_delivery(current_user, row, day=request.form.get("delivered_on", ""),
                                    method=request.form.get("delivery_method", ""),
                                    note=request.form.get("delivery_note", ""))
    flash(_("已登记送达。"), "success")
    return redirect(back)


def _file_response(data: bytes, content_type: str, name: str, *, inline: bool = False) -> Response:
    from urllib.parse import quote

    response = Response(data, mimetype=content_type)
    disposition = "inline" if inline else "attachment"
    # RFC 5987: the Chinese display name travels percent-encoded; the ASCII fallback is generic.
    response.headers["Content-Disposition"] = f"{disposition}; filename=\"download\"; filename*=UTF-8''{quote(name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
