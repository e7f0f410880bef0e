"""How a case ended, in words (the outcome codes the processes record)."""
from flask_babel import lazy_gettext as _l

OUTCOME_LABELS = {
    "rejected": _l("不予受理"), "supplement_overdue": _l("逾期未补正，按撤回处理"), "accepted": _l("整改通过"),
    "correct": _l("更正"), "revoke": _l("撤销"), "maintain": _l("维持，不予更正"), "annotate": _l("无法确认，记载异议"),
    "repaired": _l("准予修复"), "refused": _l("不予修复"), "restored": _l("恢复荣誉评选资格"), "not_restored": _l("不予恢复"),
    "min_period": _l("未过最短公示期"), "rectification": _l("整改未通过审核"), "open_case": _l("已有在办申请"), "barred": _l("不予修复情形"),
    "records_active": _l("所依据记录仍在公示"), "registered": _l("予以登记并告知"),
    "registration_withdrawn": _l("认定单位撤回报送"), "other_serious": _l("另有严重失信记录"),
    "source_revoked": _l("认定文书撤销，记录已撤销"), "source_corrected": _l("认定文书变更，记录已更正"),
    "source_change_withdrawn": _l("认定单位撤回变更报送"),
}
