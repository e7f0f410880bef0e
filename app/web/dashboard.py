"""Credit-office dashboard: figures with server-rendered charts, and CSV/XLSX exports."""
from __future__ import annotations

from urllib.parse import quote

from flask_babel import gettext as _
from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

from app.models import CASE_TYPES
from app.services import audit
from app.services.reports import dashboard, exports
from app.core import clock

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# (ASCII file name, Chinese file name) per export, before the date and extension.
NAMES = {"cases": ("cases", "办件清单"), "figures": ("figures", "统计看板")}


@bp.route("/")
def index():
    fig = dashboard.shown_figures(clock.local_today(), current_app.config["DASHBOARD_FIGURES_MAX_AGE"])
    return render_template("dashboard/index.html", fig=fig, tables=dashboard.figure_tables(fig), case_types=CASE_TYPES,
                           statuses=dashboard.EXPORT_STATUSES)


def _audit_export(what: str, fmt: str, **details) -> None:
    audit.record("dashboard.export", details={"what": what, "format": fmt, **details})


def _download(body, what: str, ext: str, mimetype: str) -> Response:
    """A file download named e.g. cases-20261127.csv, with the Chinese name for browsers that take it."""
    stamp = clock.local_today().strftime("%Y%m%d")
    ascii_name, chinese_name = NAMES[what]
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}-{stamp}.{ext}\"; "
        f"filename*=UTF-8''{quote(f'{chinese_name}-{stamp}.{ext}')}"
    )
    return response


def _case_table() -> tuple[dashboard.CaseFilters, exports.Table]:
    """The filtered case list, with outcome codes shown as the case pages label them."""
    filters = dashboard.CaseFilters.parse(request.args)
    outcome_label = current_app.jinja_env.filters["outcome_label"]
    rows = ((*row[:7], str(outcome_label(row[7])) if row[7] else "", row[8]) for row in dashboard.case_rows(filters))
    return filters, exports.Table(_("办件清单"), [str(h) for h in dashboard.CASE_HEADER], rows)


@bp.route("/cases.csv")
def cases_csv():
    filters, table = _case_table()
    _audit_export("cases", "csv", filters=filters.as_dict())
    return _download(stream_with_context(exports.to_csv([table], titled=False)), "cases", "csv", CSV_TYPE)


@bp.route("/cases.xlsx")
def cases_xlsx():
    filters, table = _case_table()
    body = exports.to_xlsx([table])
    _audit_export("cases", "xlsx", filters=filters.as_dict())
    return _download(body, "cases", "xlsx", XLSX_TYPE)


@bp.route("/figures.csv")
def figures_csv():
    tables = dashboard.figure_tables(dashboard.figures(clock.local_today())).values()
    body = b"".join(exports.to_csv(tables, titled=True))
    _audit_export("figures", "csv")
    return _download(body, "figures", "csv", CSV_TYPE)


@bp.route("/figures.xlsx")
def figures_xlsx():
    body = exports.to_xlsx(dashboard.figure_tables(dashboard.figures(clock.local_today())).values())
    _audit_export("figures", "xlsx")
    return _download(body, "figures", "xlsx", XLSX_TYPE)
