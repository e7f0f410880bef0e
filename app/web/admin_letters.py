"""Letter texts and challenge sentences (admin role; issue 13 §4, §8): the list of letter types, an editor per type
with the names it may use, a 草稿 preview of the typed text (nothing saved), save as a new version, the version
history with "restore", and the challenge sentences of each rule set.

Views read the form and call app/services/letter_templates.py, which validates, saves and audits. A refused form is
shown again as typed with the message under its field (transaction.on_refusal)."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import transaction
from app.core.errors import NotFound, ServiceError
from app.web import show_field_errors
from app.extensions import db
from app.models import RuleSet
from app.services import letter_templates, rules
from app.services.workflow import registry
from forms.letter_templates import ChallengeForm, LetterTemplateForm, RestoreForm

bp = Blueprint("letters_admin", __name__, url_prefix="/admin/letters")


@bp.route("")
def index():
    return render_template("admin/letters.html", rows=letter_templates.overview())


def _editor(letter_type: str, form: LetterTemplateForm, restore_form: RestoreForm | None = None):
    kind = registry.letter_type(letter_type)
    sample = letter_templates.sample(letter_type)
    return render_template("admin/letter_edit.html", key=letter_type, kind=kind, form=form,
                           restore_form=restore_form or RestoreForm(formdata=None),
                           names=letter_templates.available_names(letter_type, sample), sample=sample,
                           versions=letter_templates.versions(letter_type),
                           current=letter_templates.overview_row(letter_type))


def _known(letter_type: str) -> str:
    if letter_type not in registry.letter_types():
        raise NotFound(_("没有这种文书。"))
    return letter_type


@bp.route("/<letter_type>", methods=["GET", "POST"])
def edit(letter_type: str):
    _known(letter_type)
    form = LetterTemplateForm()
    if request.method == "GET":
        form.body.data, form.formula.data = letter_templates.editable_text(letter_type)

    def refused(exc):
        show_field_errors(form, exc)
        return _editor(letter_type, form)

    if form.validate_on_submit():
        transaction.on_refusal(refused)
        row = letter_templates.save(letter_type, form.body.data, form.formula.data, form.note.data,
                                    user_id=current_user.id)
        flash(_("已保存为第 %(v)s 版：此后出具的该类文书使用这一版，已出具的文书不变。", v=row.version), "success")
        return redirect(url_for("letters_admin.edit", letter_type=letter_type))
    return _editor(letter_type, form)


@bp.route("/<letter_type>/preview", methods=["POST"])
def preview(letter_type: str):
    """The 草稿 PDF of the typed text against the sample; nothing is saved."""
    _known(letter_type)
    form = LetterTemplateForm()

    def refused(exc):
        show_field_errors(form, exc)
        return _editor(letter_type, form)

    if not form.validate_on_submit():
        return _editor(letter_type, form)
    transaction.on_refusal(refused)
    pdf = letter_templates.preview(letter_type, form.body.data, form.formula.data)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = "inline; filename=\"draft.pdf\""
    return response


@bp.route("/<letter_type>/versions/<int:version>/restore", methods=["POST"])
def restore(letter_type: str, version: int):
    _known(letter_type)
    restore_form = RestoreForm()
    form = LetterTemplateForm(formdata=None)
    form.body.data, form.formula.data = letter_templates.editable_text(letter_type)

    def refused(exc):
        show_field_errors(restore_form, exc)
        return _editor(letter_type, form, restore_form)

    if not restore_form.validate_on_submit():
        return _editor(letter_type, form, restore_form)
    transaction.on_refusal(refused)
    row = letter_templates.restore(letter_type, version, restore_form.note.data, user_id=current_user.id)
    flash(_("已将第 %(old)s 版恢复为第 %(v)s 版。", old=version, v=row.version), "success")
    return redirect(url_for("letters_admin.edit", letter_type=letter_type))


@bp.route("/challenge", methods=["GET", "POST"])
def challenge():
    """The challenge sentences of one rule set (?rule_set=<id>, default the newest)."""
    existing = rules.all_rule_sets()
    chosen = request.args.get("rule_set", "")
    rule_set = None
    if chosen:
        rule_set = db.session.get(RuleSet, int(chosen)) if chosen.isascii() and chosen.isdigit() and len(chosen) < 10 else None
        if rule_set is None:
            raise NotFound(_("没有这个规则集。"))
    elif existing:
        rule_set = existing[-1]
    form = ChallengeForm()
    if request.method == "GET" and rule_set is not None:
        for key, text in letter_templates.challenge_sentences(rule_set).items():
            form[key].data = text

    def page():
        return render_template("admin/challenge.html", form=form, rule_set=rule_set, rule_sets=existing,
                               labels=letter_templates.CHALLENGE_LABELS)

    def refused(exc):
        show_field_errors(form, exc)
        return page()

    if rule_set is not None and form.validate_on_submit():
        transaction.on_refusal(refused)
        letter_templates.set_challenge_sentences(
            rule_set, {key: form[key].data for key in letter_templates.CHALLENGE_LABELS}, form.note.data)
        flash(_("规则集 %(code)s 的救济途径已保存：此后出具的决定类文书使用。", code=rule_set.code), "success")
        return redirect(url_for("letters_admin.challenge", rule_set=rule_set.id))
    return page()
