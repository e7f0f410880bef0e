"""The status tables (QUALITY.md §5): every allowed edge works and leaves a history row and an audit event;
everything else is refused and changes nothing.

The edges are written out here, not read from app.services.transitions: the tables below are the specification
the code's tables are checked against.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, CaseEvent, RecordHistory, SanctionHistory
from app.core import clock
from app.services.transitions import (
    TransitionError,
    change_case_status,
    change_record_status,
    change_sanction_status,
)
from tests.support import factories
from tests.support.constants import T0


@pytest.fixture()
def world(app):
    subject, recorder = factories.unit(), factories.unit()
    return {"subject": subject, "recorder": recorder, "record": factories.record(subject, recorder)}


def audit_events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


RECORD_EDGES = [
    ("published", "disputed"),  # objection accepted: marked 异议中, still published (SPEC §3)
    ("corrected", "disputed"),  # a corrected record is objected to again and the objection accepted
    ("disputed", "published"),  # objection decided: maintained or annotated, the 异议中 mark removed
    ("disputed", "corrected"),  # objection decided: corrected
    ("disputed", "revoked"),  # objection decided: revoked
    ("published", "repaired"),  # repair approved: publication ends (SPEC §4.3.5)
    ("corrected", "repaired"),  # a corrected record is repaired just the same
    ("published", "expired"),  # maximum publication period over (SPEC §3)
    ("corrected", "expired"),  # the period runs on after a correction and ends the same way
    ("disputed", "expired"),  # a record under objection still ends at its maximum period (LAW.md, issue 13 §6)
    # 认定文书撤销或变更 (issue 12 §4): the recording unit changes its decision at the source, the office applies it
    ("published", "revoked"),  # the 认定文书 revoked: the record revoked
    ("corrected", "revoked"),  # likewise after an earlier correction
    ("published", "corrected"),  # the 认定文书 changed: the record corrected
    ("corrected", "corrected"),  # changed again: a real change, its fields in the history row
]


@pytest.mark.parametrize(("frm", "to"), RECORD_EDGES)
def test_record_edge_is_allowed_with_history_and_audit(world, frm, to):
    record = world["record"]
    record.status = frm
    change_record_status(record, to, user_id=None, case_id=None, reason="依据", changes={"annotation": [None, "x"]})
    assert record.status == to and record.updated_at == clock.now() == T0
    history = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record.id)).all()
    assert [(h.from_status, h.to_status, h.action, h.reason, h.changes) for h in history] == [
        (frm, to, "status", "依据", {"annotation": [None, "x"]})]
    events = audit_events("record.status")
    assert [(e.object_type, e.object_id, e.details) for e in events] == [
        ("credit_record", str(record.id), {"from": frm, "to": to, "case_id": None})]


RECORD_REFUSED = [
    ("revoked", "corrected"),  # a revoked record is not corrected back to life
    ("expired", "revoked"),  # nor is an expired one revoked: it is no longer published
    ("disputed", "disputed"),  # an objection is flagged once
    ("disputed", "repaired"),  # no repair while an objection is being handled
    ("repaired", "published"),  # a repaired record does not come back
    ("revoked", "disputed"),  # nothing to object to once revoked
    ("expired", "repaired"),  # nothing to repair once expired
    ("published", "published"),  # no edge to itself: every change is a real change (a second correction is one)
]


@pytest.mark.parametrize(("frm", "to"), RECORD_REFUSED)
def test_record_edge_is_refused_and_nothing_changes(world, frm, to):
    record = world["record"]
    record.status = frm
    before = record.updated_at
    with pytest.raises(TransitionError):
        change_record_status(record, to, user_id=None, case_id=None, reason="x")
    assert record.status == frm and record.updated_at == before
    assert db.session.scalar(select(func.count()).select_from(RecordHistory)) == 0
    assert audit_events("record.status") == []


CASE_EDGES = [
    ("draft", "in_progress", False),  # submitted with complete materials (SPEC §4.1.1)
    ("in_progress", "supplement", False),  # intake asks for more materials
    ("supplement", "in_progress", False),  # the applicant supplied them
    ("supplement", "withdrawn", True),  # supplement period over: treated as withdrawn (SPEC §3), so closed
    ("in_progress", "rejected", True),  # not accepted (SPEC §4.1.2): closed
    ("in_progress", "closed", True),  # decided and approved (SPEC §4.1.7): closed
]


@pytest.mark.parametrize(("frm", "to", "closes"), CASE_EDGES)
def test_case_edge_is_allowed_with_history_and_audit(world, frm, to, closes):
    case = factories.case(world["record"], status=frm)
    change_case_status(case, to, user_id=None, reason="理由", step="intake_review")
    assert case.status == to
    assert case.closed_at == (T0 if closes else None)
    events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert [(e.action, e.step, e.from_status, e.to_status, e.comment, e.at) for e in events] == [
        ("status_changed", "intake_review", frm, to, "理由", T0)]
    assert [(e.object_type, e.object_id, e.details) for e in audit_events("case.status")] == [
        ("case", str(case.id), {"from": frm, "to": to, "reason": "理由"})]


CASE_REFUSED = [
    ("draft", "closed"),  # a draft was never submitted, so it cannot be decided
    ("draft", "supplement"),  # nor asked to supplement
    ("closed", "in_progress"),  # a closed case stays closed
    ("rejected", "in_progress"),  # a rejected one too; the unit files anew
    ("withdrawn", "in_progress"),  # and a withdrawn one
    ("supplement", "closed"),  # no decision while materials are awaited
]


@pytest.mark.parametrize(("frm", "to"), CASE_REFUSED)
def test_case_edge_is_refused_and_nothing_changes(world, frm, to):
    case = factories.case(world["record"], status=frm)
    before = case.closed_at
    with pytest.raises(TransitionError):
        change_case_status(case, to, user_id=None, reason="x")
    assert case.status == frm and case.closed_at == before
    assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == 0
    assert audit_events("case.status") == []


SANCTION_EDGES = [
    (None, "active"),  # imposed at once: rectification order, honour disqualification
    (None, "proposed"),  # public criticism is proposed first, for the leader to approve (SPEC §4.2.3)
    ("proposed", "active"),  # the leader approves
    ("proposed", "declined"),  # the leader declines
    ("active", "lifted"),  # rectification accepted, repair or restoration
]


@pytest.mark.parametrize(("frm", "to"), SANCTION_EDGES)
def test_sanction_edge_is_allowed_with_history_and_audit(world, frm, to):
    case = factories.case(world["record"], type="rectification", status="in_progress")
    sanction = factories.sanction(world["subject"], kind="public_criticism", status=frm)
    change_sanction_status(sanction, to, user_id=None, case_id=case.id, reason="理由")
    assert sanction.status == to
    lifted = (T0, case.id, "理由") if to == "lifted" else (None, None, None)
    assert (sanction.lifted_at, sanction.lifted_by_case_id, sanction.lifted_reason) == lifted
    history = db.session.scalars(select(SanctionHistory).where(SanctionHistory.sanction_id == sanction.id)).all()
    assert [(h.from_status, h.to_status, h.case_id, h.reason, h.at) for h in history] == [
        (frm, to, case.id, "理由", T0)]
    assert [(e.object_type, e.object_id, e.details) for e in audit_events("sanction.status")] == [
        ("sanction", str(sanction.id), {"kind": "public_criticism", "from": frm, "to": to, "case_id": case.id})]


SANCTION_REFUSED = [
    (None, "lifted"),  # nothing to lift before it exists
    ("active", "declined"),  # only a proposal can be declined
    ("lifted", "active"),  # a lifted sanction is not revived; a new one is imposed
    ("declined", "active"),  # nor a declined one
]


@pytest.mark.parametrize(("frm", "to"), SANCTION_REFUSED)
def test_sanction_edge_is_refused_and_nothing_changes(world, frm, to):
    sanction = factories.sanction(world["subject"], status=frm)
    before = sanction.lifted_at
    with pytest.raises(TransitionError):
        change_sanction_status(sanction, to, user_id=None, case_id=None, reason="x")
    assert sanction.status == frm and sanction.lifted_at == before
    with db.session.no_autoflush:  # a sanction never imposed has no status to store
        assert db.session.scalar(select(func.count()).select_from(SanctionHistory)) == 0
        assert audit_events("sanction.status") == []
