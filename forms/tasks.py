"""Build a WTForms form from a task's form definition (app.services.taskforms)."""
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.services.workflow.taskforms import TaskForm


def build_task_form(definition: TaskForm, initial: dict[str, str] | None = None) -> FlaskForm:
    """Return a bound form whose fields mirror the definition, starting from `initial` until submitted; rules are
    checked by the service."""

    class _Form(FlaskForm):
        pass

    for f in definition.fields:
        if f.type == "choice":
            field = RadioField(f.label, choices=list(f.choices), validators=[Optional()], validate_choice=False)
        elif f.type == "text":
            field = StringField(f.label, validators=[Length(max=200)])
        else:
            field = TextAreaField(f.label, validators=[Length(max=4000)])
        setattr(_Form, f.name, field)
    return _Form(data=initial or None)  # bound to the request's form data once submitted, like any FlaskForm


def submitted_values(definition: TaskForm, form: FlaskForm) -> dict[str, str]:
    """The form's values by field name, "" for a field left empty: what a completion or a draft preview reads."""
    return {f.name: (getattr(form, f.name).data or "") for f in definition.fields}
