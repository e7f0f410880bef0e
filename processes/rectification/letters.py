"""The rectification's letters (SPEC §5; issue 13 §2–4), all template texts: 限期整改通知书, 重新整改通知书,
整改验收（解除限期整改）通知书, 拟惩戒告知书, 失信惩戒决定书 and the 通报 of a public criticism.

The measures' names and legal bases come from the rule set's catalogue (rules.DEFAULT_POLICY["measures"]); what was
proposed and decided is kept in case.form["measures"] by the service, so a letter (and its preview) reads plain data.
"""
from __future__ import annotations

from datetime import date, datetime, time

from app.core import clock
from app.models import Case
from app.services import rules, sanctions
from app.services import calendar, workdays
from app.services.letters import LetterType, chinese_date, from_delivery
from processes.rectification.service import deadline_delivered

# Whom a 通报 is copied to when the criticised unit has no superior unit in the register (issue 13 §8: 抄送 the
# criticised unit's superior): the leading group whose office issues it.
LEADING_GROUP = "随州市社会信用体系建设领导小组"


def _due(case: Case) -> date:
    return clock.local_date(datetime.fromisoformat(case.form["current_due"]))


def _measures(case: Case) -> dict:
    return dict(case.form.get("measures") or {})


def _overdue_names(case: Case) -> str:
    catalogue = sanctions.catalogue(case.rule_set)
    return "、".join(m["name"] for m in catalogue.values() if m.get("on_overdue"))


def _ordered(case: Case) -> str:
    return chinese_date(clock.local_date(case.submitted_at))


def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


NOTICE = """
经查，{{ subject }}存在以下政务失信行为：{{ facts }}{{ basis }}

根据{{ law.gov_integrity }}和{{ law.plan }}三（二）4“对具体失信情况书面说明原因并限期加以整改”的规定，
请你单位书面说明原因，{{ deadline }}完成整改，
通过本系统提交书面说明和整改情况报告（办件编号：{{ case_number }}）。

整改要求：{{ requirements }}

逾期未提交的，本办将书面告知拟采取的失信惩戒措施（{{ overdue_measures }}）及其依据和理由，你单位有权陈述和申辩；
惩戒措施经本办书面决定后方予实施。
"""

REWORK = """
你单位报送的书面说明和整改情况报告（办件编号：{{ case_number }}）收悉。经审核，整改不到位：{{ opinion }}

根据{{ law.plan }}三（二）4的规定，请你单位继续整改，{{ deadline }}重新提交书面说明和整改情况报告。

整改要求：{{ requirements }}

逾期未提交的，本办将书面告知拟采取的失信惩戒措施（{{ overdue_measures }}）及其依据和理由，你单位有权陈述和申辩。
"""

ACCEPTED = """
你单位报送的书面说明和整改情况报告（办件编号：{{ case_number }}）收悉。经审核，你单位已按要求完成整改，本办予以验收。

根据{{ law.plan }}三（二）4的规定，自{{ date(today) }}起解除对你单位的限期整改。该条政务失信记录已记载为已整改，
你单位可依照{{ law.repair }}申请信用修复。

{% if standing %}已依法决定实施的{{ standing }}不因本次验收而解除，依照规定另行办理。{% endif %}
"""

PROPOSAL = """
本办于{{ ordered }}向你单位出具限期整改通知书（办件编号：{{ case_number }}），要求你单位于{{ last_day(due) }}提交
书面说明和整改情况报告。你单位未在期限内提交。

经查，{{ subject }}存在以下政务失信行为：{{ facts }}{{ basis }}

{% if proposed %}
本办拟对你单位采取以下失信惩戒措施：
{% for m in proposed %}{{ loop.index }}．{{ m.name }}，依据：{{ m.basis }}；{% endfor %}
理由：你单位未在整改期限内书面说明原因并完成整改。
{% else %}
本次不拟新增失信惩戒措施。
{% endif %}

{% if existing %}对你单位已实施或已拟实施的{{ existing }}继续有效，本次不重复实施。{% endif %}

根据{{ law.punishment_law }}第四十四条、第四十五条，你单位有权进行陈述和申辩。请于本告知书送达之日起{{ window }}个
工作日内，通过本系统（办件编号：{{ case_number }}）提交书面陈述申辩意见；逾期未提交的，视为放弃陈述申辩权利。
依照{{ law.plan }}{{ lenient_basis }}，可从轻或免于实施失信惩戒措施。

以上措施经本办书面决定后方予实施，在此之前不予实施。你单位仍可逾期提交书面说明和整改情况报告。
"""

