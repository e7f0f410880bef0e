"""Staff task inbox: mine and my group, claim, release, complete."""
from __future__ import annotations

from contextlib import nullcontext

from flask_babel import gettext as _
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import transaction
from app.extensions import db
from sqlalchemy import select

from app.models import Case, User, UserRole
from app.services import access, letters, reference, workflow
from app.services.workflow import registry
from app.services.inbox import filters as inbox_filters, queries as task_queries
from app.core.errors import Conflict, Forbidden, Invalid
from app.core.ids import object_id
from app.web import flash_refusal, refills_stale_form
from app.web.cases import previewable
from app.web.navigation import same_site_referrer
from forms.cases import ActionForm
from forms.tasks import build_task_form, submitted_values
from processes.objection_review import service as objections
from processes.record_registration import service as registration

bp = Blueprint("staff", __name__, url_prefix="/tasks")


@bp.route("/")
def tasks_index():
    return redirect(url_for("staff.tasks"))


@bp.route("/inbox")
def tasks():
    scope = request.args.get("scope", "mine")
    if scope not in task_queries.TABS:
        scope = "mine"
    filters = inbox_filters.clean_filters(request.args)
    page = task_queries.inbox_page(current_user, scope, after=request.args.get("after"), filters=filters)
    units = reference.unit_choices() if current_user.has_role("intake", "approver") else []
    colleagues = []
    if current_user.has_role("approver"):
        colleagues = db.session.execute(select(User.id, User.display_name).join(UserRole).where(
            UserRole.role.in_(("intake", "approver")), User.active.is_(True)).order_by(User.display_name).distinct()).all()
    return render_template("staff/tasks.html", page=page, scope=scope, counts=page.counts, action_form=ActionForm(),
                           filters=filters, tabs=task_queries.TABS, scopes=task_queries.SCOPES, units=units,
                           saved=inbox_filters.saved_filters(current_user), colleagues=colleagues,
                           bands=inbox_filters.DUE_BANDS, links=_row_links())


_ID = "987654321"  # a stand-in id that every route converter accepts (int too) and no URL otherwise contains


def _row_links() -> dict[str, str]:
    """Build the per-row URLs once, as format strings (url_for for 50 rows × 4 links showed in the profile)."""
    return {name: url_for(endpoint, **{key: _ID}).replace(_ID, "{}") for name, endpoint, key in (
        ("case", "cases.show", "case_id"), ("task", "staff.task", "task_id"), ("claim", "staff.claim", "task_id"))}


@bp.route("/filters", methods=["POST"])
def save_filter():
    if not ActionForm().validate_on_submit():
        abort(400)
    back = url_for("staff.tasks", **inbox_filters.clean_filters(request.form))

    def refused(exc):
        flash_refusal(exc)
        return redirect(back)

    transaction.on_refusal(refused)
    inbox_filters.save_filter(current_user, request.form.get("name", ""), request.form,
                             request.form.get("shared") == "1")
    flash(_("筛选已保存。"), "success")
    return redirect(back)


@bp.route("/bulk", methods=["POST"])
def bulk():
    """Claim several group tasks at once, or (a leader) assign several to one colleague."""
    if not ActionForm().validate_on_submit():
        abort(400)
    action = request.form.get("action")
    ids = request.form.getlist("task_ids")[:200]
    done, refused = 0, []
    for task_id in ids:
        with transaction.attempt() as outcome:  # a refused task undoes only itself
            if action == "assign":
                workflow.reassign_task(current_user, task_id, request.form.get("assignee_id", type=object_id) or 0,
                                      request.form.get("reason", ""))
            else:
                workflow.claim_task(current_user, task_id)
        if outcome.refused is None:
            done += 1
        else:
            refused.append(outcome.refused.message)
    flash(_("已处理 %(done)s 项任务。", done=done) + (_("未处理 %(count)s 项：%(first)s", count=len(refused), first=refused[0]) if refused else ""),
          "success" if not refused else "error")
    return redirect(same_site_referrer() or url_for("staff.tasks"))


