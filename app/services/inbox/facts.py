"""The case and record facts copied onto human_task (applicant unit, category, severity) for the inbox's filters.

A filter on a join walks the whole lane to find a value rare in it (hundreds of ms at 100,000 open tasks); on a
copied column it is a range of its own index. The copy must never go stale, so it is kept here, by the session, for
every writer at once: a new task takes its case's facts when it is flushed (the engine's projection adds tasks
through the session), and a record whose category or severity changes (an objection's 更正, a source change, a
draft edited before registration) carries its tasks with it in the same flush. Writers that insert task rows in
bulk, past the session, call `fill_task_facts` for the cases they wrote.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Case, CreditRecord, HumanTask

RECORD_FACTS = ("category", "severity")


def fill_task_facts(session: Session, case_ids: Iterable[int]) -> None:
    """Copy each case's applicant unit and its record's category and severity onto all of the case's tasks."""
    ids = list(case_ids)
    if not ids:
        return
    of_case = lambda column: select(column).where(Case.id == HumanTask.case_id).scalar_subquery()  # noqa: E731
    of_record = lambda column: (select(column).join(Case, Case.record_id == CreditRecord.id)  # noqa: E731
                                .where(Case.id == HumanTask.case_id).scalar_subquery())
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.connection().execute(
            update(HumanTask.__table__).where(HumanTask.__table__.c.case_id.in_(chunk)).values(
                applicant_unit_id=of_case(Case.applicant_unit_id), category=of_record(CreditRecord.category),
                severity=of_record(CreditRecord.severity)))
    _refresh_loaded(session, set(ids))


def _refresh_loaded(session: Session, case_ids: set[int]) -> None:
    """Bring task objects already in the session in line with the rows just updated (without writing them again)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HumanTask) and obj.case_id in case_ids:
            session.expire(obj, ["applicant_unit_id", *RECORD_FACTS])


def _changed(obj, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "before_flush")
def _keep_task_facts(session: Session, _context, _instances) -> None:
    """Fill new tasks' facts and follow changed records and cases, in the flush that writes them."""
    with session.no_autoflush:
        for task in [o for o in session.new if isinstance(o, HumanTask)]:
            case = session.get(Case, task.case_id) if task.case_id is not None else None
            if case is None:
                continue
            task.applicant_unit_id = case.applicant_unit_id
            # The record's two facts: not its history (a selectin load of every change ever made to it).
            record = (session.get(CreditRecord, case.record_id, options=[lazyload(CreditRecord.history)])
                      if case.record_id is not None else None)
            task.category = record.category if record is not None else None
            task.severity = record.severity if record is not None else None
        records = {o.id: o for o in session.dirty
                   if isinstance(o, CreditRecord) and o.id is not None and _changed(o, RECORD_FACTS)}
        cases = {o.id: o for o in session.dirty
                 if isinstance(o, Case) and o.id is not None and _changed(o, ("applicant_unit_id", "record_id"))}
        if not records and not cases:
            return
        for record_id, record in records.items():
            table = HumanTask.__table__
            session.connection().execute(
                update(table).where(table.c.case_id.in_(select(Case.id).where(Case.record_id == record_id)))
                .values(category=record.category, severity=record.severity))
            touched = set(session.scalars(select(Case.id).where(Case.record_id == record_id)))
            _set_loaded(session, touched, category=record.category, severity=record.severity)
        for case_id, case in cases.items():
            record = session.get(CreditRecord, case.record_id) if case.record_id is not None else None
            values = {"applicant_unit_id": case.applicant_unit_id,
                      "category": record.category if record is not None else None,
                      "severity": record.severity if record is not None else None}
            session.connection().execute(
                update(HumanTask.__table__).where(HumanTask.__table__.c.case_id == case_id).values(**values))
            _set_loaded(session, {case_id}, **values)


def _set_loaded(session: Session, case_ids: set[int], **values) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HumanTask) and obj.case_id in case_ids:
            for name, value in values.items():
                set_committed_value(obj, name, value)
