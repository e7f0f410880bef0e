"""The registration's letter pair (两书同达, issue 12 §1): 公示告知书 with the objection right, and 信用修复告知书
with the earliest repair date. Both go to the subject unit (a person through their unit) with a copy to the
recording unit.

Neither decides (decides=False): the decision is the recording unit's 认定 (its 认定文书 states how to challenge it);
the office publishes what was decided and tells the subject, whose remedy against the published record is the
objection (异议) that the 公示告知书 states. The texts are templates (app/services/letters.render_body) an
administrator may edit (/admin/letters); these are their built-in version 0."""
from __future__ import annotations

from app.models import Case
from app.services import publication
from app.services.letters import LetterType, chinese_date

FOUND = """
经{{ recording_unit }}认定（认定文书：{{ basis_doc_no }}，{{ basis_date }}），{{ subject }}存在以下政务失信行为：
{{ facts }}失信类别：{{ category }}；失信程度：{{ severity }}。
"""

DISCLOSURE = FOUND + """
{% if published %}
根据{{ law.gov_integrity }}、{{ law.hubei }}和{{ law.plan }}，该信息作为政务失信记录，自{{ start_text }}起在“信用随州”网站
公示，并按规定推送至信用中国（湖北）平台，最长公示至{{ end_text }}。
{% else %}
根据{{ law.gov_integrity }}、{{ law.hubei }}和{{ law.plan }}，该信息作为政务失信记录归集；依据{{ law.repair }}，
轻微失信信息不予公示，记录至{{ end_text }}。
{% endif %}

{{ subject }}对该记录有异议的，可自收到本告知书之日起通过本系统（或向本办书面）提出异议申诉，并提交相关证据材料；
异议处理期间，该记录标注“异议中”。

办件编号：{{ case_number }}。
"""

REPAIR = FOUND + """
依据{{ law.repair }}，{{ subject }}纠正失信行为、履行相关义务后，自{{ repair_text }}起可通过本系统申请信用修复；
申请时须提交信用修复承诺书及履行义务的证明材料，经{{ recording_unit }}出具意见后由本办决定。依据该办法第三条，
修复后终止公示、停止共享，并同步解除相关失信惩戒措施。

未申请修复的，该记录于{{ end_text }}最长期限届满后自动终止公示。
"""


def _context(case: Case) -> dict:
    record = case.record
    return {"published": publication.publishable(record), "start_text": chinese_date(record.publication_start),
            "end_text": chinese_date(record.auto_end_date), "repair_text": chinese_date(record.earliest_repair_date)}


def _cc(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "disclosure_notice": LetterType("政务失信记录公示告知书", "登告", DISCLOSURE, "特此告知。", context=_context, cc=_cc),
    "repair_notice": LetterType("信用修复告知书", "修告", REPAIR, "特此告知。", context=_context, cc=_cc),
}
