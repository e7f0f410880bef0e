"""The restoration's letter (SPEC §5): 荣誉评选资格恢复决定书."""
from __future__ import annotations

from app.core.clock import local_today
from app.extensions import db
from app.models import Case, Sanction
from app.services.letters import LetterType, chinese_date

# 荣誉评选资格恢复决定书 are copied to the organisation and HR departments (SPEC §4.4.4).
RESTORATION_CC = ["中共随州市委组织部", "随州市人力资源和社会保障局"]
WHY = {
    "repair": "所依据的失信记录已经信用修复。",
    "timer": "惩戒期限已届满，所依据的失信记录已修复、撤销或届满。",
    "applicant": "该单位申请恢复，所依据的失信记录已修复、撤销或届满。",
}


def _decision(case: Case, context: dict) -> list[str]:
    return [
        f"经查，{case.applicant_unit.name}因{context.get('whose', '')}政务失信行为（{context['basis']}）被取消荣誉评选资格。"
        f"{context['why']}",
        "根据《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），"
        f"经审核，决定自{chinese_date(local_today())}起恢复该单位的荣誉评选资格。",
        "请组织、人事部门在开展评优评先、荣誉评选时据此办理。",
    ]


def _context(case: Case) -> dict:
    sanction = db.session.get(Sanction, case.form["sanction_id"])
    # A record about a civil servant names them: the unit lost its eligibility for its person's behaviour.
    people = [f"{r.person_post or ''}{r.person_name or ''}同志" for r in sanction.records if r.subject_type == "person"]
    return {"basis": "、".join(r.basis_doc_no for r in sanction.records), "why": WHY[case.form["trigger"]],
            "whose": "、".join(dict.fromkeys(people)) + "的" if people else ""}


LETTERS = {
    "restoration_decision": LetterType("荣誉评选资格恢复决定书", "复决", _decision, "特此决定。", context=_context,
                                       cc=lambda case: RESTORATION_CC),
}
