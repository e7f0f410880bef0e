"""Bulk import of records by a recording unit (issue 12 §2): upload → preview every bad row → confirm.

The uploaded spreadsheet and the batch's 认定文书 are staged once (app.services.record_import.stage, under a random
id only the uploading user reaches), so the preview and the confirmation never need the file uploaded again. The
upload form posts by XHR when scripts run (app/static/js/record-import.js shows the upload's progress, then a
working indicator while the rows are checked; the answer names the preview page); without scripts it is an
ordinary form post answered by a redirect.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import transaction
from app.services import record_import as sheets
from app.web import flash_refusal
from forms.record_import import ImportConfirmForm, ImportUploadForm
from processes.record_registration import record_import

bp = Blueprint("record_import", __name__, url_prefix="/records/import")


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _index_page(form: ImportUploadForm):
    """The page, also when a form was refused (200 with the messages, as every page answers a refused form)."""
    return render_template("records/import.html", form=form, imports=sheets.imports_of(current_user),
                           headers=sheets.HEADERS, max_rows=sheets.MAX_ROWS)


@bp.route("/")
def index():
    return _index_page(ImportUploadForm())


@bp.route("/upload", methods=["POST"])
def upload():
    form = ImportUploadForm()

    def refused(exc):
        if _wants_json():
            return jsonify({"error": exc.message}), exc.status
        flash_refusal(exc)
        return _index_page(form)

    if not form.validate_on_submit():
        message = next((e for errors in form.errors.values() for e in errors), _("请选择要导入的 CSV 或 XLSX 文件。"))
        if _wants_json():
            return jsonify({"error": str(message)}), 422
        flash(str(message), "error")
        return _index_page(form)
    transaction.on_refusal(refused)
    document = form.document.data
    document_bytes = document.read() if document and document.filename else None
    staged = sheets.stage(current_user, form.file.data.filename or "", form.file.data.read(),
                          document.filename if document_bytes else None, document_bytes)
    target = url_for("record_import.preview", token=staged.token)
    if _wants_json():
        return jsonify({"location": target})
    return redirect(target, 303)


@bp.route("/staged/<token>")
def preview(token: str):
    staged = sheets.staged(current_user, token)

    def refused(exc):
        flash_refusal(exc)
        return redirect(url_for("record_import.index"))

    transaction.on_refusal(refused)
    plan = record_import.preview(current_user, staged.data, staged.document_name, staged.document)
    needs_document = bool(plan.create) and staged.document is None
    return render_template("records/import_preview.html", staged=staged, plan=plan, form=ImportConfirmForm(),
                           needs_document=needs_document, can_confirm=not plan.errors and not needs_document)


@bp.route("/staged/<token>", methods=["POST"])
def confirm(token: str):
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    staged = sheets.staged(current_user, token)

    def refused(exc):
        flash_refusal(exc)
        return redirect(url_for("record_import.preview", token=token))

    transaction.on_refusal(refused)
    outcome = record_import.import_file(current_user, staged.filename, staged.data, staged.document_name,
                                        staged.document)
    transaction.after_commit(lambda: sheets.discard(token))
    flash(_("已导入：新建 %(created)s 条失信记录并报送信用办审核，%(existing)s 条已存在未重复登记。",
            created=len(outcome.created_ids), existing=len(outcome.existing_ids)), "success")
    return redirect(url_for("record_import.show", import_id=outcome.record_import.id), 303)


@bp.route("/<int:import_id>")
def show(import_id: int):
    row = sheets.get_import(current_user, import_id)
    return render_template("records/import_show.html", row=row, records=sheets.records_of(row))


@bp.route("/template.<kind>")
def template(kind: str):
    if kind not in ("xlsx", "csv"):
        abort(404)
    if kind == "xlsx":
        body, mimetype = sheets.template_xlsx(), sheets.XLSX_TYPE
    else:
        body, mimetype = sheets.template_csv(), "text/csv; charset=utf-8"
    filename = f"失信记录导入模板.{kind}"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (f"attachment; filename=record-import-template.{kind}; "
                                               f"filename*=UTF-8''{quote(filename)}")
    return response
