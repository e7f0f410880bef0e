"""Small model factories for tests that need a few rows of a known shape, not the whole demo city.

Each builds real rows through the models or the services (flushes only); the rule sets come from
rules.seed_rule_sets(). `staff()` is the cast of accounts the flows and tables name (applicant1, intake1, ...),
with units of their own and nothing else; `deployed()` adds what a process run needs.
"""
from __future__ import annotations

import itertools
import secrets
import uuid
from datetime import date

from sqlalchemy import select

from app.core.clock import now
from app.extensions import db
from app.models import (RECORD_PUBLIC, AuditEvent, Case, CreditRecord, HumanTask, ProcessDefinition, ProcessInstance, RecordHistory, Sanction,
                        Unit, User)
from app.services import audit, auth, calendar, rules, uscc
from tests.support.constants import PASSWORD, PROCESSES, TOTP_SECRET

_serial = itertools.count(1)


def unit(name: str | None = None, *, credit_office: bool = False) -> Unit:
    """A government unit with a valid unified social credit code (the credit office if asked)."""
    n = next(_serial)
    row = Unit(name=name or f"测试单位{n}", kind="department", region="随州市", is_credit_office=credit_office,
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
    # A registered record in publication has its publication begun, unless its rule set keeps it unpublished.
    shown = values["status"] in RECORD_PUBLIC and rule_set.periods[values["severity"]].get("published", True)
    values.setdefault("published_at", now() if shown else None)
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

    Its process instance is a placeholder row of the case's process: queues and access read only this table. With
    no process deployed, the instance hangs on a placeholder definition too.
    """
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == of.id))
    if instance is None:
        definition = db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id).limit(1))
        if definition is None:
            definition = ProcessDefinition(process_key="placeholder", version=1, file_hash="0" * 64, sources={},
                                           spec_json="{}", deployed_at=now())
            db.session.add(definition)
            db.session.flush()
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


def user(role: str, of: Unit | None = None, *, username: str | None = None) -> User:
    """An account of one role in a unit (a new one unless given), signing in with the test password.

    Roles that need a second factor are enrolled with the test secret, as the seeded demo accounts are.
    """
    n = next(_serial)
    username = username or f"{role}{n}"
    row = auth.create_user(username, f"测试用户{n}", (of or unit()).id, [role], PASSWORD,
                           email=f"{username}@example.com")
    if auth.needs_second_factor(row):
        row.totp_secret = TOTP_SECRET
        row.totp_confirmed_at = now()
        db.session.flush()
    return row


# The accounts tests and flows name, by username: (role, unit key). Units with one key are one unit: the credit
# office houses intake, approver, administrator and auditor; verifier1's unit records, applicant1's is recorded.
STAFF = [("applicant1", "applicant", "applicant1"), ("applicant2", "applicant", "applicant2"),
         ("intake1", "intake", "office"), ("verifier1", "verifier", "verifier1"), ("approver1", "approver", "office"),
         ("admin1", "admin", "office"), ("auditor1", "auditor", "office"), ("verifier2", "verifier", "verifier2")]


def staff() -> dict[str, User]:
    """The eight accounts of the demo by username, each unit of its own kind, and no records or processes."""
    units = {"office": unit("测试市信用办", credit_office=True)}
    for key in ("applicant1", "applicant2", "verifier1", "verifier2"):
        units[key] = unit()
    return {username: user(role, units[key], username=username) for username, role, key in STAFF}


def deployed() -> None:
    """What running a process needs: the deployed BPMN and DMN files, the rule sets and the working calendar."""
    from app.engine.definitions import deploy_directory

    deploy_directory(PROCESSES)
    rules.seed_rule_sets()
    calendar.seed_from_package(range(2024, 2027))


def person(of: Unit, *, name: str = "黄志明", post: str = "副局长", body17: str = "42130319780512123"):
    """A civil servant of a unit, through persons.resolve (their ID number encrypted, digested and masked)."""
    from app.demo.seed import demo_id_number
    from app.services import persons

    return persons.resolve({"name": name, "id_number": demo_id_number(body17), "post": post, "unit_id": of.id})


def person_record(who, recorder: Unit, *, registered_at, **fields) -> CreditRecord:
    """A record about a person, registered (reviewing → published in its history) at an instant."""
    row = record(who.unit, recorder, subject_type="person", person_id=who.id, person_name=who.name,
                 person_post=who.post, category="discipline", **fields)
    db.session.add(RecordHistory(record_id=row.id, at=registered_at, action="status", from_status="reviewing",
                                 to_status="published", changes={}, reason="测试登记"))
    db.session.flush()
    return row


def audit_event(action: str, **fields) -> AuditEvent:
    """Record one audit event and write it now (the chain writes a transaction's events at its commit), so a test
    has its id before committing."""
    audit.record(action, **fields)
    return audit.write_pending()[-1]
