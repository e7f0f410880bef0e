"""The recording unit's desk for entering records (失信记录认定登记): new, edit, report, withdraw (issue 12 §1)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import transaction
from app.extensions import db
from app.models import Case, CaseEvent, CreditRecord, Unit
from app.core.errors import NotFound
from app.services import attachments, units as unit_service
from app.web import flash_refusal
from forms.cases import ActionForm
from forms.record_registration import RecordForm
from processes.record_registration import service as registration

bp = Blueprint("registration", __name__, url_prefix="/records")

# Where a service's field name is shown on the form (a person's fields are nested in the entry).
FORM_FIELD = {"person.name": "person_name", "person.id_number": "person_id_number", "person.post": "person_post",
              "person.unit_id": "person_unit_id", "person": "person_name", "file": "document"}


def _subject_units() -> list[Unit]:
    return [u for u in unit_service.active_units() if not u.is_credit_office]


def _store_document(record: CreditRecord, form: RecordForm) -> None:
    upload = form.document.data
    if upload and getattr(upload, "filename", ""):
        registration.attach_document(current_user, record.id, upload.filename, upload.stream)


def _form_page(form: RecordForm, record: CreditRecord | None, errors: dict):
    case = registration.registration_case(record) if record else None
    returned = None
    if record is not None and record.status == "returned":
        returned = db.session.scalar(select(CaseEvent.comment).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "returned").order_by(CaseEvent.id.desc()).limit(1))
    shown = {FORM_FIELD.get(k, k): v for k, v in errors.items()}
    return render_template("records/entry.html", form=form, record=record, case=case, errors=shown,
                           returned=returned, limits=attachments.upload_limits(),
                           documents=[a for a in case.attachments if a.kind == registration.DOCUMENT_KIND]
                           if case else [])


def _after_save(record: CreditRecord):
    if request.form.get("action") == "submit":
        case = registration.submit(current_user, record.id)
        flash(_("已报送信用办审核，登记编号 %(number)s。", number=case.number), "success")
    else:
        flash(_("已保存。上传认定文书后即可报送信用办审核。") if not registration.has_document(
            registration.registration_case(record)) else _("已保存，可报送信用办审核。"), "success")
    return redirect(url_for("records.show", record_id=record.id))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = RecordForm()
    form.set_units(_subject_units())

    def refused(exc):
        flash_refusal(exc)
        return _form_page(form, None, exc.fields)

    if request.method == "POST" and form.validate_on_submit():
        transaction.on_refusal(refused)
        entry = registration.prepare(form.values(), current_user.unit)
        record = registration.create_draft(current_user, entry, source="web")
        _store_document(record, form)
        return _after_save(record)
    return _form_page(form, None, {})


@bp.route("/<int:record_id>/edit", methods=["GET", "POST"])
def edit(record_id: int):
    record = registration.own_record(current_user, record_id)
    if record.status not in registration.EDITABLE:
        flash(_("该记录当前状态为“%(status)s”，不能修改。", status=record.status_label), "error")
        return redirect(url_for("records.show", record_id=record.id))
    form = RecordForm()
    form.set_units(_subject_units())
    if request.method == "GET":
        values = registration.current_values(record)
        form.subject_type.data = record.subject_type
        form.subject_unit_id.data = str(record.subject_unit_id)
        if record.person is not None:
            form.person_name.data, form.person_post.data = record.person.name, record.person.post
            form.person_unit_id.data = str(record.person.unit_id)
        for name in ("category", "severity", "basis_doc_no", "basis_date", "facts", "legal_basis"):
            getattr(form, name).data = values[name]

    def refused(exc):
        flash_refusal(exc)
        return _form_page(form, record, exc.fields)

    if request.method == "POST" and form.validate_on_submit():
        transaction.on_refusal(refused)
        data = form.values()
        if record.person is not None and data.get("subject_type") == "person" and not data["person"]["id_number"]:
            # The ID number is never shown again: left empty, the person stays who they were.
            data["person"] = {"person_id": record.person_id}
        registration.update_draft(current_user, record.id, data)
        _store_document(record, form)
        return _after_save(record)
    return _form_page(form, record, {})


@bp.route("/<int:record_id>/submit", methods=["POST"])
def submit(record_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)

    def refused(exc):
        flash_refusal(exc)
        return redirect(url_for("records.show", record_id=record_id))

    transaction.on_refusal(refused, unless=(NotFound,))  # outside reach: the 404 page
    case = registration.submit(current_user, record_id)
    flash(_("已报送信用办审核，登记编号 %(number)s。", number=case.number), "success")
    return redirect(url_for("records.show", record_id=record_id))


@bp.route("/<int:record_id>/withdraw", methods=["POST"])
def withdraw(record_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)

    def refused(exc):
        flash_refusal(exc)
        return redirect(url_for("records.show", record_id=record_id))

    transaction.on_refusal(refused, unless=(NotFound,))
    registration.withdraw_draft(current_user, record_id, request.form.get("reason", ""))
    flash(_("已撤回该记录。"), "success")
    return redirect(url_for("records.show", record_id=record_id))
