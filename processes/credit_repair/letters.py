"""The credit repair's letters (SPEC §5): 不予受理通知书, 信用修复决定书, 不予修复决定书."""
from __future__ import annotations

from app.models import Case
from app.services.letters import LetterType, application_opening, subject_phrase
from app.services.workflow.run import last_values


def _rejection(case: Case, context: dict) -> list[str]:
    return [application_opening(case, "信用修复申请")
            + f"经审查，{context.get('reason') or '不符合受理条件'}，本办决定不予受理。"]


def _decision(case: Case, context: dict) -> list[str]:
    return [
        application_opening(case, "信用修复申请")
        + f"经审核，并征求认定单位{case.record.recording_unit.name}意见，{subject_phrase(case.record)}已纠正失信行为、"
        "履行相关义务，"
        "符合信用修复条件。",
        "本办决定对该条政务失信记录予以信用修复：即日起在“信用随州”网站终止公示，停止共享，"
        "并推送信用中国（湖北）撤回该记录。依据该记录实施的取消荣誉评选资格措施，将另行办理恢复。",
        f"理由：{context.get('reasons', '')}",
    ]


def _refusal(case: Case, context: dict) -> list[str]:
    return [
        application_opening(case, "信用修复申请") + "经审核，本办决定不予修复。",
        f"理由：{context.get('reasons', '')}",
        "你单位可在整改到位、符合条件后重新申请。",
    ]


def _approval(case: Case) -> dict:
    return last_values(case, "approve_repair")


def _recording_unit(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "repair_rejection_notice": LetterType(
        "不予受理通知书", "修不受", _rejection, "特此通知。",
        context=lambda case: {"reason": last_values(case, "intake_review").get("reason", "")}),
    "repair_decision": LetterType("信用修复决定书", "修决", _decision, "特此决定。", context=_approval, cc=_recording_unit),
    "repair_refusal": LetterType("不予修复决定书", "不修", _refusal, "特此决定。", context=_approval, cc=_recording_unit),
}
