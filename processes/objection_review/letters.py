"""The objection review's letters (SPEC §5): 受理通知书, 不予受理通知书, 异议处理决定书 — their words and the values they read."""
from __future__ import annotations

from app.models import Case
from app.services.letters import LetterType, application_opening
from app.services.workflow.run import last_values
from processes.objection_review.service import court_answer

DECISION_TEXT = {
    "correct": "对该条政务失信记录予以更正。更正后的信息已在“信用随州”网站同步更新，并推送至信用中国（湖北）平台。",
    "revoke": "撤销该条政务失信记录，终止公示并撤回共享。",
    "maintain": "维持该条政务失信记录，不予更正，撤销“异议中”标注。",
    "annotate": "经核查无法确认相关信息，该条政务失信记录予以保留，并记载你单位的异议情况。",
}


# A letter body is a template text (app/services/letters.render_body): paragraphs separated by blank lines.
REJECTION = """
你单位于{{ submitted }}提交的关于{{ record }}的异议申请（受理编号：{{ case_number }}）收悉。
经审查，{{ reason or "不符合受理条件" }}。

根据{{ law.plan }}及有关规定，本办决定不予受理。
"""


def _acceptance(case: Case, context: dict) -> list[str]:
    return [
        application_opening(case, "异议申请") + "经审查，符合受理条件，本办决定予以受理。",
        "受理期间，该条记录在“信用随州”网站标注“异议中”并继续公示。本办将会同认定单位在规定时限内完成核查，"
        "并书面告知处理结果。",
        "你单位可凭受理编号和查询码在“信用随州”网站查询办理进度。",
    ]


def _decision(case: Case, context: dict) -> list[str]:
    if context.get("court"):
        # A judicial record: the court decided, the office applies and mirrors (谁认定、谁更正).
        court = context["court"]
        return [
            application_opening(case, "异议申请") + f"本办已将异议转{court}审查。经{court}审查答复："
            f"{context.get('court_answer', '')}。{context.get('court_opinion', '').rstrip('。')}。",
            f"根据{court}的审查答复，" + DECISION_TEXT[context["decision"]],
            f"说明：{context.get('reasons', '')}",
            f"你单位对{court}的审查答复有异议的，可依照《最高人民法院关于公布失信被执行人名单信息的若干规定》等规定，"
            f"向{court}或其上一级人民法院提出。",
        ]
    return [
        application_opening(case, "异议申请") + f"经认定单位{case.record.recording_unit.name}核查，本办研究，决定如下：",
        DECISION_TEXT[context["decision"]],
        f"理由：{context.get('reasons', '')}",
    ]


def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "acceptance_notice": LetterType("受理通知书", "异受", _acceptance),
    "rejection_notice": LetterType("不予受理通知书", "异不受", REJECTION, "特此通知。",
                                   context=lambda case: {"reason": last_values(case, "intake_review").get("reason", "")}),
    "objection_decision": LetterType("异议处理决定书", "异决", _decision, "特此决定。",
                                     context=lambda case: {**last_values(case, "draft_decision"), **court_answer(case)},
                                     cc=_recording_unit),
}
