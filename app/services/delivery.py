"""The delivery (送达) of issued letters, and the deadlines that run from it (issue 13 §7).

A letter is delivered **electronically** when a user of the unit it is addressed to (the case's applicant unit) first
opens it in the app — its PDF on the case page or through the API. Staff opening it, or the recording unit's
verifier reading its copy, deliver nothing. Otherwise the credit office enters the day and the way (邮寄, 直接送达,
其他) with a note. A delivery is recorded once: a second entry is refused, and so is a correction (the deadline it
started has been computed and shown to the unit; changing it is the office's decision in a new letter, not an edit).

A letter type's ``starts`` ({variable: fn(case) -> working days}) opens deadlines when the letter is issued:
case.form["deadlines"][variable] = {"letter_id", "letter_type", "days", "status": "awaiting_delivery"}. The slice
sets the variable to the deadline counted from the issue day, as a provisional date, so its timer is waiting. When
the letter is delivered the deadline is counted anew from the delivery day (calendar.deadline: working days, the
delivery day not counted), the timer is moved (run.reschedule) and so are the variables of the letter type's
``follow_on`` hook (a reminder before the last day). Until then a timer of such a deadline that comes due does not
fire: the timer worker pushes it out to the deadline counted from that day and records "未送达，期限未起算".
"""
from __future__ import annotations

from datetime import date, datetime, time

from flask_babel import gettext as _

from app.core import write_intent
from app.core.clock import local_date, local_instant, local_today, now
from app.core.errors import Conflict, Invalid
from app.engine import runtime
from app.extensions import db
from app.models import Case, CaseEvent, Letter, User
from app.services import audit, calendar
from app.services.workflow import registry

ELECTRONIC = "electronic"
# The ways of delivery and their words (the letter's history and the case page say them).
METHODS = {ELECTRONIC: "电子送达", "post": "邮寄送达", "direct": "直接送达", "other": "其他方式送达"}
OFFICE_METHODS = ("post", "direct", "other")
OFFICE_ROLES = ("intake", "approver")
MAX_NOTE = 500
AWAITING, RUNNING = "awaiting_delivery", "running"


def method_label(method: str | None) -> str:
    return METHODS.get(method or "", method or "")


# --- issue: the deadlines a letter opens ---------------------------------------------------------------------------

def open_deadlines(case: Case, letter: Letter) -> None:
    """Record the deadlines the letter's type starts, awaiting its delivery (letters.issue_letter calls this)."""
    kind = registry.letter_type(letter.type)
    if not kind.starts:
        return
    # A step that issues this letter and sets its deadline variable in the same transaction (the 补正 hook) does not
    # supersede it (see superseded): remember which transaction issued it.
    db.session().info.setdefault("deadline_letters", {})[letter.id] = db.session().get_transaction()
    deadlines = dict(case.form.get("deadlines") or {})
    for variable, days in kind.starts.items():
        deadlines[variable] = {"letter_id": letter.id, "letter_type": letter.type, "days": int(days(case)),
                               "status": AWAITING}
    case.form = {**case.form, "deadlines": deadlines}


def deadlines_of(case: Case) -> dict:
    return dict((case.form or {}).get("deadlines") or {})


# --- delivery --------------------------------------------------------------------------------------------------

def addressed_to_applicant(letter: Letter) -> bool:
    """Whether the letter is addressed to the case's applicant unit (a 通报 to all units is not)."""
    return letter.addressee == letter.case.applicant_unit.name


def delivers_electronically(user: User, letter: Letter) -> bool:
    """Whether this user opening the letter delivers it: an applicant of the unit it is addressed to."""
    return (letter.delivered_at is None and user.has_role("applicant") and user.unit_id == letter.case.applicant_unit_id
            and addressed_to_applicant(letter))


def opened(user: User, letter: Letter) -> bool:
    """The user opened the letter in the app (PDF): deliver it electronically when that is its first opening by its
    addressee; True when this opening delivered it."""
    if not delivers_electronically(user, letter):
        return False
    # Opening is a GET: the delivery is written in a writing transaction, where the letter is read again (another
    # opening may have delivered it in between; then this one delivers nothing).
    write_intent.writing()
    if not delivers_electronically(user, letter):
        return False
    _deliver(letter, now(), ELECTRONIC, user_id=user.id, note="")
    return True