DECISION = """
{% if noticed %}本办于{{ noticed }}向你单位出具拟惩戒告知书（办件编号：{{ case_number }}），告知拟采取的失信惩戒措施及其依据和理由，
以及陈述申辩的权利。{% if statement %}你单位提出陈述申辩意见：{{ statement }}{% else %}你单位在规定期限内未提出陈述申辩。{% endif %}
{% else %}本办于{{ ordered }}向你单位出具限期整改通知书（办件编号：{{ case_number }}）。{% endif %}

经查，{{ subject }}存在以下政务失信行为：{{ facts }}{{ basis }}你单位未在{{ last_day(due) }}提交书面说明和整改情况报告。

{% if imposed %}
经审查{% if outcome == "lighten" %}，依照{{ law.plan }}{{ lenient_basis }}，决定从轻处理{% endif %}，
根据{{ law.gov_integrity }}和{{ law.plan }}三（二）4的规定，本办决定对你单位实施以下失信惩戒措施：
{% for m in imposed %}{{ loop.index }}．{{ m.name }}，自{{ m.start }}起实施{% if m.term_end %}，至{{ m.term_end }}止{% endif %}
（依据：{{ m.basis }}）；{% endfor %}
{% elif outcome == "exempt" %}
经审查，依照{{ law.plan }}{{ lenient_basis }}，本办决定对你单位免于实施失信惩戒措施。
{% else %}
经审查，根据{{ law.plan }}三（二）4的规定，本次不新增失信惩戒措施。
{% endif %}

{% if not_imposed %}拟采取的{{ not_imposed }}不予实施。{% endif %}

{% if existing %}此前已对你单位实施的{{ existing }}继续有效，本次不重复实施。{% endif %}

理由：{{ reasons }}

{{ challenge }}
"""

CRITICISM = """
{{ subject_named }}存在政务失信行为：{{ facts }}{{ basis }}本办于{{ ordered }}出具限期整改通知书（办件编号：{{ case_number }}），
该单位未在{{ last_day(due) }}提交书面说明和整改情况报告。{% if noticed %}本办于{{ noticed }}书面告知拟采取的惩戒措施及其依据和理由，
{% if statement %}并听取了该单位的陈述申辩{% else %}该单位在规定期限内未提出陈述申辩{% endif %}。{% endif %}

根据{{ law.gov_integrity }}和{{ law.plan }}三（二）4“予以公开通报批评”的规定，经研究，决定对{{ applicant }}予以通报批评。

希望该单位引以为戒，切实履行整改责任，依法依规重塑政务诚信。各地各部门要引以为鉴，切实加强政务诚信建设。

{{ challenge }}
"""


def _deadline_context(case: Case) -> dict:
    return {"due": _due(case), "days": case.form["deadline_days"], "requirements": (case.form.get("requirements") or "").rstrip("。；; ") + "。",
            "overdue_measures": _overdue_names(case),
            # The deadline counted from the notice's delivery, with its last day if delivered today (issue 13 §7).
            "deadline": from_delivery(case.form["deadline_days"])}


def _rework_context(case: Case) -> dict:
    return {**_deadline_context(case), "opinion": (case.form.get("rework_opinion") or "").rstrip("。") + "。"}


def _accepted_context(case: Case) -> dict:
    catalogue = sanctions.catalogue(case.rule_set)
    kinds = [k for k in catalogue if k != "rectification_order" and sanctions.of_case(case, k, "active")]
    return {"today": clock.local_today(), "standing": "、".join(catalogue[k]["name"] for k in kinds)}


