"""The restoration's letters (SPEC §5; issue 13 §3), template texts: 荣誉评选资格恢复决定书 and 不予恢复决定书."""
from __future__ import annotations

from app.core.clock import local_today
from app.extensions import db
from app.i18n import chinese
from app.models import Case, Sanction
from app.services import eligibility
from app.services.letters import LetterType
from app.services.workflow.run import last_values

# 荣誉评选资格恢复决定书 are copied to the organisation and HR departments (SPEC §4.4.4).
RESTORATION_CC = ["中共随州市委组织部", "随州市人力资源和社会保障局"]
WHY = {
    "repair": "所依据的失信记录已经信用修复。",
    "timer": "惩戒期限已届满，所依据的失信记录已修复、撤销或届满。",
    "applicant": "该单位申请恢复，所依据的失信记录已修复、撤销或届满。",
}
ASKED = {
    "repair": "因所依据的失信记录之一已经信用修复，本办依职权对该措施进行审查",
    "timer": "因惩戒期限届满，本办依职权对该措施进行审查",
    "applicant": "你单位申请恢复荣誉评选资格",
}

DECISION = """
经查，{{ unit }}因{{ whose }}政务失信行为（{{ basis }}）被取消荣誉评选资格。{{ why }}

根据{{ law.plan }}，经审核，决定自{{ date(today) }}起恢复该单位的荣誉评选资格。

请组织、人事部门在开展评优评先、荣誉评选时据此办理。
"""

REFUSAL = """
{{ unit }}因{{ whose }}政务失信行为（{{ basis }}）被取消荣誉评选资格。{{ asked }}。

经审查，{{ reason }}

根据{{ law.plan }}和{{ law.repair }}第三条的有关规定，本办决定不予恢复该单位的荣誉评选资格，该措施继续实施。
所依据的失信记录均已修复、撤销或届满后，可申请恢复。

{{ challenge }}
"""


def _context(case: Case) -> dict:
    sanction = db.session.get(Sanction, case.form["sanction_id"])
    # A record about a civil servant names them: the unit lost its eligibility for its person's behaviour.
    people = [f"{r.person_post or ''}{r.person_name or ''}同志" for r in sanction.records if r.subject_type == "person"]
    return {"unit": case.applicant_unit.name, "basis": "、".join(r.basis_doc_no for r in sanction.records),
            "why": WHY[case.form["trigger"]], "asked": ASKED[case.form["trigger"]], "today": local_today(),
            "whose": "、".join(dict.fromkeys(people)) + "的" if people else ""}


def _refusal(case: Case) -> dict:
    code = case.outcome or ""
    if code in eligibility.RESTORATION_MESSAGES and code != "eligible":
        reason = chinese(eligibility.RESTORATION_MESSAGES[code])
    else:
        review = last_values(case, "review_restoration")
        approval = last_values(case, "approve_restoration")
        reason = (approval.get("comment") if approval.get("restoration_approval") == "refuse" else "") \
            or review.get("opinion", "") or "不符合恢复条件。"
    if not reason.endswith(("。", "！", "；")):
        reason += "。"
    return {**_context(case), "reason": reason}


def _cc(case: Case) -> list[str]:
    """The organisation and HR departments, then the recording units of the records the measure rested on."""
    sanction_id = (case.form or {}).get("sanction_id")
    sanction = db.session.get(Sanction, sanction_id) if sanction_id is not None else None
    records = sanction.records if sanction is not None else [case.record]
    units = [r.recording_unit.name for r in records if r is not None]
    return list(dict.fromkeys([*RESTORATION_CC, *units]))


LETTERS = {
    "restoration_decision": LetterType("荣誉评选资格恢复决定书", "复决", DECISION, "特此决定。", context=_context, cc=_cc),
    "restoration_refusal": LetterType("不予恢复决定书", "复不", REFUSAL, "特此决定。", context=_refusal, decides=True,
                                      cc=_cc),
}