def record_office_delivery(user: User, letter: Letter, *, day: str | date, method: str, note: str = "") -> Letter:
    """The office enters a delivery made outside the app: its day (not before the issue day, not in the future),
    the way and a note. Only intake and approver staff; once."""
    if not user.has_role(*OFFICE_ROLES):
        raise Invalid(_("只有信用办受理员或审批人可以登记送达。"), code="delivery_role")
    if letter.delivered_at is not None:
        raise Conflict(_("该文书已于%(day)s%(how)s，不能重复登记。", day=_cn(local_date(letter.delivered_at)),
                         how=method_label(letter.delivery_method)), code="already_delivered")
    errors = {}
    parsed = _parse_day(day)
    if parsed is None:
        errors["delivered_on"] = _("请填写送达日期（如 2026-12-02）。")
    elif parsed < letter.issued_on:
        errors["delivered_on"] = _("送达日期不能早于文书出具日期（%(day)s）。", day=_cn(letter.issued_on))
    elif parsed > local_today():
        errors["delivered_on"] = _("送达日期不能晚于今天。")
    if method not in OFFICE_METHODS:
        errors["delivery_method"] = _("请选择送达方式（邮寄、直接送达或其他）。")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        errors["delivery_note"] = _("不能超过 %(max)s 字。", max=MAX_NOTE)
    elif method == "other" and not note:
        errors["delivery_note"] = _("以其他方式送达的，请说明送达方式。")
    if errors:
        raise Invalid(next(iter(errors.values())), code="bad_delivery", fields=errors)
    # The day is what counts; the instant is the start of that local day (today: now, never in the future).
    at = now() if parsed == local_today() else local_instant(parsed, time(0))
    _deliver(letter, at, method, user_id=user.id, note=note)
    return letter