def _proposal_context(case: Case) -> dict:
    m = _measures(case)
    return {"ordered": _ordered(case), "due": _due(case), "proposed": m.get("proposed") or [],
            "existing": "、".join(m.get("existing") or []), "window": rules.time_limit(case.rule_set, "statement_window"),
            "lenient_basis": rules.policy(case.rule_set, "lenient_basis")}


def _would_impose(case: Case, m: dict) -> tuple[list[dict], list[str]]:
    """Before the decision (the approver's preview): what the office's opinion would impose, from today."""
    catalogue = sanctions.catalogue(case.rule_set)
    outcome = m.get("outcome") or "confirm"
    imposed, dropped = [], []
    today = chinese_date(clock.local_today())
    for kind, entry in catalogue.items():
        for sanction in sanctions.of_case(case, kind, "proposed"):
            if outcome == "confirm" or (outcome == "lighten" and entry.get("lenient") == "keep"):
                term_end = chinese_date(sanction.term_end) if sanction.term_end else ""
                imposed.append({"name": entry["name"], "basis": entry["basis"], "start": today, "term_end": term_end})
            else:
                dropped.append(entry["name"])
    return imposed, dropped


def _decision_context(case: Case) -> dict:
    m = _measures(case)
    noticed = m.get("noticed_on")
    if "imposed" in m:
        imposed, dropped = m["imposed"], m.get("not_imposed") or []
    else:
        imposed, dropped = _would_impose(case, m)
    return {**_proposal_context(case), "noticed": chinese_date(date.fromisoformat(noticed)) if noticed else "",
            "statement": m.get("statement") or "", "outcome": m.get("outcome") or "confirm",
            "reasons": (m.get("reasons") or "你单位未在整改期限内书面说明原因并完成整改").rstrip("。") + "。",
            "imposed": imposed, "not_imposed": "、".join(dropped)}


def criticism_title(case: Case, context: dict) -> str:
    return f"关于对{case.applicant_unit.name}予以通报批评的通报"


def criticism_cc(case: Case) -> list[str]:
    parent = getattr(case.applicant_unit, "parent", None)
    return [case.record.recording_unit.name, parent.name if parent is not None else LEADING_GROUP]


def _statement_days(case: Case) -> int:
    return rules.time_limit(case.rule_set, "statement_window")


LETTERS = {
    "rectification_notice": LetterType(
        "限期整改通知书", "整改", NOTICE, "特此通知。", context=_deadline_context, cc=_recording_unit,
        starts={"rectification_due": lambda case: case.form["deadline_days"]}, follow_on=deadline_delivered),
    "rework_notice": LetterType(
        "重新整改通知书", "整改", REWORK, "特此通知。", context=_rework_context, cc=_recording_unit,
        starts={"rectification_due": lambda case: case.form["deadline_days"]}, follow_on=deadline_delivered),
    "rectification_accepted_notice": LetterType(
        "整改验收（解除限期整改）通知书", "整改", ACCEPTED, "特此通知。", context=_accepted_context, cc=_recording_unit),
    "measures_notice": LetterType(
        "拟惩戒告知书", "惩告", PROPOSAL, "特此告知。", context=_proposal_context, cc=_recording_unit,
        starts={"statement_due": _statement_days}),
    "measures_decision": LetterType(
        "失信惩戒决定书", "惩决", DECISION, "特此决定。", context=_decision_context, cc=_recording_unit, decides=True),
    # A public criticism is a 通报 (党政机关公文处理工作条例 第八条) addressed to all units, titled by the unit criticised.
    "public_criticism_decision": LetterType(
        "通报批评通报", "通报", CRITICISM, "特此通报。", context=_decision_context, decides=True,
        addressee=lambda case: "各县、市、区人民政府，市直各有关单位", cc=criticism_cc, title_for=criticism_title),
}
