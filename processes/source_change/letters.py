"""The source change's letters (issue 12 §4): 认定撤销告知书 and 认定变更告知书, to the subject unit (a person through
their unit) with a copy to the recording unit. They say what the recording unit decided — the office only applied it.

Neither decides (decides=False): the revocation or change is the recording unit's decision (谁认定、谁更正), challenged
by the way its own document states; the office applies it to the published record, and the subject's remedy against
the changed record is the objection the change notice states. The revocation is wholly favourable to the subject."""
from __future__ import annotations

from datetime import date

from app.i18n import chinese
from app.models import CATEGORIES, SANCTION_KINDS, SEVERITIES, Case
from app.services.letters import LetterType, chinese_date, subject_phrase

LABELS = {"category": "失信类别", "severity": "失信程度", "basis_doc_no": "认定文书号", "basis_date": "认定日期",
          "facts": "失信事实", "legal_basis": "法律依据", "earliest_repair_date": "可申请信用修复日期",
          "auto_end_date": "最长公示期限"}


def _shown(name: str, value) -> str:
    if name == "category":
        return chinese(CATEGORIES.get(value, value))
    if name == "severity":
        return chinese(SEVERITIES.get(value, value))
    if name in ("basis_date", "earliest_repair_date", "auto_end_date") and value:
        return chinese_date(date.fromisoformat(value))
    return str(value)


def _context(case: Case) -> dict:
    form = case.form
    record = case.record
    applied = form.get("applied", {})
    original_date = applied["basis_date"][0] if "basis_date" in applied else record.basis_date.isoformat()
    return {
        "original_doc": applied["basis_doc_no"][0] if "basis_doc_no" in applied else record.basis_doc_no,
        "original_date": chinese_date(date.fromisoformat(original_date)),
        "who": subject_phrase(case.record), "reason": form.get("reason", ""),
        "change_doc_no": form.get("change_doc_no", ""),
        "change_doc_date": chinese_date(date.fromisoformat(form["change_doc_date"])),
        "changes": [(LABELS[name], _shown(name, old), _shown(name, new))
                    for name, (old, new) in form.get("applied", {}).items() if name in LABELS],
        "lifted": [chinese(SANCTION_KINDS[kind]) for kind in form.get("lifted", [])],
    }


OPENING = """
{{ recording_unit }}于{{ change_doc_date }}以{{ change_doc_no }}{{ what }}{{ who }}政务失信记录所依据的认定文书
（{{ original_doc }}，{{ original_date }}），理由：{{ reason.rstrip("。") }}。
"""

REVOCATION = OPENING.replace("{{ what }}", "撤销了") + """
根据{{ law.gov_integrity }}、{{ law.hubei }}和{{ law.plan }}“谁认定、谁更正”的要求，本办已撤销该条政务失信记录，
在“信用随州”网站终止公示，并将通知信用中国（湖北）平台撤回共享。
{% if lifted %}依据该记录实施的失信惩戒措施（{{ lifted | join("、") }}）同步解除。
{% else %}该记录未单独作为其他失信惩戒措施的依据。{% endif %}

办件编号：{{ case_number }}。
"""

CHANGE = OPENING.replace("{{ what }}", "变更了") + """
根据{{ law.gov_integrity }}、{{ law.hubei }}和{{ law.plan }}“谁认定、谁更正”的要求，本办已按变更后的认定文书更正该条
政务失信记录：{% for label, old, new in changes %}{{ label }}由“{{ old }}”更正为“{{ new }}”{{ "" if loop.last else "；" }}
{% else %}内容见变更后的认定文书{% endfor %}。更正后的信息在“信用随州”网站同步更新，并按规定推送至信用中国（湖北）平台。

{{ who }}对更正后的记录有异议的，可自收到本告知书之日起通过本系统（或向本办书面）提出异议申诉；对变更后的认定文书
不服的，依照该文书载明的途径向{{ recording_unit }}或有关机关提出。

办件编号：{{ case_number }}。
"""


def _cc(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "source_revocation_notice": LetterType("政务失信记录认定撤销告知书", "撤告", REVOCATION, "特此告知。",
                                           context=_context, cc=_cc),
    "source_change_notice": LetterType("政务失信记录认定变更告知书", "变告", CHANGE, "特此告知。",
                                       context=_context, cc=_cc),
}
