"""Small model factories for tests that need a few rows of a known shape, not the whole demo city.

Each builds real rows through the models (flushes only); the rule sets come from rules.seed_rule_sets().
"""
from __future__ import annotations

import itertools
import secrets
import uuid
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import (Case, CreditRecord, HumanTask, ProcessDefinition, ProcessInstance, RecordHistory, Sanction,
                        Unit)
from app.services import rules, uscc
from app.core.clock import now

_serial = itertools.count(1)


def unit(name: str | None = None) -> Unit:
    """A government unit with a valid unified social credit code."""
    n = next(_serial)
    row = Unit(name=name or f"测试单位{n}", kind="department", region="随州市",
               uscc=uscc.make_uscc(*uscc.GOVERNMENT_ORGAN, "421300", f"TF{n:06d}"))
    db.session.add(row)
    db.session.flush()
    return row


def record(subject: Unit, recorder: Unit, *, severity: str = "general", basis_date: date = date(2026, 5, 1),
           status: str = "published", **fields) -> CreditRecord:
    """A credit record of subject made by recorder, its periods from the rule set in force on basis_date."""
    rules.seed_rule_sets()
    rule_set = rules.rule_set_on(basis_date)
    earliest, auto_end = rules.publication_dates(rule_set, severity, basis_date)
    values = dict(subject_type="unit", subject_unit_id=subject.id, category="admin_penalty", severity=severity,
                  recording_unit_id=recorder.id, basis_doc_no=f"随测罚〔{basis_date.year}〕{next(_serial)}号",
                  basis_date=basis_date, facts="测试事实", legal_basis="测试依据", status=status,
                  publication_start=basis_date, earliest_repair_date=earliest, auto_end_date=auto_end,
                  rule_set_id=rule_set.id, updated_at=now())
    values.update(fields)
    row = CreditRecord(**values)
    db.session.add(row)
    db.session.flush()
    return row


def left_publication(row: CreditRecord, to: str, at) -> RecordHistory:
    """The history row of a record leaving publication (repaired, revoked or expired) at an instant."""
    history = RecordHistory(record_id=row.id, at=at, action="status", from_status=row.status, to_status=to,
                            changes={}, reason="测试")
    row.status = to
    db.session.add(history)
    db.session.flush()
    return history


def case(of: CreditRecord, *, type: str = "objection", status: str = "draft") -> Case:  # noqa: A002 - the model's name
    """A case on a record, filed by the record's subject unit."""
    row = Case(type=type, status=status, record_id=of.id, applicant_unit_id=of.subject_unit_id,
               rule_set_id=of.rule_set_id, query_code=secrets.token_hex(4).upper(), created_at=now(),
               number=f"CS-{next(_serial):06d}",
               closed_at=now() if status in ("closed", "rejected", "withdrawn") else None)
    db.session.add(row)
    db.session.flush()
    return row


def sanction(of: Unit, *, kind: str = "honor_disqualification", status: str | None = "active",
             start_date: date | None = None, term_end: date | None = None, lifted_at=None,
             records: list[CreditRecord] = ()) -> Sanction:
    """A sanction row in a given state, written directly (the transition rules are tested on their own).

    With status None it is the not-yet-imposed sanction sanctions.impose() builds: added, not flushed.
    """
    if status == "lifted" and lifted_at is None:
        lifted_at = now()
    row = Sanction(kind=kind, unit_id=of.id, status=status, start_date=start_date, term_end=term_end,
                   lifted_at=lifted_at, lifted_reason="测试解除" if lifted_at else None, created_at=now())
    row.records = list(records)
    db.session.add(row)
    if status is not None:
        db.session.flush()
    return row


def task(of: Case, lane: str, *, unit_id: int | None = None, bpmn_id: str = "intake_review") -> HumanTask:
    """An open human task of a case in a lane (unit-bound for the applicant and verifier lanes).

    Its process instance is a placeholder row of the case's process: queues and access read only this table.
    """
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == of.id))
    if instance is None:
        definition = db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id).limit(1))
        instance = ProcessInstance(definition_id=definition.id, case_id=of.id, state="{}", serializer_version="1",
                                   updated_at=now())
        db.session.add(instance)
        db.session.flush()
    row = HumanTask(id=str(uuid.uuid4()), instance_id=instance.id, case_id=of.id, bpmn_id=bpmn_id, case_type=of.type,
                    title=f"测试任务 {lane}", form_key=bpmn_id, lane=lane, candidate_unit_id=unit_id, status="open",
                    due_at=now(), created_at=now())
    db.session.add(row)
    db.session.flush()
    return row
