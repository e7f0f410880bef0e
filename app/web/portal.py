"""Applicant portal: my unit's records, filing an objection, my cases."""
from __future__ import annotations

from urllib.parse import quote

from flask_babel import gettext as _
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from app import transaction
from app.extensions import db
from app.models import Case, CreditRecord, HumanTask
from app.services import access, applications, attachments, eligibility
from processes.objection_review import service as objections
from processes.credit_repair import service as repair
from processes.honor_restoration import service as restoration
from app.core.errors import NotFound
from app.web import flash_refusal, refills_stale_form
from app.web.navigation import page_arg
from forms.cases import ActionForm
from forms.objection_review import ObjectionForm
from forms.credit_repair import RepairForm

bp = Blueprint("portal", __name__, url_prefix="/portal")


PER_PAGE = 50


def _page(query):
    """One page of a list (?page=N, 50 rows); a unit with years of records still gets a quick page."""
    return db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False,
                       max_per_page=PER_PAGE)


@bp.route("/records")
def records():
    # The list shows no history: skip the mapper's eager selectin of it (one statement less per page).
    page = _page(access.visible_records(current_user).options(joinedload(CreditRecord.recording_unit),
                                                              lazyload(CreditRecord.history))
                 .order_by(CreditRecord.basis_date.desc(), CreditRecord.id.desc()))
    return render_template("portal/records.html", records=page.items, page=page)


def _file_application(create, form) -> Case:
    """Create a draft, attach the uploaded files and submit it, all in the request's one transaction (a refusal
    keeps nothing of it)."""
    case = create()
    for storage in form.evidence.data or []:
        if storage and storage.filename:
            attachments.store_attachment(current_user, case, "evidence", storage.filename, storage.stream)
    if form.commitment.data and form.commitment.data.filename:
        attachments.store_attachment(current_user, case, "commitment", form.commitment.data.filename,
                                     form.commitment.data.stream)
    applications.submit_case(current_user, case.id)
    return case


def _show_under_fields(form, exc) -> None:
    """Put a refusal's messages under the fields of the application form: a refused file's whole message (it names
    the file) under the upload field of its kind (evidence, commitment), the others under the field they name."""
    kind = exc.audit_details.get("kind") if "file" in exc.fields else None
    for name, message in ({kind: exc.message} if kind else exc.fields).items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, message]


@bp.route("/records/<int:record_id>", methods=["GET", "POST"])
@refills_stale_form
def record(record_id: int):
    row = access.get_record(current_user, record_id)
    form = ObjectionForm(prefix="objection")
    repair_form = RepairForm(prefix="repair")
    block = objections.objection_block(row)
    verdict = eligibility.repair_verdict(row)

    def page():
        cases = db.session.scalars(
            access.visible_cases(current_user).where(Case.record_id == row.id).order_by(Case.id.desc())
        ).all()
        return render_template("portal/record.html", record=row, form=form, block=block, cases=cases,
                               repair_form=repair_form, verdict=verdict, limits=attachments.upload_limits())

    def refused_in(application_form):
        def refused(exc):
            flash(exc.message, "error")
            _show_under_fields(application_form, exc)
            return page()
        return refused

    case = None
    if request.form.get("action") == "objection" and form.validate_on_submit() and not block:
        transaction.on_refusal(refused_in(form))
        case = _file_application(
            lambda: objections.create_objection(current_user, row.id, form.reason.data, form.statement.data), form)
    elif request.form.get("action") == "repair" and repair_form.validate_on_submit() and verdict.eligible:
        transaction.on_refusal(refused_in(repair_form))
        case = _file_application(lambda: repair.create_repair(current_user, row.id, repair_form.statement.data),
                                 repair_form)
    if case is not None:
        kind = _("异议") if case.type == "objection" else case.type_label
        flash(_("%(kind)s申请已提交，受理编号 %(number)s，查询码 %(code)s。", kind=kind, number=case.number, code=case.query_code), "success")
        return redirect(url_for("cases.show", case_id=case.id))
    return page()


@bp.route("/templates/<case_type>-commitment.pdf")
def commitment_template(case_type: str):
    """The blank 信用承诺书 of an application, to fill in, sign, seal and upload with it."""
    found = applications.commitment_form(case_type)
    if found is None:
        abort(404)
    title, pdf = found
    response = Response(pdf, mimetype="application/pdf")
    # RFC 5987: the Chinese title travels percent-encoded; the ASCII fallback is generic.
    response.headers["Content-Disposition"] = (f"attachment; filename=\"commitment.pdf\"; "
                                               f"filename*=UTF-8''{quote(title)}.pdf")
    return response


@bp.route("/sanctions/<int:sanction_id>/restoration", methods=["POST"])
def apply_restoration(sanction_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)

    def refused(exc):
        flash_refusal(exc)
        return redirect(url_for("inbox.sanctions_page"))

    transaction.on_refusal(refused, unless=(NotFound,))  # outside reach: the 404 page
    case = restoration.apply_for_restoration(current_user, sanction_id)
    flash(_("荣誉评选资格恢复申请已提交，受理编号 %(number)s。", number=case.number), "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/cases")
def cases():
    # The page reads "case" alone and its 50 records by id afterwards: joined in, a later page (a large OFFSET) made
    # PostgreSQL hash the unit's cases against a sequential scan of credit_record (the load test's full scans).
    page = _page(access.visible_cases(current_user).options(selectinload(Case.record).lazyload(CreditRecord.history))
                 .order_by(Case.id.desc()))
    rows = page.items
    due = dict(db.session.execute(
        select(HumanTask.case_id, func.min(HumanTask.due_at))
        .where(HumanTask.status == "open", HumanTask.case_id.in_([c.id for c in rows]))
        .group_by(HumanTask.case_id)
    ).all())
    return render_template("portal/cases.html", cases=rows, due=due, page=page)
