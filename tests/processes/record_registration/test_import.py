"""Bulk import of records (issue 12 §2): reading, checks, all-or-nothing, no duplicates, the same review."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (Attachment, Case, CaseEvent, CreditRecord, HumanTask, ProcessInstance, RecordHistory,
                        RecordImport, TimerJob)
from app.services import record_import as sheets
from app.services import workflow
from processes.record_registration import record_import
from tests.support.files import PDF_BYTES

REVIEW = {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass", "check_legal_basis": "pass",
          "check_severity": "pass", "review": "accept", "opinion": "符合登记条件。"}
ID_NUMBER = "11010519491231002X"


def unit_row(uscc: str, doc: str = "随测罚〔2026〕1号", **cells) -> list[str]:
    row = {"主体类型": "单位", "统一社会信用代码": uscc, "姓名": "", "身份证号": "", "职务": "", "失信类别": "行政处罚",
           "失信程度": "一般", "认定文书号": doc, "认定日期": "2026-05-01", "失信事实": "未按规定用途使用专项资金。",
           "法律依据": "《财政违法行为处罚处分条例》第十四条"}
    row.update(cells)
    return [row[h] for h in sheets.HEADERS]


def to_csv(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(sheets.HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def test_import_creates_reviewing_records_with_running_reviews(deployed_staff):
    verifier, intake = deployed_staff["verifier1"], deployed_staff["intake1"]
    subject = deployed_staff["applicant1"].unit
    data = to_csv([unit_row(subject.uscc, f"随测罚〔2026〕{i}号") for i in range(1, 4)])
    outcome = record_import.import_file(verifier, "导入.csv", data, "认定文书.pdf", PDF_BYTES)
    db.session.commit()
    assert len(outcome.created_ids) == 3
    records = db.session.scalars(select(CreditRecord).where(CreditRecord.id.in_(outcome.created_ids))).all()
    assert {r.status for r in records} == {"reviewing"}
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.status == "open")).all()
    assert len(tasks) == 3 and {t.bpmn_id for t in tasks} == {"office_review"}
    task = tasks[-1]
    workflow.claim_task(intake, task.id)
    workflow.complete_task(intake, task.id, REVIEW)
    db.session.commit()
    case = db.session.get(Case, task.case_id)
    assert case.record.status == "published"
