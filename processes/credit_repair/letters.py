"""The credit repair's letters (SPEC §5; issue 13 §3, §5, §8), each a template text (app/services/letters.render_body):
修复受理通知书, 不予受理通知书, 不符合修复条件告知书, 补充材料通知书, 视为撤回告知书, 信用修复决定书, 不予修复决定书."""
from __future__ import annotations

from datetime import date

from app.core.clock import local_date
from app.extensions import db
from app.i18n import chinese
from app.models import Case, Sanction
from app.models.records import SANCTION_KINDS
from app.services import calendar, eligibility, rules
from app.services.applications import SUPPLEMENT_LETTERS
from app.services.letters import LetterType, chinese_date, from_delivery
from app.services.workflow.run import last_values

OPENING = "你单位于{{ submitted }}提交的关于{{ record }}的信用修复申请（受理编号：{{ case_number }}）收悉。"

ACCEPTANCE = OPENING + """
经审查，申请材料齐全，符合受理条件，根据{{ law.repair }}和{{ law.plan }}的有关规定，本办决定予以受理。

本办将征求认定单位{{ recording_unit }}的意见：认定单位自受理之日起{{ verify_days }}个工作日内出具意见，
本办在认定单位出具意见后{{ approve_days }}个工作日内作出决定；整件自提交之日起{{ total_days }}个工作日内办结，
即{{ last_day(due_total) }}办结。

你单位可凭受理编号{{ case_number }}和查询码{{ query_code }}在“信用随州”网站查询办理进度。
"""

REJECTION = OPENING + """
经审查，{{ reason or "不符合受理条件" }}。

根据{{ law.repair }}和{{ law.plan }}的有关规定，本办决定不予受理。

{{ challenge }}
"""

INELIGIBLE = OPENING + """
经复核，{{ reason }}{% if earliest %}你单位最早可于{{ date(earliest) }}起重新申请。{% endif %}

根据{{ law.repair }}{{ rule_note }}和{{ law.plan }}的有关规定，该申请不符合信用修复条件，本办决定不予受理。

{{ challenge }}
"""

MORE_MATERIALS = OPENING + """
经征求认定单位{{ recording_unit }}意见并审核，现有材料尚不足以认定失信行为已纠正、相关义务已履行。

根据{{ law.repair }}的有关规定，请你单位{{ deadline }}补充以下材料：{{ items }}

逾期未补充的，按撤回信用修复申请处理。补充材料后，本办将再次征求认定单位意见。
"""

WITHDRAWN = OPENING + """
本办已书面通知你单位补正（补充）材料，你单位未在规定期限内补正（补充）。

根据{{ law.repair }}和{{ law.plan }}的有关规定，该信用修复申请视为撤回，本办终止办理。
你单位符合条件的，可重新提出申请。

{{ challenge }}
"""

DECISION = OPENING + """
经审核，并征求认定单位{{ recording_unit }}意见（{{ opinion }}），{{ subject }}已纠正失信行为、履行相关义务，
符合信用修复条件。

根据{{ law.repair }}第三条和{{ law.plan }}，本办决定对该条政务失信记录予以信用修复：即日起在“信用随州”网站终止公示，
停止共享，并推送信用中国（湖北）撤回该记录。

{% if lifted %}依据{{ law.repair }}第三条“同步依法依规解除失信惩戒措施”，同时解除仅依据该记录实施的惩戒措施：
{{ lifted | join("；") }}。{% else %}没有仅依据该记录实施、尚在实施中的惩戒措施。{% endif %}

{% if left %}以下措施同时依据其他失信记录实施，本决定不予解除：{{ left | join("；") }}。
{% if restoration %}其中取消荣誉评选资格措施，将另行办理恢复。{% endif %}{% endif %}

理由：{{ reasons }}

{% if left %}{{ challenge }}{% endif %}
"""

REFUSAL = OPENING + """
经审核，并征求认定单位{{ recording_unit }}意见（{{ opinion_label }}：{{ opinion }}），本办决定不予修复。

理由：{{ reasons }}

根据{{ law.repair }}第三条（认定单位出具修复意见）和{{ law.plan }}，该条记录继续按规定公示。
你单位可在纠正失信行为、履行相关义务后重新申请。

{{ challenge }}
"""

OPINIONS = {"agree": "同意修复", "disagree": "不同意修复"}


