"""Drafts never submitted are deleted with their files by the worker after DRAFT_PURGE_AFTER_DAYS (audited)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, AuditEvent, Case, CaseEvent, CreditRecord
from app.services import applications, attachments, audit
from processes.objection_review import service as objections
from app.core import clock
from app.services.worker import sweep
from tests.support.constants import T0
from tests.support.files import PDF_BYTES, PNG_BYTES


def stored(app) -> set[Path]:
    return {p for p in Path(app.config["FILE_STORE"]).rglob("*") if p.is_file()}


def records_of(user) -> list[CreditRecord]:
    return list(db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == user.unit_id, CreditRecord.status == "published").order_by(CreditRecord.id)))


def draft(user, record, *files: tuple[str, bytes]) -> int:
    case = objections.create_objection(user, record.id, "duplicate", "重复公示。")
    for name, data in files:
        attachments.store_attachment(user, case, "evidence", name, data)
    db.session.commit()
    return case.id


def at(days: float) -> None:
    clock.set_frozen(T0 + timedelta(days=days))


def exists(case_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Case, case_id) is not None


@pytest.fixture()
def applicant(users):
    return users["applicant1"]


def test_a_stale_draft_goes_with_its_files_and_the_rest_stays(app, applicant, api):
    from tests.support.flows import file_objection

    first, second, third = records_of(applicant)[:3]
    first_id = first.id
    files_before = stored(app)
    stale = draft(applicant, first, ("证据.pdf", PDF_BYTES), ("照片.png", PNG_BYTES))
    stale_files = stored(app) - files_before
    assert len(stale_files) == 2
    touched = draft(applicant, second)
    submitted = file_objection(api, record=third)["id"]
    at(20)
    attachments.store_attachment(applicant, db.session.get(Case, touched), "evidence", "后补.pdf", PDF_BYTES)
    db.session.commit()

    at(30.5)
    result = sweep()
    assert result.purged_drafts == 1 and result.purge_errors == 0
    assert not exists(stale) and exists(touched) and exists(submitted)
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == stale)) == 0
    assert db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == stale)) == 0
    assert not (stale_files & stored(app))  # the files are gone from the store
    assert len(stored(app)) == len(files_before) + 3  # the touched draft's file and the submitted case's two

    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "draft.purged")).all()
    assert event.object_type == "case" and event.object_id == str(stale) and event.username == "system"
    assert event.details["files"] == 2 and event.details["bytes"] == len(PDF_BYTES) + len(PNG_BYTES)
    assert sorted(a["name"] for a in event.details["attachments"]) == ["照片.png", "证据.pdf"]
    assert event.details["after_days"] == 30 and event.details["record_id"] == first_id
    assert audit.verify_chain()[1] == []

    at(50.5)  # 30 days after the touched draft's last file
    assert sweep().purged_drafts == 1
    assert not exists(touched) and exists(submitted)


def test_the_period_is_configurable(app, applicant, monkeypatch):
    monkeypatch.setitem(app.config, "DRAFT_PURGE_AFTER_DAYS", 5)
    case_id = draft(applicant, records_of(applicant)[0], ("证据.pdf", PDF_BYTES))
    at(4.9)
    assert sweep().purged_drafts == 0 and exists(case_id)
    at(5.1)
    assert sweep().purged_drafts == 1 and not exists(case_id)


def test_a_rolled_back_purge_keeps_rows_and_files(app, applicant):
    case_id = draft(applicant, records_of(applicant)[0], ("证据.pdf", PDF_BYTES))
    files = stored(app)
    at(31)
    assert applications.purge_draft(case_id) is True
    db.session.rollback()
    assert exists(case_id) and stored(app) == files
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.kind != "basis_document")) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "draft.purged")) == 0


def test_a_purged_draft_answers_404_to_its_owner(app, applicant, web):
    case_id = draft(applicant, records_of(applicant)[0], ("证据.pdf", PDF_BYTES))
    assert web("applicant1").get(f"/cases/{case_id}").status_code == 200
    at(31)
    sweep()
    assert web("applicant1").get(f"/cases/{case_id}").status_code == 404


def test_the_app_refuses_a_purge_period_under_a_day():
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        DRAFT_PURGE_AFTER_DAYS = 0

    with pytest.raises(RuntimeError, match="DRAFT_PURGE_AFTER_DAYS"):
        create_app(Cfg)


def test_a_draft_purged_while_its_submission_waited_answers_409(app, applicant, monkeypatch):
    """The worker and the applicant race: the purge took the lock first, so the submission finds no draft."""
    from sqlalchemy import delete

    from app.services import locks
    from app.core.errors import Conflict

    case_id = draft(applicant, records_of(applicant)[0], ("证据.pdf", PDF_BYTES))
    real_lock = locks.lock_record

    def purged_meanwhile(record_id):
        real_lock(record_id)
        for model in (Attachment, CaseEvent):  # what the other transaction committed while this one waited
            db.session.execute(delete(model).where(model.case_id == case_id))
        db.session.execute(delete(Case).where(Case.id == case_id))

    monkeypatch.setattr(locks, "lock_record", purged_meanwhile)
    with pytest.raises(Conflict) as refused:
        applications.submit_case(applicant, case_id)
    assert refused.value.code == "draft_purged" and refused.value.status == 409
