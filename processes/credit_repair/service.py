"""The credit repair (SPEC §4.3): eligibility first, then the process and its effects."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import CASE_OPEN, SANCTION_KINDS, Case, CaseEvent, ProcessInstance, Sanction, User
from app.services import access, applications, audit, calendar, eligibility, notifications, publication, rules, sanctions
from app.core import clock
from app.core.clock import local_date, now
from app.core.errors import Invalid
from processes.honor_restoration import service as restoration
from app.services.transitions import change_case_status, change_record_status
from app.services.workflow.run import credit_office_id, last_values


def create_repair(user: User, record_id: int, statement: str) -> Case:
    """Create a draft repair application, refusing at once (with the reason and date) when ineligible."""
    if not user.has_role("applicant"):
        raise Invalid(_("只有申请单位经办人可以申请信用修复。"), code="role")
    record = access.get_record(user, record_id)
    if record.subject_unit_id != user.unit_id:
        raise Invalid(_("只能为本单位的记录申请信用修复。"), code="not_own_record")
    verdict = eligibility.repair_verdict(record)
    if not verdict.eligible:
        fields = {"earliest_repair_date": verdict.earliest.isoformat()} if verdict.earliest else {}
        raise Invalid(verdict.message, code=f"not_eligible_{verdict.code}", fields=fields)
    statement = (statement or "").strip()
    if not statement:
        raise Invalid(_("请说明失信行为的纠正和义务履行情况。"), fields={"statement": _("必填")})
    if len(statement) > 4000:
        raise Invalid(_("说明不能超过 4000 字。"), fields={"statement": _("不超过 4000 字")})
    case = applications.new_draft(user, "repair", record, {"statement": statement})
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user.id, action="created", to_status="draft",
                             comment="信用修复申请"))
    audit.record("case.create", object_type="case", object_id=case.id, details={"type": "repair", "record_id": record.id})
    return case


def _block(case: Case) -> str | None:
    verdict = eligibility.repair_verdict(case.record, ignore_case_id=case.id)
    return None if verdict.eligible else verdict.message


def _intake_decided(case: Case, user: User, values: dict) -> dict:
    if values["intake_choice"] == "request_supplement":
        return applications.request_supplement(case, user, values)
    return {}


# 谁认定、谁修复 (令第36号第三条): the recording unit's opinion binds the approver. 同意 allows 准予修复 or 不予修复 (with
# reasons); 不同意 only 不予修复 or a return for more material — to the applicant (补充材料通知书) or to the verifier.
DECISIONS_BY_OPINION = {
    "agree": ("approve", "refuse"),
    "disagree": ("refuse", "return_applicant", "return_verifier"),
}
RETURNS = ("return_applicant", "return_verifier")


def _offers_returns(case: Case) -> bool:
    """A case on the first version of the diagram (before issue 13) has no return flows: it may only approve or refuse."""
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    source = (instance.definition.sources.get("credit_repair.bpmn") or "") if instance else ""
    return "return_applicant" in source


def allowed_decisions(case: Case) -> tuple[str, ...]:
    """The approval choices the recording unit's opinion allows for this case (for the form and for the check)."""
    opinion = last_values(case, "verify_repair").get("verifier_opinion")
    allowed = DECISIONS_BY_OPINION.get(opinion, ())
    if not _offers_returns(case):
        allowed = tuple(c for c in allowed if c not in RETURNS)
    return allowed


def _approval_decided(case: Case, user: User, values: dict) -> dict:
    """The approver's conclusion, refused unless the recording unit's opinion allows it (changes nothing then)."""
    choice = values["repair_decision"]
    if choice not in allowed_decisions(case):
        opinion = last_values(case, "verify_repair").get("verifier_opinion")
        if opinion == "disagree":
            message = _("认定单位不同意修复，只能作出不予修复决定或退回补充材料，不能准予修复。")
        else:
            message = _("认定单位同意修复，审批只能准予修复或不予修复。")
        raise Invalid(message, code="decision_against_opinion",
                      fields={"repair_decision": _("该选项与认定单位意见不符。")})
    if choice == "return_applicant":
        change_case_status(case, "supplement", user_id=user.id, reason="退回申请单位补充材料：" + values["reasons"],
                           step="approve_repair")
        due = calendar.deadline(now(), rules.time_limit(case.rule_set, "supplement")).due
        case.form = {**case.form, "supplement_due": due.isoformat()}
        return {"supplement_due": due.isoformat()}
    return {}


def _apply_repair(case: Case, user_id: int | None) -> None:
    """Repair the record and, in the same transaction, lift every active measure resting on it alone (令第36号第三条).

    A measure resting on other records too stays; an honour disqualification among them gets a restoration case."""
    record = case.record
    change_record_status(record, "repaired", user_id=user_id, case_id=case.id,
                         reason=f"信用修复（{case.number}）：终止公示，停止共享")
    publication.push(record, "withdraw", case)
    lifted, left, restoration_started = [], [], False
    for sanction in resting_on_record(record.id):
        if [r.id for r in sanction.records] == [record.id]:
            sanctions.lift(sanction, case, user_id=user_id,
                           reason=f"信用修复（{case.number}）：同步解除仅依据该记录的惩戒措施")
            lifted.append(sanction.id)
            continue
        left.append(sanction.id)
        if sanction.kind == "honor_disqualification" and restoration.open_case_for(sanction) is None:
            restoration.start_restoration(sanction, "repair", user=None)
            restoration_started = True
    case.form = {**case.form, "lifted_sanction_ids": lifted, "left_sanction_ids": left,
                 "restoration_started": restoration_started}
    db.session.add(CaseEvent(case_id=case.id, at=now(), user_id=user_id, action="sanctions_lifted", step="apply_repair",
                             comment=f"同步解除惩戒措施 {len(lifted)} 项；依据多条记录的措施 {len(left)} 项未解除",
                             details={"lifted": lifted, "left": left}))


