"""Public pages (no login): published records, case progress, letter verification."""
from __future__ import annotations

from flask_babel import gettext as _
import functools
import hashlib
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, render_template, request

from app import transaction
from app.models import CATEGORIES, SEVERITIES
from app.services import progress as case_progress, public
from app.web import flash_refusal
from app.web.navigation import page_arg, record_cursor, record_cursor_arg

from app.services import letters, sanctions

bp = Blueprint("public", __name__)


@bp.route("/favicon.ico")
def favicon():
    """The site icon where browsers look for it by themselves (the pages also link it); 5 KB, kept in memory."""
    response = Response(_favicon_bytes(current_app.static_folder), mimetype="image/vnd.microsoft.icon")
    response.cache_control.public = True
    response.cache_control.max_age = 7 * 24 * 3600
    return response


@functools.cache
def _favicon_bytes(static_folder: str) -> bytes:
    return (Path(static_folder) / "favicon.ico").read_bytes()


@bp.route("/public")
def index():
    return render_template("public/index.html")


@bp.route("/v/<code>", methods=["GET", "POST"])
def verify(code: str):
    found = letters.verify_letter(code[:32])
    if found is None:
        return render_template("public/verify.html", letter=None), 404
    letter, intact = found
    upload_match = None
    uploaded = request.files.get("file") if request.method == "POST" else None
    if uploaded:
        upload_match = hashlib.sha256(uploaded.read()).hexdigest() == letter.sha256
    return render_template("public/verify.html", letter=letter, intact=intact, upload_match=upload_match)


@bp.route("/public/records")
def records():
    q = request.args.get("q", "")
    category = request.args.get("category", "") if request.args.get("category") in CATEGORIES else ""
    severity = request.args.get("severity", "") if request.args.get("severity") in SEVERITIES else ""
    page = page_arg()
    found = public.public_records(q, category, severity, page, after=record_cursor_arg())
    last = found.rows[-1] if len(found.rows) == public.PAGE else None
    return render_template("public/records.html", rows=found.rows, total=found.total, capped=found.capped, q=q,
                           after=record_cursor(last) if last else "",
                           category=category, severity=severity, page=page, page_size=public.PAGE,
                           # The words resolved once per page (lazy strings translate on every use).
                           categories={code: str(word) for code, word in CATEGORIES.items()},
                           severities={code: str(word) for code, word in SEVERITIES.items()})


@bp.route("/public/progress", methods=["GET", "POST"])
def progress():
    case = None
    if request.method == "POST":

        def refused(exc):
            flash_refusal(exc)
            return render_template("public/progress.html", case=None), 429

        transaction.on_refusal(refused, public.TooManyLookups)
        case = public.lookup_case(request.form.get("number", ""), request.form.get("code", ""),
                                  request.remote_addr or "")
        if case is None:
            flash(_("未找到该受理编号，或查询码不正确。"), "error")
    return render_template("public/progress.html", case=case,
                           steps=case_progress.case_steps(case) if case else []), 200


@bp.route("/public/notices")
def notices():
    """The issued 通报 (public criticisms), newest first: a 通报 is public once issued (issue 13 §2)."""
    return render_template("public/notices.html", notices=sanctions.published_notices())


@bp.route("/public/notices/<int:letter_id>")
def notice(letter_id: int):
    found = sanctions.published_notice(letter_id)
    if found is None:
        abort(404)
    return render_template("public/notice.html", notice=found)


@bp.route("/public/notices/<int:letter_id>.pdf")
def notice_pdf(letter_id: int):
    found = sanctions.published_notice(letter_id)
    if found is None:
        abort(404)
    response = Response(found.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="notice-{found.id}.pdf"'
    return response


@bp.route("/public/measures")
def measures():
    """The catalogue of measures in force, with their legal basis (国办发〔2020〕49号: a published catalogue)."""
    from app.core.clock import local_today
    from app.services import rules

    return render_template("public/measures.html", catalogue=sanctions.catalogue(rules.rule_set_on(local_today())))