@bp.route("/<task_id>/reassign", methods=["POST"])
def reassign(task_id: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    back = url_for("staff.task", task_id=task_id)

    def refused(exc):
        flash_refusal(exc)
        return redirect(back)

    transaction.on_refusal(refused, Conflict, Invalid, Forbidden)
    workflow.reassign_task(current_user, task_id, request.form.get("assignee_id", type=object_id) or 0,
                          request.form.get("reason", ""))
    flash(_("任务已改派。"), "success")
    return redirect(back)


@bp.route("/<task_id>/extension", methods=["POST"])
def request_extension(task_id: str):
    """The recording unit's verifier asks once, with reasons, for more time for an objection's 核查 (issue 13 §6)."""
    if not ActionForm().validate_on_submit():
        flash(_("页面已过期，请刷新后重试。"), "error")
        return redirect(url_for("staff.task", task_id=task_id))
    back = url_for("staff.task", task_id=task_id)

    def refused(exc):
        flash_refusal(exc, fields=True)
        return redirect(back)

    transaction.on_refusal(refused, Conflict, Invalid, Forbidden)
    objections.request_verify_extension(current_user, task_id, request.form.get("reason", ""))
    flash(_("延长核查期限的申请已提交，待信用办审批。"), "success")
    return redirect(back)


@bp.route("/<task_id>", methods=["GET", "POST"])
@refills_stale_form
def task(task_id: str):
    row = access.get_task(current_user, task_id, supervise=True)
    works_it = workflow.may_work(current_user, row)
    case = db.session.get(Case, row.case_id)
    definition = registry.form_for(row.form_key).for_case(case)  # choices per case
    form = build_task_form(definition, definition.initial(case))

    def page(errors: dict[str, str]):
        case = db.session.get(Case, row.case_id)
        colleagues = []
        if current_user.has_role("approver") and row.status == "open" and row.lane in ("intake", "approver"):
            colleagues = [u for u in db.session.scalars(select(User).join(UserRole).where(UserRole.role == row.lane,
                                                                                          User.active.is_(True)))]
        return render_template("staff/task.html", task=row, case=case, form=form, definition=definition,
                               errors=errors, action_form=ActionForm(),
                               context=task_queries.task_context(case, current_user),
                               colleagues=colleagues, works_it=works_it,
                               checks=registration.automatic_checks(case) if case.type == "registration" else None,
                               extension=objections.extension_state(case) if row.bpmn_id == "verify_record" else None,
                               extension_days=objections.extension_days(case) if row.bpmn_id == "verify_record" else None,
                               preview=_preview_label(row.form_key), previewable=previewable)

    def refused(exc):
        flash_refusal(exc)
        return page(exc.fields)

    if request.method == "POST" and works_it and form.validate_on_submit():
        values = definition.unchanged_blank(case, submitted_values(definition, form))
        transaction.on_refusal(refused)
        workflow.complete_task(current_user, row.id, values)
        flash(_("已办理：%(title)s", title=row.title), "success")
        return redirect(url_for("staff.tasks"))
    return page({})


# Tasks whose outcome issues a letter, by the value of the form's routing field (None: the letter when none is
# chosen yet): who decides sees the draft (watermarked 草稿) before submitting. Intake drafts the 受理通知书,
# 不予受理通知书 or 补正通知书 its choice issues.
_INTAKE = {None: "acceptance_notice", "accept": "acceptance_notice", "reject": "rejection_notice",
           "request_supplement": "supplement_notice"}
PREVIEWS: dict[str, dict[str | None, str]] = {
    "objection_intake_review": _INTAKE,
    "repair_intake_review": {**_INTAKE, None: "repair_acceptance_notice", "accept": "repair_acceptance_notice",
                             "reject": "repair_rejection_notice"},
    "approve_public_criticism": {None: "measures_decision"},
    "approve_measures": {None: "measures_decision"},
    "approve_decision": {None: "objection_decision"},
    "approve_repair": {None: "repair_decision", "refuse": "repair_refusal",
                       "return_applicant": "repair_more_materials_notice"},
    "approve_restoration": {None: "restoration_decision"},
    "office_review": {None: "disclosure_notice"},
}


def _preview_label(form_key: str) -> str | None:
    """The preview button's wording: it names the letter when the task issues only one."""
    choices = PREVIEWS.get(form_key)
    if choices is None:
        return None
    names = {registry.letter_type(name).title for name in choices.values()}
    if len(names) == 1:
        return _("预览拟出具的《%(preview)s》（草稿）", preview=names.pop())
    return _("预览按所选结论拟出具的文书（草稿）")


@bp.route("/<task_id>/preview.pdf", methods=["GET", "POST"])
def preview(task_id: str):
    """The draft letter of a task: from the values submitted so far (GET), or from the task form as it stands (POST,
    the form's 预览 button), which completes nothing."""
    row = access.get_task(current_user, task_id)
    if row.form_key not in PREVIEWS:
        abort(404)
    case = db.session.get(Case, row.case_id)
    values = {}
    if request.method == "POST":
        definition = registry.form_for(row.form_key).for_case(case)
        values = submitted_values(definition, build_task_form(definition))
    routing = next((values.get(f.name) for f in registry.form_for(row.form_key).fields if f.routing), None)
    letter_type = PREVIEWS[row.form_key].get(routing) or PREVIEWS[row.form_key][None]
    with workflow.drafted(case, row.bpmn_id, values) if request.method == "POST" else nullcontext():
        pdf = letters.preview_letter(case, letter_type, registry.letter_type(letter_type).context(case))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = "inline; filename=\"draft.pdf\""
    return response


def _task_action(action, task_id: str, done_message: str, back: str):
    """Run claim or release for the signed-in user, flash the outcome and go `back` (NotFound is the 404 page)."""
    if not ActionForm().validate_on_submit():
        abort(400)

    def refused(exc):
        flash_refusal(exc)
        return redirect(back)

    transaction.on_refusal(refused, Conflict)
    action(current_user, task_id)
    flash(done_message, "success")
    return redirect(back)


@bp.route("/<task_id>/claim", methods=["POST"])
def claim(task_id: str):
    return _task_action(workflow.claim_task, task_id, _("已领取任务。"), url_for("staff.task", task_id=task_id))


@bp.route("/<task_id>/release", methods=["POST"])
def release(task_id: str):
    return _task_action(workflow.release_task, task_id, _("已退回任务到本组待领。"),
                        url_for("staff.tasks", scope="group"))