def _parse_day(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _deliver(letter: Letter, at: datetime, method: str, *, user_id: int | None, note: str) -> None:
    letter.delivered_at, letter.delivery_method, letter.delivered_by_id = at, method, user_id
    letter.delivery_note = note or None
    case = letter.case
    db.session.add(CaseEvent(
        case_id=case.id, at=now(), user_id=user_id, action="letter_delivered",
        comment=f"已送达（{method_label(method)}）：{letter.title}（{letter.doc_number}），送达日期{_cn(local_date(at))}"
                + (f"；{note}" if note else ""),
        details={"letter_id": letter.id, "method": method, "delivered_at": at.isoformat()}))
    audit.record("letter.deliver", object_type="letter", object_id=letter.id,
                 details={"case_id": case.id, "method": method, "delivered_at": at.isoformat(), "note": note})
    db.session.flush()
    start_deadlines(case, letter, at, user_id=user_id)


# --- deadlines from delivery -------------------------------------------------------------------------------------

def _targets(case: Case, entry: dict, variable: str, start: datetime) -> tuple[dict, bool]:
    """The variables to set for a deadline of `days` from `start`: the variable and its follow-ons."""
    due = calendar.deadline(start, int(entry["days"]))
    targets = {variable: due.due}
    follow = registry.letter_type(entry["letter_type"]).follow_on
    if follow:
        targets.update({name: max(value, now()) for name, value in follow(case, due.due).items()})
    return targets, due.provisional


def start_deadlines(case: Case, letter: Letter, at: datetime, *, user_id: int | None) -> None:
    """The letter is delivered at `at`: count its deadlines from that day and move their timers."""
    from app.services.workflow import run

    deadlines = deadlines_of(case)
    for variable, entry in deadlines.items():
        if entry.get("letter_id") != letter.id or entry.get("status") != AWAITING:
            continue
        targets, provisional = _targets(case, entry, variable, at)
        reason = _("自送达起算：%(title)s（%(number)s）于%(day)s送达，%(days)s个工作日，最后一日为%(last)s（含）",
                   title=letter.title, number=letter.doc_number, day=_cn(local_date(at)), days=entry["days"],
                   last=_cn(local_date(targets[variable])))
        for name, value in targets.items():
            run.reschedule(case, name, value, user_id=user_id, reason=reason,
                           provisional=provisional if name == variable else False)
        deadlines[variable] = {**entry, "status": RUNNING, "delivered_at": at.isoformat(),
                               "due": targets[variable].isoformat(), "due_provisional": provisional}
    case.form = {**case.form, "deadlines": deadlines}


def superseded(case: Case, values: dict) -> None:
    """A step set one of these variables anew (e.g. 退回重新整改 with a new period): a deadline of that variable still
    awaiting its letter's delivery no longer counts. A new letter that starts it opens it again."""
    deadlines = deadlines_of(case)
    issued_now = db.session().info.get("deadline_letters", {})
    current = db.session().get_transaction()
    changed = {name: {**entry, "status": "superseded"} for name, entry in deadlines.items()
               if name in values and entry.get("status") == AWAITING
               and not (current is not None and issued_now.get(entry.get("letter_id")) is current)}
    if changed:
        case.form = {**case.form, "deadlines": {**deadlines, **changed}}


def hold_undelivered(case: Case, instance, wf) -> set[str]:
    """Before a due timer fires (run.fire_timer, the lock held, wf loaded): push out the timers of deadlines whose
    letter is not delivered yet to the deadline counted from today, recording "未送达，期限未起算". Returns the ids
    of the timer tasks it moved."""
    from app.services.workflow import run

    # Most timers have no letter awaiting delivery: the case's form says so without walking the workflow's tasks.
    awaiting = {variable: entry for variable, entry in deadlines_of(case).items() if entry.get("status") == AWAITING}
    if not awaiting:
        return set()
    due_vars = {variable for _task_id, variable in runtime.due_timers(wf, now())}
    if not due_vars:
        return set()
    moved_ids: set[str] = set()
    for variable, entry in awaiting.items():
        targets, provisional = _targets(case, entry, variable, now())
        if not due_vars & set(targets):
            continue
        letter = db.session.get(Letter, entry["letter_id"])
        reason = _("未送达，期限未起算：%(title)s（%(number)s）尚未送达，期限暂按今日送达计至%(last)s（含）",
                   title=letter.title, number=letter.doc_number, last=_cn(local_date(targets[variable])))
        for name, value in targets.items():
            ids = {str(t.id) for t in runtime.waiting_timers(wf, name)}
            moved = run.move_loaded(case, instance, wf, name, value,
                                    provisional=provisional if name == variable else False)
            if moved is not None:
                run.record_move(case, name, moved, user_id=None, reason=reason)
                moved_ids |= ids
    return moved_ids


# --- what pages and the API show -------------------------------------------------------------------------------

def delivery_text(letter: Letter) -> str:
    """送达：2026年12月2日 电子送达 / 未送达."""
    if letter.delivered_at is None:
        return _("未送达")
    return _("送达：%(day)s %(how)s", day=_cn(local_date(letter.delivered_at)), how=method_label(letter.delivery_method))


def delivery_json(letter: Letter) -> dict:
    return {"delivered": letter.delivered_at is not None,
            "delivered_at": letter.delivered_at.isoformat() if letter.delivered_at else None,
            "delivered_on": local_date(letter.delivered_at).isoformat() if letter.delivered_at else None,
            "method": letter.delivery_method, "method_label": method_label(letter.delivery_method) or None,
            "note": letter.delivery_note}


def deadline_lines(case: Case) -> list[dict]:
    """Each deadline a letter opened, as the case page shows it: 期限：自送达起10个工作日；尚未送达 / 截止：…（含）."""
    lines = []
    for variable, entry in deadlines_of(case).items():
        if entry.get("status") not in (AWAITING, RUNNING):
            continue
        letter = db.session.get(Letter, entry.get("letter_id"))
        title = letter.title if letter is not None else ""
        if entry.get("status") == AWAITING:
            text = _("期限：自送达起%(days)s个工作日；尚未送达", days=entry["days"])
        else:
            text = _("截止：%(day)s（含）", day=_cn(local_date(runtime.parse_instant(entry["due"]))))
        lines.append({"variable": variable, "letter_id": entry.get("letter_id"), "title": title, "text": text,
                      "status": entry.get("status"), "days": entry.get("days"), "due": entry.get("due")})
    return lines
