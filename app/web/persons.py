"""People as subjects (issue 12 §5) and integrity files (§6): the person list and page, a move to another unit,
the award eligibility query (限制评优评先), and the files of a unit and of a person (page and PDF)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import transaction
from app.core import clock
from app.core.errors import Invalid
from app.core.ids import object_id
from app.extensions import db
from app.models import Unit
from app.services import integrity_file, persons
from app.web import flash_refusal
from forms.persons import EligibilityForm, MoveForm, SearchForm

bp = Blueprint("persons", __name__)


@bp.route("/persons/", methods=["GET", "POST"])
def index():
    """Persons by part of the name or by the full ID number (posted, so the number never sits in a URL)."""
    form = SearchForm()
    q = form.q.data if request.method == "POST" and form.validate_on_submit() else ""

    def refused(exc):
        flash_refusal(exc)
        form.q.data = ""
        return render_template("persons/index.html", form=form, rows=[], q="")

    transaction.on_refusal(refused, Invalid)
    rows = persons.search(current_user, q or "")
    if persons.looks_like_number(q or ""):
        form.q.data = ""  # the clear number is never echoed back into a page
    return render_template("persons/index.html", form=form, rows=rows, q=q)


def _move_form(person) -> MoveForm:
    form = MoveForm()
    units = db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.name)).all()
    form.unit_id.choices = [(u.id, u.name) for u in units]
    if request.method == "GET":
        form.unit_id.data, form.post.data = person.unit_id, person.post
    return form


def _person_page(person, form):
    may_file = integrity_file.may_open_person_file(current_user, person)
    return render_template("persons/show.html", person=person, records=persons.records_about(current_user, person),
                           sanctions=persons.sanctions_about(current_user, person), form=form,
                           can_move=current_user.has_role("intake"), may_file=may_file,
                           may_query=current_user.has_role("intake", "approver"))


@bp.route("/persons/<int:person_id>")
def show(person_id: int):
    person = persons.get_person(current_user, person_id)
    return _person_page(person, _move_form(person) if current_user.has_role("intake") else None)


@bp.route("/persons/<int:person_id>/move", methods=["POST"])
def move(person_id: int):
    person = persons.get_person(current_user, person_id)
    form = _move_form(person)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return _person_page(person, form)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return _person_page(persons.get_person(current_user, person_id), form)

    transaction.on_refusal(refused)
    persons.move_person(current_user, person.id, form.unit_id.data, form.post.data, form.on.data)
    flash(_("已登记调动。"), "success")
    return redirect(url_for("persons.show", person_id=person.id))


def _day_arg(raw: str | None) -> date:
    if not raw:
        return clock.local_today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(_("日期格式应为 YYYY-MM-DD。"), fields={"date": "YYYY-MM-DD"}) from None


@bp.route("/persons/eligibility", methods=["GET", "POST"])
def eligibility():
    """限制评优评先 on a date: by ID number (posted) or, from a person's page, by person; every query audited."""
    form = EligibilityForm()
    answer, asked = None, False

    def refused(exc):
        flash_refusal(exc, fields=True)
        form.id_number.data = ""
        return render_template("persons/eligibility.html", form=form, answer=None, asked=False)

    transaction.on_refusal(refused)
    if request.method == "POST":
        if not form.validate_on_submit():
            for errors in form.errors.values():
                for message in errors:
                    flash(message, "error")
            form.id_number.data = ""
            return render_template("persons/eligibility.html", form=form, answer=None, asked=False)
        asked = True
        answer = persons.query_award_eligibility(current_user, id_number=form.id_number.data,
                                                 day=form.day.data or clock.local_today())
    elif request.args.get("person_id"):
        person_id = request.args.get("person_id", type=object_id)
        if person_id is None:
            raise Invalid(_("人员编号无效。"), fields={"person_id": _("人员编号无效。")})
        asked = True
        answer = persons.query_award_eligibility(current_user, person_id=person_id,
                                                 day=_day_arg(request.args.get("date")))
    form.day.data = answer.day if answer else (form.day.data or clock.local_today())
    form.id_number.data = ""  # the clear number is never echoed back into a page
    return render_template("persons/eligibility.html", form=form, answer=answer, asked=asked)


@bp.route("/persons/<int:person_id>/file")
def person_file(person_id: int):
    return render_template("persons/file.html", file=integrity_file.person_file(current_user, person_id),
                           pdf_url=url_for("persons.person_file_pdf", person_id=person_id))


@bp.route("/persons/<int:person_id>/file.pdf")
def person_file_pdf(person_id: int):
    return _pdf(integrity_file.person_file(current_user, person_id), f"person-{person_id}-file.pdf")


@bp.route("/units/<int:unit_id>/file")
def unit_file(unit_id: int):
    return render_template("persons/file.html", file=integrity_file.unit_file(current_user, unit_id),
                           pdf_url=url_for("persons.unit_file_pdf", unit_id=unit_id))


@bp.route("/units/<int:unit_id>/file.pdf")
def unit_file_pdf(unit_id: int):
    return _pdf(integrity_file.unit_file(current_user, unit_id), f"unit-{unit_id}-file.pdf")


def _pdf(data: dict, filename: str) -> Response:
    response = Response(integrity_file.file_pdf(data), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
