"""Bulk import of records (issue 12 §2): reading, checks, all-or-nothing, no duplicates, the same review, pages, API."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.core.errors import Forbidden, Invalid
from app.extensions import db
from app.models import (Attachment, AuditEvent, Case, CaseEvent, CreditRecord, HumanTask, Person, ProcessInstance,
                        RecordHistory, RecordImport, TimerJob)
from app.services import attachments
from app.services import record_import as sheets
from app.services import uscc, workflow
from app.services.record_import import HEADERS, ImportRejected
from processes.record_registration import record_import
from tests.support import factories
from tests.support.clients import ApiClient, fresh_g
from tests.support.files import PDF_BYTES
from tests.support.fuzz import WORLD
from tests.support.snapshots import fingerprint

REVIEW = {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass", "check_legal_basis": "pass",
          "check_severity": "pass", "review": "accept", "opinion": "符合登记条件。"}
ID_NUMBER = "11010519491231002X"  # GB 11643-1999's own example: valid check character


def cells(uscc_code: str, doc: str = "随测罚〔2026〕1号", **changes) -> list[str]:
    row = {"主体类型": "单位", "统一社会信用代码": uscc_code, "姓名": "", "身份证号": "", "职务": "", "失信类别": "行政处罚",
           "失信程度": "一般", "认定文书号": doc, "认定日期": "2026-05-01", "失信事实": "未按规定用途使用专项资金。",
           "法律依据": "《财政违法行为处罚处分条例》第十四条"}
    row.update(changes)
    return [row[h] for h in HEADERS]


def person_cells(uscc_code: str, doc: str = "随纪处〔2026〕7号", **changes) -> list[str]:
    return cells(uscc_code, doc, **{"主体类型": "个人", "姓名": "黄某", "身份证号": ID_NUMBER, "职务": "副局长",
                                    "失信类别": "纪律处分", **changes})


def to_csv(rows: list[list], encoding: str = "utf-8-sig", header=HEADERS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def to_xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture()
def world(deployed_staff):
    """The staff world plus an inactive unit; subject: applicant1's unit; recorder: verifier1's."""
    cast = dict(deployed_staff)
    inactive = factories.unit("已撤并单位")
    inactive.active = False
    db.session.commit()
    return {**cast, "subject": cast["applicant1"].unit, "office": cast["intake1"].unit,
            "own": cast["verifier1"].unit, "inactive": inactive}


# --- reading ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encode", [
    pytest.param(lambda rows: to_csv(rows, "utf-8-sig"), id="csv-utf8-bom"),
    pytest.param(lambda rows: to_csv(rows, "utf-8"), id="csv-utf8"),
    pytest.param(lambda rows: to_csv(rows, "gb18030"), id="csv-gb18030"),
    pytest.param(to_xlsx, id="xlsx"),
])
def test_each_format_is_read_and_imported(world, encode):
    data = encode([cells(world["subject"].uscc, "随测罚〔2026〕1号"), person_cells(world["subject"].uscc)])
    plan = record_import.preview(world["verifier1"], data)
    assert (plan.rows, len(plan.create), plan.errors) == (2, 2, [])
    outcome = record_import.import_file(world["verifier1"], "导入.dat", data, "认定文书.pdf", PDF_BYTES)
    db.session.commit()
    records = db.session.scalars(select(CreditRecord).order_by(CreditRecord.id)).all()
    assert [r.id for r in records] == outcome.created_ids
    unit_record, person_record = records
    assert (unit_record.subject_type, unit_record.subject_unit_id, unit_record.basis_doc_no) == \
        ("unit", world["subject"].id, "随测罚〔2026〕1号")
    assert (unit_record.category, unit_record.severity, unit_record.basis_date) == \
        ("admin_penalty", "general", date(2026, 5, 1))
    assert unit_record.facts == "未按规定用途使用专项资金。"  # Chinese text survives every encoding
    person = db.session.get(Person, person_record.person_id)
    assert (person_record.subject_type, person_record.subject_unit_id, person_record.person_name) == \
        ("person", world["subject"].id, "黄某")
    assert person.id_masked == "110105********002X" and ID_NUMBER not in person.id_cipher
    assert {(r.source, r.import_id, r.status) for r in records} == {("import", outcome.record_import.id, "reviewing")}


def test_template_example_and_blank_rows_are_skipped_and_xlsx_dates_read(world):
    rows = [list(sheets.EXAMPLE), [""] * 11, cells(world["subject"].uscc)]
    rows[2][HEADERS.index("认定日期")] = date(2026, 5, 2)  # an XLSX date cell, not text
    plan = record_import.preview(world["verifier1"], to_xlsx(rows))
    assert plan.rows == 1 and plan.create[0][0] == 4  # spreadsheet row 4: header, example, blank, this
    assert plan.create[0][1].basis_date == date(2026, 5, 2)


@pytest.mark.parametrize("data, fragment", [
    (b"", "文件为空"),
    (to_csv([], header=HEADERS[:-1]), "表头不正确"),
    (to_csv([], header=("失信类别",) + HEADERS[1:]), "表头不正确"),
    (b"PK\x03\x04 not really a workbook", "无法读取该 XLSX"),
    (b"%PDF-1.4\x00\x00", "不是 CSV 或 XLSX"),
    (to_csv([["x" * 200_000]]), "无法读取该 CSV"),  # beyond the csv module's field limit
])
def test_unreadable_files_are_refused(world, data, fragment):
    with pytest.raises(Invalid) as refused:
        record_import.preview(world["verifier1"], data)
    assert fragment in refused.value.message


def test_a_workbook_that_unpacks_too_large_is_not_opened(world, monkeypatch):
    monkeypatch.setattr(sheets, "MAX_XLSX_UNPACKED", 1000)
    with pytest.raises(Invalid, match="解压后过大"):
        record_import.preview(world["verifier1"], to_xlsx([cells(world["subject"].uscc)]))


def test_too_many_rows_are_refused(world, monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 2)
    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(3)])
    with pytest.raises(Invalid, match="一次最多导入 2 行"):
        record_import.preview(world["verifier1"], data)
    at_limit = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(2)])
    assert len(record_import.preview(world["verifier1"], at_limit).create) == 2


# --- the row checks -----------------------------------------------------------------------------------------------

def _bad_check_char(code: str) -> str:
    return code[:17] + next(c for c in "0123456789" if c != code[17])


ERRORS = [
    # (row builder, column, message fragment)
    (lambda w: cells(uscc.make_uscc("1", "1", "421300", "XX999999")), "统一社会信用代码", "未找到统一社会信用代码"),
    (lambda w: cells(_bad_check_char(w["subject"].uscc)), "统一社会信用代码", "校验码错误"),
    (lambda w: cells("12345"), "统一社会信用代码", "应为 18 位"),
    (lambda w: cells(""), "统一社会信用代码", "请填写统一社会信用代码"),
    (lambda w: cells(w["inactive"].uscc), "统一社会信用代码", "不存在或已停用"),
    (lambda w: cells(w["office"].uscc), "统一社会信用代码", "信用办不能作为失信主体"),
    (lambda w: cells(w["own"].uscc), "统一社会信用代码", "不能将本单位登记为失信主体"),
    (lambda w: person_cells(w["subject"].uscc, 身份证号="110105194912310021"), "身份证号", "校验位不正确"),
    (lambda w: person_cells(w["subject"].uscc, 身份证号="1101051949"), "身份证号", "应为 18 位"),
    (lambda w: person_cells(w["subject"].uscc, 姓名=""), "姓名", "请填写姓名"),
    (lambda w: person_cells(w["subject"].uscc, 职务=""), "职务", "请填写职务"),
    (lambda w: person_cells(w["inactive"].uscc), "统一社会信用代码", "所在单位不存在或已停用"),
    (lambda w: cells(w["subject"].uscc, 姓名="黄某"), "姓名", "应留空"),
    (lambda w: cells(w["subject"].uscc, 主体类型="法人"), "主体类型", "应为“单位”或“个人”"),
    (lambda w: cells(w["subject"].uscc, 认定日期="2026-11-28"), "认定日期", "晚于今天"),  # T0 is 2026-11-27
    (lambda w: cells(w["subject"].uscc, 认定日期="2013-12-31"), "认定日期", "早于 2014-01-01"),
    (lambda w: cells(w["subject"].uscc, 认定日期="2026/05/01"), "认定日期", "格式不正确"),
    (lambda w: cells(w["subject"].uscc, 认定日期=""), "认定日期", "请填写认定日期"),
    (lambda w: cells(w["subject"].uscc, 失信类别="违法"), "失信类别", "失信类别“违法”不正确"),
    (lambda w: cells(w["subject"].uscc, 失信类别="admin_penalty"), "失信类别", "不正确"),  # labels, not codes
    (lambda w: cells(w["subject"].uscc, 失信程度="特别严重"), "失信程度", "失信程度“特别严重”不正确"),
    (lambda w: cells(w["subject"].uscc, 认定文书号=""), "认定文书号", "请填写认定文书号"),
    (lambda w: cells(w["subject"].uscc, 认定文书号="号" * 81), "认定文书号", "不能超过 80 字"),
    (lambda w: cells(w["subject"].uscc, 失信事实=""), "失信事实", "请填写失信事实"),
    (lambda w: cells(w["subject"].uscc, 法律依据=""), "法律依据", "请填写法律依据"),
]


@pytest.mark.parametrize("build, column, fragment", ERRORS, ids=[f"{c}-{m}" for _b, c, m in ERRORS])
def test_each_bad_row_is_named_with_its_column_and_reason(world, build, column, fragment):
    good = cells(world["subject"].uscc, "随测罚〔2026〕99号")
    plan = record_import.preview(world["verifier1"], to_csv([good, build(world)]))
    assert [(e["row"], e["column"]) for e in plan.errors] == [(3, column)], plan.errors
    assert fragment in plan.errors[0]["message"]
    assert count(Person) == 0  # the preview wrote nothing, not even a person


@pytest.mark.parametrize("changes, expect", [
    ({"认定日期": "2014-01-01"}, ("basis_date", date(2014, 1, 1))),  # the earliest day allowed
    ({"认定日期": "2026-11-27"}, ("basis_date", date(2026, 11, 27))),  # today (T0)
    ({"认定文书号": "  随测罚〔2026〕3号 "}, ("basis_doc_no", "随测罚〔2026〕3号")),
    ({"失信程度": "严重", "失信类别": "司法判决"}, ("severity", "serious")),
    ({"失信程度": "轻微"}, ("severity", "minor")),
    ({"失信类别": "政务违约"}, ("category", "breach")),
])
def test_values_at_the_edges_are_accepted(world, changes, expect):
    plan = record_import.preview(world["verifier1"], to_csv([cells(world["subject"].uscc, **changes)]))
    assert plan.errors == []
    assert getattr(plan.create[0][1], expect[0]) == expect[1]


def test_lower_case_codes_are_read_as_upper_case(world):
    plan = record_import.preview(world["verifier1"], to_csv([cells(world["subject"].uscc.lower())]))
    assert plan.errors == [] and plan.create[0][1].subject_unit_id == world["subject"].id


def test_every_bad_row_and_column_is_listed_in_order(world):
    good = cells(world["subject"].uscc)
    bad = cells("", 失信类别="违法", 认定日期="明天")
    plan = record_import.preview(world["verifier1"], to_csv([good, bad, good, bad]))
    assert [(e["row"], e["column"]) for e in plan.errors] == [
        (3, "统一社会信用代码"), (3, "失信类别"), (3, "认定日期"),
        (4, "认定文书号"),  # the good row again: same document, same subject
        (5, "统一社会信用代码"), (5, "失信类别"), (5, "认定日期")]
    assert "与第 2 行重复" in plan.errors[3]["message"]


def test_same_document_for_two_subjects_is_two_records(world):
    other = world["applicant2"].unit
    plan = record_import.preview(world["verifier1"], to_csv([
        cells(world["subject"].uscc, "随测罚〔2026〕5号"), cells(other.uscc, "随测罚〔2026〕5号"),
        person_cells(world["subject"].uscc, "随测罚〔2026〕5号")]))
    assert plan.errors == [] and len(plan.create) == 3


def test_the_same_person_twice_with_one_document_is_a_duplicate(world):
    plan = record_import.preview(world["verifier1"], to_csv([person_cells(world["subject"].uscc),
                                                             person_cells(world["subject"].uscc)]))
    assert [(e["row"], e["column"]) for e in plan.errors] == [(3, "认定文书号")]


# --- all-or-nothing, identity, the review -------------------------------------------------------------------------

def test_one_bad_row_writes_nothing(world, api):
    rows = [cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 6)]
    rows.append(cells(world["subject"].uscc, "随测罚〔2026〕9号", 失信程度="很重"))
    response = api("verifier1").post("/api/v1/records/import", data={
        "file": (io.BytesIO(to_csv(rows)), "导入.csv"), "document": (io.BytesIO(PDF_BYTES), "文书.pdf")})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "import_rejected"
    assert body["error"]["rows"] == [{"row": 7, "column": "失信程度", "message": body["error"]["rows"][0]["message"]}]
    assert "失信程度“很重”不正确" in body["error"]["rows"][0]["message"]
    db.session.rollback()
    assert (count(CreditRecord), count(RecordImport), count(Case), count(ProcessInstance), count(Attachment)) == \
        (0, 0, 0, 0, 0)


def test_a_refused_file_is_audited_once_not_per_row(world, api):
    rows = [person_cells(world["subject"].uscc, f"随纪处〔2026〕{i}号", 身份证号="110105194912310021")
            for i in range(1, 4)]
    response = _post(api("verifier1"), to_csv(rows), document=PDF_BYTES)
    assert response.status_code == 422 and len(response.get_json()["error"]["rows"]) == 3
    db.session.rollback()
    refusals = db.session.scalars(select(AuditEvent).where(AuditEvent.outcome != "success")).all()
    assert [(e.action, e.details.get("code")) for e in refusals] == [("state.refused", "import_rejected")]


def test_service_refuses_the_whole_file(world):
    rows = [cells(world["subject"].uscc, "随测罚〔2026〕1号"), cells(world["subject"].uscc, 失信类别="")]
    with pytest.raises(ImportRejected) as refused:
        record_import.import_file(world["verifier1"], "a.csv", to_csv(rows), "d.pdf", PDF_BYTES)
    assert [r["row"] for r in refused.value.rows] == [3]


def test_reimport_creates_no_duplicates(world):
    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 4)])
    first = record_import.import_file(world["verifier1"], "导入.csv", data, "文书.pdf", PDF_BYTES)
    db.session.commit()
    again = record_import.preview(world["verifier1"], data)
    assert (len(again.create), again.existing_ids) == (0, first.created_ids)
    second = record_import.import_file(world["verifier1"], "导入.csv", data)  # nothing new: no document needed
    db.session.commit()
    assert (second.created_ids, second.existing_ids) == ([], first.created_ids)
    assert (second.record_import.created, second.record_import.existing) == (0, 3)
    assert count(CreditRecord) == 3 and count(Case) == 3
    assert second.record_import.sha256 == first.record_import.sha256


def test_a_new_row_beside_existing_ones_needs_the_document(world):
    data = to_csv([cells(world["subject"].uscc, "随测罚〔2026〕1号")])
    record_import.import_file(world["verifier1"], "a.csv", data, "文书.pdf", PDF_BYTES)
    db.session.commit()
    more = to_csv([cells(world["subject"].uscc, "随测罚〔2026〕1号"), cells(world["subject"].uscc, "随测罚〔2026〕2号")])
    with pytest.raises(Invalid, match="请上传本批记录的认定文书"):
        record_import.import_file(world["verifier1"], "b.csv", more)
    with pytest.raises(Invalid, match="不是 PDF、OFD 或图片"):
        record_import.import_file(world["verifier1"], "b.csv", more, "文书.txt", b"plain text")


def test_another_unit_may_record_the_same_document(world):
    data = to_csv([cells(world["subject"].uscc, "随测罚〔2026〕1号")])
    record_import.import_file(world["verifier1"], "a.csv", data, "文书.pdf", PDF_BYTES)
    plan = record_import.preview(world["verifier2"], data)
    assert (len(plan.create), len(plan.existing)) == (1, 0)  # identity includes the recording unit


def test_imported_records_go_through_the_same_review(world):
    verifier, intake = world["verifier1"], world["intake1"]
    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 5)]
                  + [cells(world["subject"].uscc, "随测罚〔2019〕1号", 认定日期="2019-03-01")])  # another rule set
    outcome = record_import.import_file(verifier, "导入.csv", data, "认定文书.pdf", PDF_BYTES)
    db.session.commit()
    cases = db.session.scalars(select(Case).order_by(Case.id)).all()
    assert [c.record_id for c in cases] == outcome.created_ids
    assert {(c.type, c.status, c.current_step) for c in cases} == {("registration", "in_progress", "信用办审核登记")}
    numbers = [c.number for c in cases]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5 and all(n.startswith("DJ-2026-") for n in numbers)
    assert len({c.rule_set_id for c in cases}) == 2
    tasks = db.session.scalars(select(HumanTask).order_by(HumanTask.case_id)).all()
    assert [t.case_id for t in tasks] == [c.id for c in cases]
    assert {(t.bpmn_id, t.lane, t.status, t.candidate_unit_id) for t in tasks} == \
        {("office_review", "intake", "open", world["office"].id)}
    assert len({t.id for t in tasks}) == 5 and {t.due_at for t in tasks[:4]} == {tasks[0].due_at}
    instances = {i.case_id: i for i in db.session.scalars(select(ProcessInstance))}
    for task in tasks:  # each task is the ready user task of its own instance's state
        state = json.loads(instances[task.case_id].state)
        assert task.id in state["tasks"] and state["data"]["case_id"] == task.case_id
    timers = db.session.scalars(select(TimerJob)).all()
    assert sorted(t.instance_id for t in timers) == sorted(i.id for i in instances.values())
    assert {t.bpmn_id for t in timers} == {"review_overdue"}
    # Each case has the history create_draft + attach + submit would write, and its 认定文书.
    for case in cases:
        actions = db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.id)).all()
        assert actions == ["created", "attachment_added", "status_changed", "task_opened"]
        history = db.session.scalars(select(RecordHistory.to_status).where(RecordHistory.record_id == case.record_id)
                                     .order_by(RecordHistory.id)).all()
        assert history == ["draft", "reviewing"]
    documents = db.session.scalars(select(Attachment)).all()
    assert len(documents) == 5 and {(a.kind, a.sha256) for a in documents} == \
        {("basis_document", __import__("hashlib").sha256(PDF_BYTES).hexdigest())}
    assert all(attachments.read_attachment(a) == PDF_BYTES for a in documents)
    # A copied task (not the first start's) is claimed and completed: the record is registered.
    task = tasks[2]
    workflow.claim_task(intake, task.id)
    workflow.complete_task(intake, task.id, REVIEW)
    db.session.commit()
    record = db.session.get(CreditRecord, cases[2].record_id)
    assert record.status == "published"
    assert db.session.get(Case, cases[2].id).status == "closed"
    assert {t.status for t in tasks if t.id != task.id} == {"open"}
    # Return and resubmit works on a copy too.
    workflow.claim_task(intake, tasks[3].id)
    workflow.complete_task(intake, tasks[3].id, {**REVIEW, "review": "return", "return_reasons": "事实不清。"})
    db.session.commit()
    assert db.session.get(CreditRecord, cases[3].record_id).status == "returned"
    correction = db.session.scalar(select(HumanTask).where(HumanTask.case_id == cases[3].id,
                                                           HumanTask.status == "open"))
    assert (correction.bpmn_id, correction.candidate_unit_id) == ("correct_record", world["own"].id)


def test_copied_review_timers_fire_at_their_due_date(world):
    from datetime import timedelta

    from tests.support.flows import run_timers_at

    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 4)])
    record_import.import_file(world["verifier1"], "导入.csv", data, "文书.pdf", PDF_BYTES)
    db.session.commit()
    fire_at = db.session.scalar(select(TimerJob.fire_at).limit(1))
    assert run_timers_at(fire_at - timedelta(minutes=1)) == 0
    assert run_timers_at(fire_at + timedelta(minutes=1)) == 3  # the first start's and both copies'
    escalated = db.session.scalars(select(CaseEvent.case_id).where(CaseEvent.action == "overdue_escalated")).all()
    assert sorted(escalated) == db.session.scalars(select(Case.id).order_by(Case.id)).all()
    assert {t.status for t in db.session.scalars(select(HumanTask))} == {"open"}  # the review stays open


def test_a_start_with_effects_is_not_copied(world, monkeypatch):
    from app.services.workflow import batch

    real = batch.run._start
    monkeypatch.setattr(batch.run, "_start", lambda case, user, data: (real(case, user, data)[0], True))
    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 4)])
    record_import.import_file(world["verifier1"], "导入.csv", data, "文书.pdf", PDF_BYTES)
    db.session.commit()
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("process.start") == 3 and "process.start_batch" not in actions
    assert count(HumanTask) == 3


def test_the_import_is_kept_and_audited(world):
    data = to_csv([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 4)])
    outcome = record_import.import_file(world["verifier1"], "../路径/导入.csv", data, "文书.pdf", PDF_BYTES)
    db.session.commit()
    row = outcome.record_import
    assert (row.user_id, row.unit_id, row.filename, row.rows, row.created, row.existing) == \
        (world["verifier1"].id, world["own"].id, "导入.csv", 3, 3, 0)
    assert row.sha256 == __import__("hashlib").sha256(data).hexdigest() and row.record_ids == outcome.created_ids
    events = {e.action: e for e in db.session.scalars(select(AuditEvent))}
    assert events["record.import"].details["record_ids"] == outcome.created_ids
    case_ids = db.session.scalars(select(Case.id).order_by(Case.id)).all()
    assert events["process.start_batch"].details["case_ids"] == case_ids[1:]
    assert "record.enter" not in events  # one event for the batch, not one per record


@pytest.mark.parametrize("username", ["applicant1", "intake1", "approver1"])
def test_only_verifiers_import(world, username):
    with pytest.raises(Forbidden):
        record_import.preview(world[username], to_csv([cells(world["subject"].uscc)]))


# --- the API ------------------------------------------------------------------------------------------------------

def _post(client, data: bytes, name: str = "导入.csv", **form):
    payload = {"file": (io.BytesIO(data), name), **form}
    if "document" in form:
        payload["document"] = (io.BytesIO(form["document"]), "文书.pdf")
    return client.post("/api/v1/records/import", data=payload, content_type="multipart/form-data")


def test_api_dry_run_then_import(world, api):
    client = api("verifier1")
    data = to_xlsx([cells(world["subject"].uscc, f"随测罚〔2026〕{i}号") for i in range(1, 3)])
    dry = _post(client, data, "导入.xlsx", dry_run="1")
    assert dry.status_code == 200, dry.get_json()
    assert dry.get_json() == {"dry_run": True, "row_count": 2, "create": 2, "existing": 0, "existing_ids": [],
                                   "document_needed": True}
    db.session.rollback()
    assert count(CreditRecord) == 0 and count(RecordImport) == 0
    done = _post(client, data, "导入.xlsx", document=PDF_BYTES)
    assert done.status_code == 201, done.get_json()
    body = done.get_json()
    db.session.rollback()
    assert body["created"] == 2 and body["row_count"] == 2 and body["existing_ids"] == [] and \
        body["created_ids"] == db.session.scalars(select(CreditRecord.id).order_by(CreditRecord.id)).all()
    again = _post(client, data, "导入.xlsx")
    assert again.status_code == 201 and (again.get_json()["created_ids"], again.get_json()["existing_ids"]) == \
        ([], body["created_ids"])


@pytest.mark.parametrize("form, status, code", [
    ({}, 422, "missing_file"),
    ({"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}, 422, "bad_header"),
])
def test_api_refusals(world, api, form, status, code):
    response = api("verifier1").post("/api/v1/records/import", data=form, content_type="multipart/form-data")
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_api_dry_run_lists_errors(world, api):
    data = to_csv([cells(world["subject"].uscc, 认定日期="2026-13-01")])
    response = _post(api("verifier1"), data, dry_run="1")
    assert response.status_code == 422
    assert [(r["row"], r["column"]) for r in response.get_json()["error"]["rows"]] == [(2, "认定日期")]


@pytest.mark.parametrize("username", ["applicant1", "intake1"])
def test_api_import_is_for_verifiers_only(world, api, username):
    response = _post(api(username), to_csv([cells(world["subject"].uscc)]), document=PDF_BYTES)
    assert response.status_code == 404
    db.session.rollback()
    assert count(CreditRecord) == 0


def test_openapi_documents_the_import(world, api):
    spec = api("verifier1").get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/records/import"]["post"]
    assert set(post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]) == \
        {"file", "document", "dry_run"}
    assert {"200", "201", "422"} <= set(post["responses"])


@pytest.fixture()
def import_schema(app, world):
    fresh_g()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).include(path="/records/import")


fuzzed = schemathesis.pytest.from_fixture("import_schema")


@fuzzed.parametrize()
@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_fuzzed_imports_never_fail_and_refusals_change_nothing(case, app, world):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    if "token" not in WORLD:
        WORLD["token"] = ApiClient(app, "verifier1").headers
    before = fingerprint(app)
    fresh_g()
    response = case.call(headers=WORLD["token"])
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
    assert response.status_code < 500
    if response.status_code >= 400:
        assert fingerprint(app) == before


# --- the pages ----------------------------------------------------------------------------------------------------

def test_templates_have_exactly_the_eleven_columns(world, web):
    browser = web("verifier1")
    xlsx = browser.get("/records/import/template.xlsx")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).worksheets[0]
    header = next(sheet.iter_rows(values_only=True))
    assert tuple(header) == HEADERS == ("主体类型", "统一社会信用代码", "姓名", "身份证号", "职务", "失信类别", "失信程度",
                                        "认定文书号", "认定日期", "失信事实", "法律依据")
    csv_file = browser.get("/records/import/template.csv")
    lines = list(csv.reader(io.StringIO(csv_file.data.decode("utf-8-sig"))))
    assert tuple(lines[0]) == HEADERS and len(lines) == 2
    # A template as downloaded imports nothing: its example row is skipped.
    for data in (xlsx.data, csv_file.data):
        assert record_import.preview(world["verifier1"], data).rows == 0


def test_upload_preview_confirm_and_the_list(world, web):
    browser = web("verifier1")
    page = browser.get("/records/import/")
    assert page.status_code == 200 and "record-import.js" in page.get_data(as_text=True)
    first = to_csv([cells(world["subject"].uscc, "随测罚〔2026〕1号")])
    record_import.import_file(world["verifier1"], "上次.csv", first, "文书.pdf", PDF_BYTES)
    db.session.commit()
    data = to_csv([cells(world["subject"].uscc, "随测罚〔2026〕1号"), cells(world["subject"].uscc, "随测罚〔2026〕2号")])
    sent = browser.post("/records/import/upload", {"file": (io.BytesIO(data), "本次.csv"),
                                                  "document": (io.BytesIO(PDF_BYTES), "文书.pdf")},
                        form_page="/records/import/", content_type="multipart/form-data")
    assert sent.status_code == 303
    preview_url = sent.headers["Location"]
    preview = browser.get(preview_url).get_data(as_text=True)
    assert "1 条可导入，1 条已存在。" in preview and "确认导入" in preview
    assert count(CreditRecord) == 1  # the preview wrote nothing
    other = web("verifier2").get(preview_url)
    assert other.status_code == 404  # the staged file is the uploader's only
    done = browser.post(preview_url, {}, form_page=preview_url)
    assert done.status_code == 303
    assert count(CreditRecord) == 2
    shown = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "随测罚〔2026〕2号" in shown and "随测罚〔2026〕1号" not in shown  # only the created one
    listing = browser.get("/records/import/").get_data(as_text=True)
    imports = db.session.scalars(select(RecordImport).order_by(RecordImport.id)).all()
    assert all(i.sha256 in listing for i in imports) and "本次.csv" in listing and "上次.csv" in listing
    assert listing.count(world["verifier1"].display_name) >= 2  # who imported
    assert world["verifier1"].display_name in shown
    assert browser.get(preview_url).status_code != 200  # staged files are gone once imported
    assert "批量导入失信记录" in browser.get("/records/").get_data(as_text=True)


def test_preview_page_lists_errors_without_a_confirm_button(world, web):
    browser = web("verifier1")
    data = to_csv([cells(world["subject"].uscc, 失信类别="违法")])
    sent = browser.post("/records/import/upload", {"file": (io.BytesIO(data), "错.csv")}, form_page="/records/import/",
                        content_type="multipart/form-data", headers={"X-Requested-With": "XMLHttpRequest"})
    assert sent.status_code == 200
    page = browser.get(sent.get_json()["location"]).get_data(as_text=True)
    assert "失信类别“违法”不正确" in page and "确认导入" not in page and "整份文件不会导入" in page


def test_preview_without_document_asks_for_it(world, web):
    browser = web("verifier1")
    data = to_csv([cells(world["subject"].uscc)])
    sent = browser.post("/records/import/upload", {"file": (io.BytesIO(data), "a.csv")}, form_page="/records/import/",
                        content_type="multipart/form-data")
    page = browser.get(sent.headers["Location"]).get_data(as_text=True)
    assert "请返回重新上传，并附上本批记录的认定文书" in page and "确认导入" not in page


def test_upload_without_file_is_refused_in_chinese(world, web):
    sent = web("verifier1").post("/records/import/upload", {}, form_page="/records/import/",
                                 headers={"X-Requested-With": "XMLHttpRequest"})
    assert sent.status_code == 422 and "请选择要导入的" in sent.get_json()["error"]


@pytest.mark.parametrize("username", ["applicant1", "intake1"])
@pytest.mark.parametrize("path", ["/records/import/", "/records/import/template.xlsx"])
def test_pages_are_for_verifiers_only(world, web, username, path):
    assert web(username).get(path).status_code in (403, 404)


@pytest.mark.parametrize("token", ["0" * 32, "../../etc", "x"])
def test_forged_staged_handles_are_not_found(world, web, token):
    assert web("verifier1").get(f"/records/import/staged/{token}").status_code == 404


def test_another_units_import_is_not_shown(world, web):
    outcome = record_import.import_file(world["verifier1"], "a.csv", to_csv([cells(world["subject"].uscc)]),
                                        "文书.pdf", PDF_BYTES)
    db.session.commit()
    assert web("verifier1").get(f"/records/import/{outcome.record_import.id}").status_code == 200
    assert web("verifier2").get(f"/records/import/{outcome.record_import.id}").status_code == 404


def test_unreadable_upload_goes_back_with_the_reason(world, web):
    browser = web("verifier1")
    sent = browser.post("/records/import/upload", {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                        form_page="/records/import/", content_type="multipart/form-data")
    back = browser.get(sent.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "表头不正确" in back and "本单位的导入记录" in back
