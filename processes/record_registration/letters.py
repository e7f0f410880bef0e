"""The registration's letter pair (两书同达, issue 12 §1): 公示告知书 with the objection right, and 信用修复告知书
with the earliest repair date. Both go to the subject unit (a person through their unit) with a copy to the
recording unit."""
from __future__ import annotations

from app.models import Case
from app.services import publication
from app.services.letters import LetterType, chinese_date, facts, subject_phrase

BASIS = ("根据《国务院关于加强政务诚信建设的指导意见》（国发〔2016〕76号）、"
         "《湖北省人民政府关于加强政务诚信建设的实施意见》（鄂政发〔2017〕33号）和《随州市社会信用体系建设领导小组办公室"
         "关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号），")


def _found(case: Case) -> str:
    record = case.record
    return (f"经{record.recording_unit.name}认定（认定文书：{record.basis_doc_no}，{chinese_date(record.basis_date)}），"
            f"{subject_phrase(case.record)}存在以下政务失信行为：{facts(case)}失信类别：{record.category_label}；失信程度："
            f"{record.severity_label}。")


def _disclosure(case: Case, context: dict) -> list[str]:
    record = case.record
    if context["published"]:
        publish = (f"{BASIS}该信息作为政务失信记录，自{context['start_text']}起在“信用随州”网站公示，并推送至信用中国（湖北）"
                   f"平台，最长公示至{context['end_text']}。")
    else:
        publish = (f"{BASIS}该信息作为政务失信记录归集；依据《信用修复管理办法》（国家发展改革委令第36号），轻微失信信息"
                   f"不予公示，记录至{context['end_text']}。")
    return [
        _found(case),
        publish,
        f"{subject_phrase(case.record)}对该记录有异议的，可自收到本告知书之日起通过本系统（或向本办书面）提出异议申诉，并提交相关证据材料；"
        "异议处理期间，该记录标注“异议中”。",
        f"办件编号：{case.number}。",
    ]


def _repair(case: Case, context: dict) -> list[str]:
    record = case.record
    return [
        _found(case),
        f"依据《信用修复管理办法》（国家发展改革委令第36号），{subject_phrase(case.record)}纠正失信行为、履行相关义务后，自"
        f"{context['repair_text']}起可通过本系统申请信用修复；申请时须提交信用修复承诺书及履行义务的证明材料，经"
        f"{record.recording_unit.name}出具意见后由本办决定。修复后终止公示、停止共享，并同步解除相关失信惩戒措施。",
        f"未申请修复的，该记录于{context['end_text']}最长期限届满后自动终止公示。",
    ]


def _context(case: Case) -> dict:
    record = case.record
    return {"published": publication.publishable(record), "start_text": chinese_date(record.publication_start),
            "end_text": chinese_date(record.auto_end_date), "repair_text": chinese_date(record.earliest_repair_date)}


def _cc(case: Case) -> list[str]:
    return [case.record.recording_unit.name]


LETTERS = {
    "disclosure_notice": LetterType("政务失信记录公示告知书", "登告", _disclosure, "特此告知。", context=_context, cc=_cc),
    "repair_notice": LetterType("信用修复告知书", "修告", _repair, "特此告知。", context=_context, cc=_cc),
}
