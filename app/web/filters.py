"""Jinja filters: local times, dates in the interface language and labels for codes."""
from __future__ import annotations

from flask_babel import format_date, get_locale, lazy_gettext as _l
from datetime import date, datetime

from flask import Flask, g

from app.models import RECORD_STATUSES, ROLES
from app.services.outcomes import OUTCOME_LABELS
from app.services.letters import chinese_date
from app.services.notifications import KINDS as NOTIFICATION_KINDS
from processes.objection_review.service import REASONS
from processes.source_change.service import summary as source_change_summary
from app.services.workflow import registry
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


def register_filters(app: Flask) -> None:
    """Install the filters; the task-form labels come from the registered process slices."""
    forms = registry.task_forms().values()
    # Choice labels depend on the field: "accept" is 受理 at intake but 整改通过 in a rectification review.
    field_choices = {(f.name, v): label for form in forms for f in form.fields for v, label in f.choices}
    field_labels = {f.name: f.label for form in forms for f in form.fields}
    app.add_template_filter(local_text, "localtime")
    app.add_template_filter(_day, "cndate")
    app.add_template_filter(
        lambda text: local_text(datetime.fromisoformat(text)) if text else "", "isolocal")
    app.add_template_filter(lambda code: ROLES.get(code, code), "role_label")
    app.add_template_filter(lambda code: RECORD_STATUSES.get(code, code), "record_status")
    app.add_template_filter(lambda code: REASONS.get(code, code or ""), "reason_label")
    app.add_template_filter(lambda code: EVENT_LABELS.get(code, code), "event_label")
    app.add_template_filter(lambda value, field: field_choices.get((field, value), value), "choice_label")
    app.add_template_filter(lambda event: _event_choice(event, field_choices), "event_choice")
    app.add_template_filter(lambda code: field_labels.get(code, code), "field_label")
    app.add_template_filter(lambda code: OUTCOME_LABELS.get(code, code), "outcome_label")
    app.add_template_filter(_remaining, "remaining")
    app.add_template_filter(source_change_summary, "source_change_summary")
    app.add_template_filter(lambda code: NOTIFICATION_KINDS.get(code, code), "notification_label")
    # A task or a progress step: the catalogue's name for it in the interface language.
    app.add_template_filter(lambda step: registry.step_name(step.case_type, step.bpmn_id, step.title), "step_name")


def _day(day: date | None) -> str:
    """A date as the interface language writes it: 2026年11月27日, or 27 November 2026 in the English UI."""
    if not day:
        return ""
    return format_date(day, "d MMMM y") if get_locale().language == "en" else chinese_date(day)


def _remaining(task):
    """remaining_label with the working-day calendar loaded once per request, not once per row."""
    if "work_calendar" not in g:
        g.work_calendar = load_calendar()
    return remaining_label(task, g.work_calendar)


def _event_choice(event, field_choices: dict) -> str:
    """The label of an event's routing choice, looked up with the field it was given in."""
    for field, value in (event.details or {}).get("values", {}).items():
        if value == event.choice and (field, value) in field_choices:
            return field_choices[(field, value)]
    return event.choice
