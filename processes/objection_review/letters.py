"""The objection review's letters (SPEC §5): 受理通知书, 不予受理通知书, 异议处理决定书, and the shared 补正 letters
(补正通知书, 视为撤回告知书) — template texts (app/services/letters.render_body) and the values they read."""
from __future__ import annotations

from app.models import Case
from app.services import rules
from app.services.applications import SUPPLEMENT_LETTERS
from app.services.letters import LetterType
from app.services.workflow.run import last_values
from processes.objection_review.service import corrected_content, court_answer

ACCEPTANCE = """
你单位于{{ submitted }}提交的关于{{ record }}的异议申请（受理编号：{{ case_number }}）收悉。经审查，符合受理条件，
根据{{ law.gov_integrity }}和{{ law.plan }}的有关规定，本办决定予以受理。

自收到异议申请之日起，该条记录在“信用随州”网站标注“异议中”并继续公示。本办已将异议转认定单位{{ recording_unit }}核查，
认定单位在{{ verify_days }}个工作日内完成核查；核查完成后，本办在{{ decide_days }}个工作日内依照认定单位的核查结论作出
处理决定，并书面告知你单位。

你单位可凭受理编号（{{ case_number }}）和查询码（{{ query_code }}）在“信用随州”网站查询办理进度。
"""

REJECTION = """
你单位于{{ submitted }}提交的关于{{ record }}的异议申请（受理编号：{{ case_number }}）收悉。

经审查，{{ reason or "该申请不符合受理条件" }}，不符合异议申请的受理条件。

根据{{ law.gov_integrity }}、{{ law.plan }}及有关规定，本办决定不予受理。该条记录收到异议时所作的“异议中”标注同时撤销，
恢复原公示状态。

{{ challenge }}
"""

DECISION = """
你单位于{{ submitted }}提交的关于{{ record }}的异议申请（受理编号：{{ case_number }}）收悉。
{% if court %}本办已将异议转{{ court }}审查。经{{ court }}审查答复：{{ answer }}。{{ opinion }}。
{% else %}本办已将异议转认定单位{{ verifier }}核查。经{{ verifier }}核查，核查结论为：{{ answer }}。{{ opinion }}。{% endif %}

{% if court %}根据{{ court }}的审查答复，{% else %}根据认定单位的核查结论（谁认定、谁更正），{% endif %}{{ effect }}

{% if corrections %}更正后：{{ corrections | join("；") }}。{% endif %}

{{ push }}

理由：{{ reasons }}

本决定依据{{ law.gov_integrity }}、{{ law.hubei }}和{{ law.plan }}作出。

{% if court %}你单位对{{ court }}的审查答复有异议的，可依照{{ law.court_list }}第十二条等规定，向{{ court }}或其上一级人民法院
提出。{% endif %}

{{ challenge }}
"""

EFFECT_TEXT = {
    "correct": "对该条政务失信记录予以更正，撤销“异议中”标注。",
    "revoke": "撤销该条政务失信记录，终止公示并撤回共享。",
    "maintain": "维持该条政务失信记录，不予更正，撤销“异议中”标注。",
    "annotate": "该条政务失信记录予以保留，并记载你单位的异议情况，撤销“异议中”标注。",
}
# The push to the provincial platform is queued with the decision and delivered after it: the letter says what the
# office will do, never that it has been done (no "已推送").
PUSH_TEXT = {
    "correct": "更正后的信息将在“信用随州”网站同步更新，本办将同步推送至信用中国（湖北）平台。",
    "revoke": "本办将同步通知信用中国（湖北）平台撤回该条记录。",
    "maintain": "本办将同步推送处理结果至信用中国（湖北）平台。",
    "annotate": "异议情况将在“信用随州”网站随该条记录载明，本办将同步推送至信用中国（湖北）平台。",
}


def _acceptance_context(case: Case) -> dict:
    return {"verify_days": rules.time_limit(case.rule_set, "objection_verify"),
            "decide_days": rules.time_limit(case.rule_set, "objection_draft")
            + rules.time_limit(case.rule_set, "objection_approve")}


def _rejection_context(case: Case) -> dict:
    return {"reason": last_values(case, "intake_review").get("reason", "").strip().rstrip("。")}


def _decision_context(case: Case) -> dict:
    draft = last_values(case, "draft_decision")
    decision = draft.get("decision", "maintain")
    answer = court_answer(case)
    return {"decision": decision, "reasons": draft.get("reasons", ""), "effect": EFFECT_TEXT.get(decision, ""),
            "push": PUSH_TEXT.get(decision, ""), "court": answer["court"], "verifier": answer["verifier"],
            "answer": answer["answer"], "opinion": answer["court_opinion"].strip().rstrip("。"),
            "corrections": corrected_content(case) if decision == "correct" else []}


def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "acceptance_notice": LetterType("受理通知书", "异受", ACCEPTANCE, "特此通知。", context=_acceptance_context,
                                    cc=_recording_unit),
    "rejection_notice": LetterType("不予受理通知书", "异不受", REJECTION, "特此通知。", context=_rejection_context,
                                   cc=_recording_unit, decides=True),
    "objection_decision": LetterType("异议处理决定书", "异决", DECISION, "特此决定。", context=_decision_context,
                                     cc=_recording_unit, decides=True),
    **SUPPLEMENT_LETTERS,
}
