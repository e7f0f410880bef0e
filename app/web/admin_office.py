"""The office's own desk (admin role): units, accounts, the holiday calendar and the deployed process versions.

Views read the form and call one service (app/services/units.py, user_admin.py, calendar.py, process_versions.py),
which checks the rules and audits the change. A refused form is shown again as typed, with the service's message
under the field it names (transaction.on_refusal). The administrator sees no case: versions show counts only.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import transaction
from app.core.clock import local_today
from app.core.errors import ServiceError
from app.models.org import ROLES, UNIT_KINDS
from app.services import calendar, diagram, process_versions, units, user_admin
from app.web import flash_refusal, show_field_errors
from forms.admin import (DAY_KIND_LABELS, CalendarDayForm, CalendarImportForm, NewUserForm, ReasonForm, UnitForm,
                         UserForm, unit_choices)
from forms.cases import ActionForm

bp = Blueprint("office", __name__, url_prefix="/admin")


def _refuse_with(page, form):
    """Answer a refusal by showing the page again with what was typed and the messages."""
    def respond(exc: ServiceError):
        show_field_errors(form, exc)
        return page()
    transaction.on_refusal(respond)


# --- units ---------------------------------------------------------------------------------------------------------

@bp.route("/units")
def units_page():
    return render_template("admin/units.html", units=units.all_units(), users=units.active_user_counts())


def _unit_form(unit=None) -> UnitForm:
    form = UnitForm(obj=unit) if unit is not None and request.method == "GET" else UnitForm()
    # A deactivated unit is not offered as a parent, except as the one already set.
    offered = [u for u in units.all_units() if (u.active or (unit is not None and u.id == unit.parent_id))
               and (unit is None or u.id != unit.id)]
    form.parent_id.choices = unit_choices(offered, blank=_("（无上级单位）"))
    return form


@bp.route("/units/new", methods=["GET", "POST"])
def unit_new():
    form = _unit_form()

    def page():
        return render_template("admin/unit_form.html", form=form, unit=None)

    if form.validate_on_submit():
        _refuse_with(page, form)
        unit = units.create_unit(form.name.data, form.uscc.data, form.kind.data, form.parent_id.data, form.region.data)
        flash(_("单位「%(name)s」已创建。", name=unit.name), "success")
        return redirect(url_for("office.unit_edit", unit_id=unit.id))
    return page()


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
def unit_edit(unit_id: int):
    unit = units.get_unit(unit_id)
    form = _unit_form(unit)
    reason_form = ReasonForm(formdata=None)

    def page():
        return render_template("admin/unit_form.html", form=form, unit=unit, reason_form=reason_form,
                               active_users=units.active_user_counts().get(unit.id, 0))

    if form.validate_on_submit():
        _refuse_with(page, form)
        changes = units.edit_unit(unit, name=form.name.data, code=form.uscc.data, kind=form.kind.data,
                                  parent_id=form.parent_id.data, region=form.region.data)
        flash(_("已保存。") if changes else _("没有改动。"), "success" if changes else "info")
        return redirect(url_for("office.unit_edit", unit_id=unit.id))
    return page()


@bp.route("/units/<int:unit_id>/active", methods=["POST"])
def unit_active(unit_id: int):
    """Deactivate an active unit or reactivate a deactivated one, with a reason."""
    unit = units.get_unit(unit_id)
    form = _unit_form(unit)
    form.process(obj=unit)
    reason_form = ReasonForm()

    def page():
        return render_template("admin/unit_form.html", form=form, unit=unit, reason_form=reason_form,
                               active_users=units.active_user_counts().get(unit.id, 0))

    if not reason_form.validate_on_submit():
        return page()
    _refuse_with(page, reason_form)
    if unit.active:
        units.deactivate_unit(unit, reason_form.reason.data)
        flash(_("单位「%(name)s」已停用：不再新增账户，也不再出现在选择列表中；已有记录不变。", name=unit.name), "success")
    else:
        units.reactivate_unit(unit, reason_form.reason.data)
        flash(_("单位「%(name)s」已重新启用。", name=unit.name), "success")
    return redirect(url_for("office.unit_edit", unit_id=unit.id))


# --- accounts ------------------------------------------------------------------------------------------------------

@bp.route("/users")
def users_page():
    return render_template("admin/users.html", users=user_admin.all_users(), roles=ROLES, locked=user_admin.locked)


def _user_form(cls, user=None):
    if user is not None and request.method == "GET":
        form = cls(obj=user)
        form.roles.data = sorted(user.roles)
    else:
        form = cls()
    offered = [u for u in units.all_units() if u.active or (user is not None and u.id == user.unit_id)]
    form.unit_id.choices = unit_choices(offered, blank=_("（请选择）"))
    return form


def _issued_page(user, password: str, *, new: bool):
    """The one page that shows an issued password; it is not stored anywhere in clear and never shown again."""
    return render_template("admin/issued_password.html", user=user, password=password, new=new)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = _user_form(NewUserForm)

    def page():
        return render_template("admin/user_form.html", form=form, user=None)

    if form.validate_on_submit():
        _refuse_with(page, form)
        issued = user_admin.create_account(form.username.data, form.display_name.data, form.unit_id.data,
                                           form.roles.data or [], email=form.email.data)
        return _issued_page(issued.user, issued.password, new=True)
    return page()


def _user_page(user, form, reason_form):
    return render_template("admin/user_form.html", form=form, user=user, reason_form=reason_form,
                           action_form=ActionForm(), locked=user_admin.locked(user),
                           sessions=user_admin.live_sessions(user), roles=ROLES)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = user_admin.get_user(user_id)
    form = _user_form(UserForm, user)
    reason_form = ReasonForm(formdata=None)

    def page():
        return _user_page(user, form, reason_form)

    if form.validate_on_submit():
        _refuse_with(page, form)
        changes = user_admin.edit_account(user, display_name=form.display_name.data, unit_id=form.unit_id.data,
                                          roles=form.roles.data or [], email=form.email.data, acting=current_user)
        flash(_("已保存。") if changes else _("没有改动。"), "success" if changes else "info")
        return redirect(url_for("office.user_edit", user_id=user.id))
    return page()


def _user_action(user_id: int):
    """The account and a page showing it, for the POST actions on it (their refusals re-show the account)."""
    user = user_admin.get_user(user_id)
    form = _user_form(UserForm, user)
    form.process(obj=user)
    form.roles.data = sorted(user.roles)
    return user, form


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_active(user_id: int):
    """Deactivate an account (its sessions end) or reactivate it, with a reason."""
    user, form = _user_action(user_id)
    reason_form = ReasonForm()
    if not reason_form.validate_on_submit():
        return _user_page(user, form, reason_form)
    _refuse_with(lambda: _user_page(user, form, reason_form), reason_form)
    if user.active:
        user_admin.deactivate(user, reason_form.reason.data, acting=current_user)
        flash(_("账户 %(name)s 已停用，其所有登录会话和接口令牌已失效。", name=user.username), "success")
    else:
        user_admin.reactivate(user, reason_form.reason.data)
        flash(_("账户 %(name)s 已重新启用。", name=user.username), "success")
    return redirect(url_for("office.user_edit", user_id=user.id))


def _checked_action(user_id: int):
    """The account of a one-button action (CSRF checked); a refusal is flashed on the account's page."""
    user = user_admin.get_user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)

    def refused(exc: ServiceError):
        flash_refusal(exc)
        return redirect(url_for("office.user_edit", user_id=user_id))

    transaction.on_refusal(refused)
    return user


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
def user_unlock(user_id: int):
    user = _checked_action(user_id)
    user_admin.unlock(user)
    flash(_("账户 %(name)s 已解除锁定。", name=user.username), "success")
    return redirect(url_for("office.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def user_reset_password(user_id: int):
    user = _checked_action(user_id)
    password = user_admin.reset_password(user)
    return _issued_page(user, password, new=False)


@bp.route("/users/<int:user_id>/second-factor", methods=["POST"])
def user_reset_second_factor(user_id: int):
    user = _checked_action(user_id)
    user_admin.reset_second_factor(user)
    flash(_("账户 %(name)s 的动态口令已重置，下次登录时须重新绑定；其登录会话已失效。", name=user.username), "success")
    return redirect(url_for("office.user_edit", user_id=user.id))


# --- the holiday calendar ------------------------------------------------------------------------------------------

def _year_arg() -> int:
    raw = request.values.get("year", "")
    if raw == "":
        return local_today().year
    if not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        abort(404)
    return int(raw)


def _calendar_page(year: int, import_form=None, day_form=None):
    view = calendar.year_view(year)
    return render_template("admin/calendar.html", view=view,
                           import_form=import_form or CalendarImportForm(formdata=None),
                           day_form=day_form or CalendarDayForm(formdata=None), kinds=DAY_KIND_LABELS,
                           today=local_today())


@bp.route("/calendar")
def calendar_page():
    return _calendar_page(_year_arg())


@bp.route("/calendar/import", methods=["POST"])
def calendar_import():
    """Load one year's State Council schedule file, as `flask calendar import` does."""
    year = _year_arg()
    form = CalendarImportForm()
    if not form.validate_on_submit():
        return _calendar_page(year, import_form=form)
    upload = form.file.data
    if upload is None or not getattr(upload, "filename", ""):
        form.file.errors = [*form.file.errors, _("请选择要导入的文件。")]
        return _calendar_page(year, import_form=form)

    def refused(exc: ServiceError):
        form.file.errors = [*form.file.errors, exc.fields.get("file", exc.message)]  # the file is what was wrong
        return _calendar_page(year, import_form=form)

    transaction.on_refusal(refused)
    text = calendar.decode_schedule(upload.read())
    loaded, rows = calendar.import_schedule(text, form.source.data or "")
    flash(_("%(year)s 年放假安排已导入，共 %(rows)s 条。", year=loaded, rows=rows), "success")
    return redirect(url_for("office.calendar_page", year=loaded))


@bp.route("/calendar/day", methods=["POST"])
def calendar_day():
    """Correct one day of a loaded year, with a reason."""
    form = CalendarDayForm()
    year = form.day.data.year if form.day.data else _year_arg()
    if not form.validate_on_submit():
        return _calendar_page(year, day_form=form)
    _refuse_with(lambda: _calendar_page(year, day_form=form), form)
    recomputed = calendar.correct_day(form.day.data, form.kind.data or "", form.name.data, form.reason.data)
    flash(_("%(day)s 已更正；重新计算了 %(n)s 个待办任务的办理期限。", day=form.day.data.isoformat(), n=recomputed),
          "success")
    return redirect(url_for("office.calendar_page", year=form.day.data.year))


# --- deployed process versions -------------------------------------------------------------------------------------

@bp.route("/processes")
def processes_page():
    return render_template("admin/processes.html", versions=process_versions.deployed_versions())


@bp.route("/processes/<int:definition_id>")
def process_diagram(definition_id: int):
    definition = process_versions.get_definition(definition_id)
    return render_template("admin/process_diagram.html", definition=definition)


@bp.route("/processes/<int:definition_id>/diagram.json")
def process_diagram_json(definition_id: int):
    return jsonify(diagram.definition_diagram(process_versions.get_definition(definition_id)))
