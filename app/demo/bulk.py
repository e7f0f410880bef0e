"""Generate a large, realistic case load (`demo seed --cases N`) for load and benchmark work.

A handful of template cases are driven through the real services to typical waiting points; each
generated case is a copy of one template with its own record, number, applicant unit and due
dates, and its workflow state copied with fresh task ids — so every generated task can really be
claimed and completed.
"""
from __future__ import annotations

import json
import random
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import insert, select, text

from app.core import clock
from app.extensions import db
from app.models import CASE_PENDING, Case, CreditRecord, HumanTask, ProcessInstance, TimerJob, Unit, User
from app.services import applications, attachments, eligibility, sequences, workflow
from app.services.workflow import registry
from processes.objection_review import service as objections
from processes.rectification import service as rectification
from processes.credit_repair import service as repair
from app.core.clock import now

PDF = b"%PDF-1.4\n%%EOF\n"
BATCH = 1000


def user_named(name: str) -> User:
    """The demo account of that username (the generators and the benchmarks act as the demo's people)."""
    return db.session.scalar(select(User).where(User.username == name))


def _complete(username: str, case: Case, values: dict) -> None:
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
    workflow.complete_task(user_named(username), task.id, values)


def file_objection(record: CreditRecord, steps: list[tuple[str, dict]]) -> Case:
    """applicant1 files and submits an objection on the record (evidence and commitment attached); then each
    (username, values) in steps completes the case's open step in turn."""
    applicant = user_named("applicant1")
    case = objections.create_objection(applicant, record.id, "wrong_content", "认定金额与判决书不一致。")
    attachments.store_attachment(applicant, case, "evidence", "证据材料.pdf", PDF)
    attachments.store_attachment(applicant, case, "commitment", "信用承诺书.pdf", PDF)
    applications.submit_case(applicant, case.id)
    for username, values in steps:
        _complete(username, case, values)
    return case


def free_records(unit_id: int, n: int, *, where=True, fresh_by: str | None = "verifier1") -> list[CreditRecord]:
    """n published records of the unit (meeting `where`) with no case pending.

    The demo's own records are used first; once objections and repairs have taken them (a used demo database),
    fresh ones are registered through the registration process, entered by `fresh_by` for their unit (None: none)."""
    from app.demo import seed

    pending = select(Case.record_id).where(Case.status.in_(CASE_PENDING), Case.record_id.is_not(None))
    found = list(db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == unit_id, CreditRecord.subject_type == "unit",
        CreditRecord.status == "published", CreditRecord.id.not_in(pending), where)
        .order_by(CreditRecord.id).limit(n)))
    if fresh_by is None:
        return found
    officer = user_named(fresh_by)
    today = clock.local_today()
    while len(found) < n:
        number = db.session.scalar(select(db.func.count()).select_from(CreditRecord)) + 1
        found.append(seed.register_record(officer, officer.unit, {
            "subject_type": "unit", "subject_unit_id": unit_id, "category": "breach", "severity": "general",
            "basis_doc_no": f"随财函〔{today.year}〕{9000 + number}号",
            "basis_date": (today - timedelta(days=100)).isoformat(),
            "facts": "政府采购合同约定的付款期限届满后逾期未支付货款，经书面催告仍未支付。",
            "legal_basis": seed.SME_PAYMENT}, user_named("intake1")))
    return found


def sample_cases() -> list[tuple[Case, int]]:
    """(case, weight): typical waiting points of each process, built through the real services."""
    applicant = user_named("applicant1")
    # Steps past 受理 need the record's own recording unit (verifier1 works for 随州市财政局).
    by_finance = CreditRecord.recording_unit_id == user_named("verifier1").unit_id
    own = free_records(applicant.unit_id, 3, where=by_finance)
    others = free_records(applicant.unit_id, 1, where=~by_finance, fresh_by="verifier5")
    accept = ("intake1", {"intake_choice": "accept"})
    verify = ("verifier1", {"verify_choice": "no_error", "opinion": "经核查无误。"})
    draft = ("intake1", {"decision": "maintain", "reasons": "认定事实清楚。"})
    made = [
        (file_objection(others[0], []), 30),  # 受理审查
        (file_objection(own[0], [accept]), 25),  # 认定单位核查
        (file_objection(own[1], [accept, verify]), 15),  # 拟定处理意见
        (file_objection(own[2], [accept, verify, draft]), 10),  # 审批
    ]
    second = user_named("applicant2")
    ordered = free_records(second.unit_id, 1)[0]
    spare = free_records(second.unit_id, 100, where=CreditRecord.id != ordered.id, fresh_by=None)
    order = rectification.open_rectification(user_named("intake1"), ordered.id, 20, "追回资金并完善内控制度。")
    made.append((order, 10))  # 提交整改报告 (applicant task)
    eligible = next((r for r in spare if eligibility.repair_verdict(r).eligible), None)
    if eligible is not None:
        applicant = second
        case = repair.create_repair(applicant, eligible.id, "已履行全部义务。")
        attachments.store_attachment(applicant, case, "evidence", "缴款凭证.pdf", PDF)
        attachments.store_attachment(applicant, case, "commitment", "信用承诺书.pdf", PDF)
        applications.submit_case(applicant, case.id)
        made.append((case, 10))  # 修复受理审查
    db.session.commit()
    return made


