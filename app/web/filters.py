"""Jinja filters: local times, Chinese dates and labels for codes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from datetime import datetime

from flask import Flask, g

from app.models import RECORD_STATUSES, ROLES
from app.services.outcomes import OUTCOME_LABELS
from app.services.letters import chinese_date
from app.services.notifications import KINDS as NOTIFICATION_KINDS
from app.services.objections import REASONS
from app.services.taskforms import FORMS
from app.services.calendar import load_calendar
from app.core.clock import local_text
from app.services.inbox.display import remaining_label

EVENT_LABELS = {
    "created": _l("创建申请"),
    "status_changed": _l("状态变更"),
    "task_opened": _l("进入环节"),
    "task_completed": _l("办理完成"),
    "claimed": _l("领取任务"),
    "released": _l("退回任务"),
    "letter_issued": _l("出具文书"),
    "attachment_added": _l("上传材料"),
    "timer_fired": _l("期限届满"),
    "overdue_escalated": _l("超期催办"),
    "reminder_sent": _l("期满前提醒"),
    "deadline_set": _l("重新设定期限"),
    "reassigned": _l("改派任务"),
}
# Choice labels depend on the field: "accept" is 受理 at intake but 整改通过 in a rectification review.
FIELD_CHOICES = {(f.name, v): label for form in FORMS.values() for f in form.fields for v, label in f.choices}
FIELD_LABELS = {f.name: f.label for form in FORMS.values() for f in form.fields}


def register_filters(app: Flask) -> None:
    app.add_template_filter(local_text, "localtime")
    app.add_template_filter(lambda d: chinese_date(d) if d else "", "cndate")
    app.add_template_filter(
        lambda text: local_text(datetime.fromisoformat(text)) if text else "", "isolocal")
    app.add_template_filter(lambda code: ROLES.get(code, code), "role_label")
    app.add_template_filter(lambda code: RECORD_STATUSES.get(code, code), "record_status")
    app.add_template_filter(lambda code: REASONS.get(code, code or ""), "reason_label")
    app.add_template_filter(lambda code: EVENT_LABELS.get(code, code), "event_label")
    app.add_template_filter(lambda value, field: FIELD_CHOICES.get((field, value), value), "choice_label")
    app.add_template_filter(_event_choice, "event_choice")
    app.add_template_filter(lambda code: FIELD_LABELS.get(code, code), "field_label")
    app.add_template_filter(lambda code: OUTCOME_LABELS.get(code, code), "outcome_label")
    app.add_template_filter(_remaining, "remaining")
    app.add_template_filter(lambda code: NOTIFICATION_KINDS.get(code, code), "notification_label")


def _remaining(task):
    """remaining_label with the working-day calendar loaded once per request, not once per row."""
    if "work_calendar" not in g:
        g.work_calendar = load_calendar()
    return remaining_label(task, g.work_calendar)


def _event_choice(event) -> str:
    """The label of an event's routing choice, looked up with the field it was given in."""
    for field, value in (event.details or {}).get("values", {}).items():
        if value == event.choice and (field, value) in FIELD_CHOICES:
            return FIELD_CHOICES[(field, value)]
    return event.choice
