"""Audit log for the audit administrator: search, event detail, CSV/XLSX export and chain verification."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.services import audit
from app.services.audit import archive as audit_archive, chain as audit_chain, search as audit_search
from app.core import clock
from app.services.audit.search import AuditFilters
from app.core.errors import ServiceError
from app.core.ids import is_object_id
from app.web.navigation import id_cursor_arg
from forms.audit import AuditSearchForm
from forms.cases import ActionForm

bp = Blueprint("audit", __name__, url_prefix="/audit")

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHOWN_PROBLEMS = 100


@bp.before_request
@login_required
def require_auditor():
    if not current_user.has_role("auditor"):
        abort(404)


def _search_form() -> tuple[AuditSearchForm, AuditFilters]:
    """The search form bound to the query string, and the filters of its valid fields (invalid ones are ignored).

    The unit is typed (name, part of it, or credit code) and resolved to one unit here; links (paging, exports)
    carry its id as unit_id, shown back in the field as the unit's name."""
    form = AuditSearchForm(request.args)
    form.validate()
    unit_id = _unit_filter(form)
    bad = set(form.errors)

    def value(name):
        return None if name in bad else form[name].data

    def text(name):
        return (value(name) or "").strip()

    filters = AuditFilters(
        date_from=value("date_from"), date_to=None if "date_to" in bad else value("date_to"),
        username=text("username"), unit_id=unit_id, action=text("action"),
        action_prefix=text("action_prefix"), object_type=text("object_type"), object_id=text("object_id"),
        outcome=text("outcome"), ip=text("ip"),
    )
    return form, filters


def _unit_filter(form: AuditSearchForm) -> int | None:
    """The unit id of the typed unit (or of a link's unit_id); an error on the field when it names no single unit."""
    typed = (form.unit.data or "").strip() if not form.unit.errors else ""
    if typed:
        unit_id, matches = audit_search.find_unit(typed)
        if unit_id is None:
            form.unit.errors.append(_("有多个单位与“%(typed)s”相符，请填写完整名称或统一社会信用代码。", typed=typed)
                                    if matches else _("未找到单位“%(typed)s”。", typed=typed))
        return unit_id
    raw = request.args.get("unit_id", "").strip()
    if not raw:
        return None
    name = audit_search.unit_name(int(raw)) if is_object_id(raw) else None
    if name is None:
        form.unit.errors.append(_("单位无效。"))
        return None
    form.unit.data = name
    return int(raw)


@bp.route("/")
def search():
    form, filters = _search_form()
    page = audit_search.search(filters, current_user, before=id_cursor_arg("before"), after=id_cursor_arg("after"))
    query = filters.as_dict()
    return render_template(
        "audit/search.html", form=form, page=page, total=audit_search.count(filters), count_cap=audit_search.COUNT_CAP,
        export_cap=audit_search.EXPORT_CAP, query=query, filtered=bool(query), action_form=ActionForm(),
        labels=audit_search.ACTION_LABELS, object_types=audit_search.OBJECT_TYPES, outcomes=audit_search.OUTCOMES,
        prefixes=audit_search.ACTION_PREFIXES, retention_days=_retention_days(), pretty=audit_search.pretty_details,
    )


@bp.route("/events/<int:event_id>")
def event(event_id: int):
    found = audit_search.get_event(event_id)
    if found is None:
        abort(404)
    ev, unit_name = found
    return render_template(
        "audit/event.html", ev=ev, unit_name=unit_name, check=audit_chain.check_event(ev),
        case_id=audit_search.case_link(ev, current_user), labels=audit_search.ACTION_LABELS,
        object_types=audit_search.OBJECT_TYPES, outcomes=audit_search.OUTCOMES, action_form=ActionForm(),
        pretty=audit_search.pretty_details,
    )


def _export_audited(filters: AuditFilters, fmt: str) -> tuple[int, bool]:
    rows, capped = audit_search.export_size(filters)
    audit.record("audit.export", details={"format": fmt, "filters": filters.as_dict(), "rows": rows, "capped": capped})
    return rows, capped


def _download(body, ext: str, mimetype: str, capped: bool) -> Response:
    """A file named e.g. audit-log-20261127.csv (审计日志-20261127.csv where the browser takes UTF-8 names)."""
    stamp = clock.local_today().strftime("%Y%m%d")
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"audit-log-{stamp}.{ext}\"; filename*=UTF-8''{quote(f'审计日志-{stamp}.{ext}')}"
    )
    if capped:
        # The file's last row says so too; the header lets scripts notice without reading to the end.
        response.headers["X-Export-Capped"] = str(audit_search.EXPORT_CAP)
    return response


@bp.route("/export.csv")
def export_csv():
    _form, filters = _search_form()
    _rows, capped = _export_audited(filters, "csv")
    return _download(stream_with_context(audit_search.export_csv(filters, capped=capped)), "csv", CSV_TYPE, capped)


@bp.route("/export.xlsx")
def export_xlsx():
    _form, filters = _search_form()
    _rows, capped = _export_audited(filters, "xlsx")
    return _download(audit_search.export_xlsx(filters, capped=capped), "xlsx", XLSX_TYPE, capped)


@bp.route("/verify", methods=["POST"])
def verify():
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    up_to = request.form.get("up_to", "")
    up_to_id = int(up_to) if up_to.isdigit() else None
    result = audit_chain.verify(up_to=up_to_id)
    checked, problems = result.checked, result.problems
    checkpoint = result.checkpoint
    anchor = audit_chain.latest_anchor()
    anchor_details = dict(anchor.details) if anchor is not None else None
    audit.record("audit.verify", outcome="failure" if problems else "success",
                 details={"checked": checked, "problems": len(problems), "up_to": up_to_id,
                          "first_problems": problems[:5]})
    return render_template("audit/verify.html", checked=checked, problems=problems[:SHOWN_PROBLEMS],
                           more=max(0, len(problems) - SHOWN_PROBLEMS), total_problems=len(problems),
                           up_to=up_to_id, anchor=anchor_details, checkpoint=checkpoint,
                           back=url_for("audit.event", event_id=up_to_id) if up_to_id else url_for("audit.search"))


def _retention_days() -> int | None:
    try:
        return audit_archive.retention_days()
    except ServiceError:
        return None
