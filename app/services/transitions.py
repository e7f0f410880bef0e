"""Allowed status changes: one reviewed table per object, validated in exactly one function each."""
from __future__ import annotations

from app.extensions import db
from app.models import Case, CaseEvent, CreditRecord, RecordHistory, Sanction, SanctionHistory
from app.services import audit
from app.core.clock import now

# (from, to): rule or legal basis.
CASE_TRANSITIONS = {
    ("draft", "in_progress"): "申请单位提交，材料齐全 (SPEC §4.1.1)",
    ("in_progress", "supplement"): "受理审查要求补正",
    ("supplement", "in_progress"): "申请单位补正材料",
    ("supplement", "withdrawn"): "补正期满未补正，按撤回处理 (SPEC §3)",
    ("in_progress", "rejected"): "不予受理 (SPEC §4.1.2)",
    ("draft", "withdrawn"): "认定单位撤回未报送的失信记录",
    ("in_progress", "withdrawn"): "认定单位撤回退回修改的失信记录",
    ("in_progress", "closed"): "处理决定经批准后办结 (SPEC §4.1.7)；整改审核通过后流程结束 (SPEC §4.2.5)",
}

RECORD_TRANSITIONS = {
    ("draft", "reviewing"): "认定单位报送，信用办审核 (issue 12 §1)",
    ("reviewing", "returned"): "信用办审核：退回认定单位修改，并说明理由",
    ("returned", "reviewing"): "认定单位修改后重新报送",
    ("draft", "withdrawn"): "认定单位撤回未报送的记录",
    ("returned", "withdrawn"): "认定单位撤回退回修改的记录",
    ("reviewing", "published"): "信用办审核通过，予以登记；告知主体后按公示起始日公示（轻微失信不公示）",
    ("published", "disputed"): "异议受理，同一事务中标注“异议中”，继续公示 (SPEC §3)",
    ("corrected", "disputed"): "更正后的记录再次被异议并受理",
    ("disputed", "published"): "异议处理决定：维持或记载异议，撤销“异议中”标注",
    ("disputed", "corrected"): "异议处理决定：更正",
    ("disputed", "revoked"): "异议处理决定：撤销",
    ("published", "repaired"): "信用修复经批准：终止公示、停止共享 (SPEC §4.3.5)",
    ("corrected", "repaired"): "信用修复经批准：终止公示、停止共享 (SPEC §4.3.5)",
    ("published", "expired"): "公示期满（最长公示期），自动终止公示 (SPEC §3)",
    ("corrected", "expired"): "公示期满（最长公示期），自动终止公示 (SPEC §3)",
    # A record under objection still ends at its maximum period (LAW.md "Objections"); the objection is decided after.
    ("disputed", "expired"): "异议期间公示期满（最长公示期），自动终止公示；异议处理决定记入历史",
    # 认定文书撤销或变更 (issue 12 §4): the recording unit revokes or corrects its decision, the office applies it within
    # 3 working days (上海市社会信用条例第三十七条 as the model). A record under objection waits for the objection's end.
    ("published", "revoked"): "认定单位撤销认定文书：撤销记录，终止公示并撤回共享",
    ("corrected", "revoked"): "认定单位撤销（已更正记录的）认定文书：撤销记录，终止公示并撤回共享",
    ("published", "corrected"): "认定单位变更认定文书：按变更后的文书更正记录，同步更新公示和共享",
    ("corrected", "corrected"): "认定单位再次变更认定文书：再次更正，变更内容记入历史",
}


class TransitionError(Exception):
    """A status change that the table does not allow (a programming error, never user input)."""


def change_case_status(case: Case, to: str, *, user_id: int | None, reason: str, step: str = "") -> None:
    """Move a case to a new status, with a history row and an audit event."""
    if (case.status, to) not in CASE_TRANSITIONS:
        raise TransitionError(f"case {case.id}: {case.status} -> {to} is not allowed")
    frm = case.status
    case.status = to
    if to in ("closed", "rejected", "withdrawn"):
        case.closed_at = now()
    db.session.add(
        CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="status_changed", step=step,
                  from_status=frm, to_status=to, comment=reason)
    )
    audit.record("case.status", object_type="case", object_id=case.id, details={"from": frm, "to": to, "reason": reason})


def change_record_status(record: CreditRecord, to: str, *, user_id: int | None, case_id: int | None, reason: str,
                         changes: dict | None = None) -> None:
    """Move a record to a new status, with its history row and an audit event."""
    if (record.status, to) not in RECORD_TRANSITIONS:
        raise TransitionError(f"record {record.id}: {record.status} -> {to} is not allowed")
    frm = record.status
    record.status = to
    record.updated_at = now()
    db.session.add(
        RecordHistory(record_id=record.id, at=now(), user_id=user_id, case_id=case_id, action="status",
                      from_status=frm, to_status=to, changes=changes or {}, reason=reason)
    )
    audit.record("record.status", object_type="credit_record", object_id=record.id,
                 details={"from": frm, "to": to, "case_id": case_id})

SANCTION_TRANSITIONS = {
    (None, "active"): "依据失信记录实施惩戒（限期整改通知、逾期未整改取消荣誉评选资格）",
    (None, "proposed"): "逾期未整改，拟公开通报批评，报信用办负责人审批 (SPEC §4.2.3)",
    ("proposed", "active"): "信用办负责人批准通报批评",
    ("proposed", "declined"): "信用办负责人不予批准通报批评",
    ("active", "lifted"): "整改通过审核、信用修复或资格恢复后解除",
}


def change_sanction_status(sanction: Sanction, to: str, *, user_id: int | None, case_id: int | None,
                           reason: str) -> None:
    """Move a sanction to a new status (None → first status when created), with history and audit."""
    frm = sanction.status
    if (frm, to) not in SANCTION_TRANSITIONS:
        raise TransitionError(f"sanction {sanction.id}: {frm} -> {to} is not allowed")
    sanction.status = to
    if to == "lifted":
        sanction.lifted_at, sanction.lifted_by_case_id, sanction.lifted_reason = now(), case_id, reason
    db.session.flush()
    db.session.add(SanctionHistory(sanction_id=sanction.id, at=now(), user_id=user_id, case_id=case_id,
                                   from_status=frm, to_status=to, reason=reason))
    audit.record("sanction.status", object_type="sanction", object_id=sanction.id,
                 details={"kind": sanction.kind, "from": frm, "to": to, "case_id": case_id})