def _columns(row) -> dict:
    return {c.key: getattr(row, c.key) for c in type(row).__table__.columns}


def seed_cases(n: int, seed: int = 20261127) -> int:
    """Add n generated cases with their records, instances, open tasks and timers; return n."""
    templates = sample_cases()
    weights = [w for _, w in templates]
    units = list(db.session.scalars(select(Unit.id).where(Unit.is_credit_office.is_(False))))
    year = now().year
    first = {t: sequences.next_number(f"case:{t}", year) for t in ("objection", "rectification", "repair")}
    for t in first:  # reserve the whole range in one step (numbers stay gap-free)
        db.session.execute(sequences.NumberSequence.__table__.update()
                           .where(sequences.NumberSequence.series == f"case:{t}",
                                  sequences.NumberSequence.year == year)
                           .values(last_seq=first[t] + n))
    db.session.commit()
    counters = dict.fromkeys(first, 0)
    shapes = []
    for case, _ in templates:
        instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
        shapes.append({
            "case": _columns(case), "record": _columns(case.record), "instance": _columns(instance),
            "tasks": [_columns(t) for t in db.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id))],
            "timers": [_columns(t) for t in db.session.scalars(select(TimerJob).where(TimerJob.instance_id == instance.id))],
            "task_ids": [t["id"] for t in json.loads(instance.state)["tasks"].values()],
        })
    next_record = db.session.scalar(select(db.func.max(CreditRecord.id))) + 1
    next_case = db.session.scalar(select(db.func.max(Case.id))) + 1
    next_instance = db.session.scalar(select(db.func.max(ProcessInstance.id))) + 1
    # Repeatable for the same database, and fresh task ids for a database that already holds generated cases.
    rng = random.Random(f"{seed}:{next_case}")
    rows = {"record": [], "case": [], "instance": [], "task": [], "timer": []}
    for i in range(n):
        shape = rng.choices(shapes, weights)[0]
        unit_id = rng.choice(units)
        record = {**shape["record"], "id": next_record + i, "subject_unit_id": unit_id,
                  "subject_key": CreditRecord.key_for("unit", unit_id, None), "subject_type": "unit", "person_id": None,
                  "basis_doc_no": f"随财罚〔{year}〕{100000 + next_record + i}号", "status": "disputed"
                  if shape["case"]["type"] == "objection" and shape["record"]["status"] == "disputed" else "published"}
        kind = shape["case"]["type"]
        counters[kind] += 1
        case_id = next_case + i
        case = {**shape["case"], "id": case_id, "record_id": record["id"], "applicant_unit_id": unit_id,
                "number": f"{registry.slice_for(kind).case_prefix}-{year}-{first[kind] + counters[kind]:06d}",
                "query_code": secrets.token_hex(4).upper()}
        mapping = {old: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for old in shape["task_ids"]}
        state = shape["instance"]["state"]
        for old, new in mapping.items():
            state = state.replace(old, new)
        instance = {**shape["instance"], "id": next_instance + i, "case_id": case_id, "state": state}
        shift = timedelta(hours=rng.randint(-24 * 15, 24 * 25))  # some overdue, some due soon, most later
        for task in shape["tasks"]:
            rows["task"].append({**task, "id": mapping[task["id"]], "instance_id": instance["id"], "case_id": case_id,
                                 "due_at": task["due_at"] + shift if task["due_at"] else None,
                                 # the record copies the shape's category and severity; the unit is this case's
                                 "applicant_unit_id": unit_id,
                                 "candidate_unit_id": unit_id if task["lane"] == "applicant"
                                 else task["candidate_unit_id"]})
        for timer in shape["timers"]:
            rows["timer"].append({**timer, "id": mapping[timer["id"]], "instance_id": instance["id"],
                                  "fire_at": timer["fire_at"] + shift + timedelta(days=60)})
        rows["record"].append(record)
        rows["case"].append(case)
        rows["instance"].append(instance)
        if len(rows["case"]) >= BATCH or i == n - 1:
            _flush(rows)
    _advance_id_sequences()
    return n


def _advance_id_sequences() -> None:
    """Move PostgreSQL's id sequences past the explicit ids inserted above, so the next filed case gets a free id."""
    if db.engine.dialect.name != "postgresql":
        return  # SQLite takes max(rowid) + 1 by itself
    for model in (CreditRecord, Case, ProcessInstance):  # task and timer ids are UUIDs
        table = model.__table__.name
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                f"(SELECT max(id) FROM \"{table}\"))"))
    db.session.commit()


def _flush(rows: dict) -> None:
    for model, key in ((CreditRecord, "record"), (Case, "case"), (ProcessInstance, "instance"), (HumanTask, "task"),
                       (TimerJob, "timer")):
        if rows[key]:
            db.session.execute(insert(model), rows[key])
        rows[key].clear()
    db.session.commit()