def _verifier(case: Case) -> dict:
    values = last_values(case, "verify_repair")
    return {"opinion_label": OPINIONS.get(values.get("verifier_opinion"), "未出具意见"),
            "opinion": values.get("opinion", "") or OPINIONS.get(values.get("verifier_opinion"), "")}


def describe(sanction: Sanction) -> str:
    """A measure as a letter names it: 取消荣誉评选资格（自2026年5月1日起实施）."""
    since = f"（自{chinese_date(sanction.start_date)}起实施）" if sanction.start_date else ""
    return f"{chinese(SANCTION_KINDS.get(sanction.kind, sanction.kind))}{since}"


def _sanctions(ids) -> list[str]:
    return [describe(s) for s in (db.session.get(Sanction, i) for i in ids or ()) if s is not None]


def due_total(case: Case) -> date:
    """The whole case's last day (repair_total working days from submission, 国办发〔2025〕22号)."""
    if case.form.get("due_total"):
        return date.fromisoformat(case.form["due_total"])
    limit = rules.time_limit(case.rule_set, "repair_total")
    return local_date(calendar.deadline(case.submitted_at, limit).due)


def _acceptance(case: Case) -> dict:
    return {"verify_days": rules.time_limit(case.rule_set, "repair_verify"),
            "approve_days": rules.time_limit(case.rule_set, "repair_approve"),
            "total_days": rules.time_limit(case.rule_set, "repair_total"), "due_total": due_total(case)}


def _ineligible(case: Case) -> dict:
    code = case.outcome or "eligible"
    reading = case.form.get("rule_reading") or {}
    earliest = None
    if code == "min_period":
        earliest = eligibility.repair_reading(case.record, local_date(case.submitted_at))["earliest_repair_date"]
    note = f"（适用规则：{reading['applied_name']}）" if reading.get("applied_name") else ""
    return {"reason": str(chinese(eligibility.REPAIR_MESSAGES.get(code, eligibility.REPAIR_MESSAGES["eligible"]))),
            "earliest": earliest, "rule_note": note}


def _more_materials(case: Case) -> dict:
    # The deadline runs from this letter's delivery (starts=…); the text says so and its last day if delivered today.
    days = _supplement_days(case)
    return {"items": last_values(case, "approve_repair").get("reasons", ""), "days": days,
            "deadline": from_delivery(days)}


def _decision(case: Case) -> dict:
    return {**_verifier(case), "reasons": last_values(case, "approve_repair").get("reasons", ""),
            "lifted": _sanctions(case.form.get("lifted_sanction_ids")),
            "left": _sanctions(case.form.get("left_sanction_ids")),
            "restoration": bool(case.form.get("restoration_started"))}


def _refusal(case: Case) -> dict:
    return {**_verifier(case), "reasons": last_values(case, "approve_repair").get("reasons", "")}


def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


def _supplement_days(case: Case) -> int:
    return rules.time_limit(case.rule_set, "supplement")


LETTERS = {
    "repair_acceptance_notice": LetterType("修复受理通知书", "修受", ACCEPTANCE, "特此通知。", context=_acceptance,
                                           cc=_recording_unit),
    "repair_rejection_notice": LetterType(
        "不予受理通知书", "修不受", REJECTION, "特此通知。", decides=True, cc=_recording_unit,
        context=lambda case: {"reason": last_values(case, "intake_review").get("reason", "")}),
    "repair_ineligible_notice": LetterType("不符合修复条件告知书", "修不符", INELIGIBLE, "特此告知。", context=_ineligible,
                                           decides=True, cc=_recording_unit),
    "repair_more_materials_notice": LetterType("补充材料通知书", "修补", MORE_MATERIALS, "特此通知。",
                                               context=_more_materials, cc=_recording_unit,
                                               starts={"supplement_due": _supplement_days}),
    **SUPPLEMENT_LETTERS,  # 补正通知书 and 视为撤回告知书 of the intake's 补正, shared with the objection
    "repair_withdrawn_notice": LetterType("视为撤回告知书", "修撤", WITHDRAWN, "特此告知。", decides=True,
                                          cc=_recording_unit),
    "repair_decision": LetterType("信用修复决定书", "修决", DECISION, "特此决定。", context=_decision,
                                  cc=_recording_unit, decides=True),
    "repair_refusal": LetterType("不予修复决定书", "不修", REFUSAL, "特此决定。", context=_refusal, cc=_recording_unit,
                                 decides=True),
}
