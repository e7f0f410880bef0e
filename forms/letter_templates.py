"""Admin forms for letter texts (versions with a preview) and the challenge sentences of a rule set (issue 13 §4, §8).

Lengths, template validity and the decision rules are the service's (app/services/letter_templates.py): it refuses
with the message under the field, and the typed text is shown again."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from app.services.letter_templates import CHALLENGE_LABELS


class LetterTemplateForm(FlaskForm):
    body = TextAreaField(_l("正文（模板）"), render_kw={"rows": 24, "spellcheck": "false"})
    formula = StringField(_l("结束语"))
    note = TextAreaField(_l("修改说明（改了什么、由谁审核）"), render_kw={"rows": 2})


class RestoreForm(FlaskForm):
    note = TextAreaField(_l("恢复说明（为何恢复、由谁审核）"), render_kw={"rows": 2})


class ChallengeForm(FlaskForm):
    note = TextAreaField(_l("修改说明（改了什么、由哪位法制审核人员审核）"), render_kw={"rows": 2})


for _key, _label in CHALLENGE_LABELS.items():
    setattr(ChallengeForm, _key, TextAreaField(_label, render_kw={"rows": 3}))