def resting_on_record(record_id: int) -> list[Sanction]:
    """Every active measure, of any kind, that rests on the record (alone or with others)."""
    found = []
    for kind in SANCTION_KINDS:
        found.extend(sanctions.resting_on(record_id, kind=kind, status="active"))
    return sorted(found, key=lambda s: s.id)


# --- the whole case's limit (repair_total: 10 working days overall, 国办发〔2025〕22号) and the rules applied ---------

def _start_data(case: Case) -> dict:
    """The facts the process checks (same DMN table, facts as of the local day of submission), and what the case
    records: the whole case's last day and which rule set and reading decide its eligibility."""
    day = local_date(case.submitted_at)
    reading = eligibility.repair_reading(case.record, day)
    names = {r.code: r.name for r in rules.all_rule_sets()}
    due = local_date(calendar.deadline(case.submitted_at, rules.time_limit(case.rule_set, "repair_total")).due)
    case.form = {**case.form, "due_total": due.isoformat(), "rule_reading": {
        "record_rule_set": reading["record_rule_set"], "current_rule_set": reading["current_rule_set"],
        "reading": reading["reading"], "applied_rule_set": reading["applied_rule_set"],
        "applied_name": names.get(reading["applied_rule_set"], reading["applied_rule_set"]),
        "earliest_repair_date": reading["earliest_repair_date"].isoformat()}}
    db.session.add(CaseEvent(case_id=case.id, at=now(), action="rules_applied", internal=False,
                             comment=f"适用规则集 {reading['applied_rule_set']}（记录认定时 {reading['record_rule_set']}，"
                                     f"过渡期适用方式：{READINGS.get(reading['reading'], reading['reading'])}）；"
                                     f"整件办结期限 {due.isoformat()}"))
    return eligibility.repair_facts(case.record, day, ignore_case_id=case.id)


READINGS = {"favourable": "从新兼从优", "basis_date": "按认定日期适用"}


def whole_case_due(case: Case) -> date | None:
    value = (case.form or {}).get("due_total")
    return date.fromisoformat(value) if value else None


def escalate_overdue_cases(limit: int = 200) -> int:
    """Daily: tell the office once when a repair case is past its whole-case limit (beside the per-step limits)."""
    today = clock.local_today()
    escalated = 0
    cases = db.session.scalars(select(Case).where(Case.type == "repair", Case.status.in_(CASE_OPEN))
                               .order_by(Case.id)).all()
    for case in cases:
        due = whole_case_due(case)
        if due is None or due >= today or case.form.get("total_overdue_notified"):
            continue
        notifications.notify(credit_office_id(), "intake", kind="escalation", title=f"超期报告：信用修复整件超过办结期限",
                             body=f"办件 {case.number}，办结期限 {due.isoformat()}", case_id=case.id)
        case.form = {**case.form, "total_overdue_notified": today.isoformat()}
        db.session.add(CaseEvent(case_id=case.id, at=now(), action="overdue_escalated", step="repair_total",
                                 internal=True, comment=f"整件超过办结期限（{due.isoformat()}），已报受理员"))
        escalated += 1
        if escalated >= limit:
            break
    return escalated


EFFECTS = {"apply_repair": _apply_repair}
HOOKS = {"repair_intake_review": _intake_decided, "approve_repair": _approval_decided, **applications.SUPPLEMENT_HOOKS}
COMMITMENT = applications.Commitment("信用修复承诺书", (
    "本单位（单位名称：＿＿＿＿＿＿＿＿＿＿＿＿，统一社会信用代码：＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿）"
    "申请对“信用随州”网站公示的下列政务失信记录进行信用修复：",
    "失信记录所依据的认定文书（文号）：＿＿＿＿＿＿＿＿",
    "承诺事项（已履行的义务和纠正失信行为的情况）：" + "＿" * 30,
    "本单位郑重承诺：",
    "一、已经履行认定文书确定的义务，纠正了失信行为，消除了不良影响；",
    "二、所提交的信用修复申请和证明材料真实、准确、完整、合法有效，不存在虚假记载、误导性陈述或者重大遗漏；",
    "三、今后严格遵守法律法规，诚实守信、依法履职，不再发生同类失信行为；",
    "四、如违反上述承诺或者提供虚假材料，本单位自愿接受撤销信用修复决定、恢复公示等处理，承担相应的法律责任，"
    "并同意将违背承诺的情况记入本单位信用记录，依法依规公示和共享。",
))

APPLICATION = applications.ApplicationKind(
    materials={"evidence": _("已履行法定义务、纠正失信行为的证明材料"), "commitment": _("加盖公章的信用承诺书")},
    block=_block,
    # The process checks again with the same DMN table (SPEC §4.3.1), on the facts as of the local day of submission.
    start_data=_start_data,
    commitment=COMMITMENT,
)
