"""Rule sets as data: publication periods and default time limits (SPEC §3)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from app.extensions import db
from app.models import RuleSet

# Local policy defaults in working days (modelled on the Shanghai social-credit regulation
# art. 36–38 and national repair practice); editable per rule set version.
DEFAULT_TIME_LIMITS = {
    "objection_intake": 2,  # 受理审查
    "objection_verify": 5,  # 认定单位核查，可经批准延长一次
    "objection_verify_extension": 5,  # 核查延长（认定单位申请、信用办批准，仅一次）：核查期限顺延的工作日数
    "objection_draft": 2,  # 拟定处理意见
    "objection_approve": 2,  # 审批
    "supplement": 5,  # 补正，逾期按撤回
    "repair_intake": 2,
    "repair_verify": 5,  # 认定单位意见
    "repair_approve": 2,
    "repair_total": 10,
    "rectification_default": 20,  # 整改期限（由受理员按件设定）
    "rectification_reminder": 3,  # 期满前提醒
    "rectification_late": 10,  # 逾期后仍可提交整改材料的办理期限
    "rectification_review": 5,  # 审核整改情况
    "rectification_criticism": 2,  # 审批通报批评
    # 拟惩戒告知书送达后陈述申辩的期限（行政处罚法第四十四、四十五条：告知并听取陈述申辩；期限为本地选择）
    "statement_window": 3,
    "measures_review": 3,  # 信用办审查陈述申辩，提出惩戒意见
    "restoration_review": 2,
    "restoration_approve": 2,
    "push": 3,  # 结果推送省平台
    "registration_review": 3,  # 信用办审核认定单位报送的失信记录
    "registration_correction": 5,  # 认定单位按退回理由修改后重新报送
    "publication_delay": 0,  # 登记告知后几个工作日开始公示（0：登记当日）
    "source_change": 3,  # 认定文书撤销或变更后，记录撤销或更正（上海条例第三十七条为参照）
}
# What each time limit is for, in the office's words (the administrator's pages show these; the key is for the expert).
TIME_LIMIT_LABELS = {
    "objection_intake": _l("异议受理审查"),
    "objection_verify": _l("认定单位核查异议"),
    "objection_verify_extension": _l("异议核查延长期限"),
    "objection_draft": _l("拟定异议处理意见"),
    "objection_approve": _l("审批异议处理决定"),
    "supplement": _l("申请单位补正材料"),
    "repair_intake": _l("信用修复受理审查"),
    "repair_verify": _l("认定单位出具修复意见"),
    "repair_approve": _l("审批信用修复申请"),
    "repair_total": _l("信用修复办理总时限"),
    "rectification_default": _l("整改期限（默认）"),
    "rectification_reminder": _l("整改期满前提醒"),
    "rectification_late": _l("逾期后补交整改材料"),
    "rectification_review": _l("审核整改情况"),
    "rectification_criticism": _l("审批惩戒决定"),
    "statement_window": _l("陈述申辩期限"),
    "measures_review": _l("审查陈述申辩并提出惩戒意见"),
    "restoration_review": _l("审核荣誉评选资格恢复申请"),
    "restoration_approve": _l("审批荣誉评选资格恢复"),
    "push": _l("结果推送省平台"),
    "registration_review": _l("信用办审核登记失信记录"),
    "registration_correction": _l("认定单位修改后重新报送"),
    "publication_delay": _l("登记后开始公示"),
    "source_change": _l("认定文书撤销或变更后处理记录"),
}
# Time limits that may be 0 working days (the rest are at least 1).
ZERO_ALLOWED = {"publication_delay"}

# No repeat-offence bar by default: "not repairable" only where law, regulation or a 党中央/国务院 document says so
# (令第36号 第二条). A rule set may configure one, e.g. {"repeat_within_months": 12, "legal_basis": "…"}; a bar
# without a cited legal basis is refused when saved and ignored when read (eligibility.repeat_offence).
DEFAULT_REPAIR_BAR: dict = {}

SEED_RULE_SETS = [
    {
        "code": "NDRC-58",
        "name": "国家发展改革委令第58号《失信行为纠正后的信用信息修复管理办法（试行）》",
        "legal_basis": "国家发展和改革委员会令第58号，2023年5月1日起施行",
        "effective_from": date(2023, 5, 1),
        "effective_to": date(2026, 3, 31),
        "periods": {
            # 第58号令未单列轻微失信信息：按一般失信信息的公示期处理。
            "minor": {"min_months": 3, "max_months": 12, "published": True},
            "general": {"min_months": 3, "max_months": 12, "published": True},
            "serious": {"min_months": 12, "max_months": 36, "published": True},
        },
    },
    {
        "code": "NDRC-36",
        "name": "国家发展改革委令第36号《信用修复管理办法》",
        "legal_basis": "国家发展和改革委员会令第36号，2026年4月1日起施行",
        "effective_from": date(2026, 4, 1),
        "effective_to": None,
        "periods": {
            # 轻微失信信息原则上不公示，最长3个月，履行义务后即可修复。
            "minor": {"min_months": 0, "max_months": 3, "published": False},
            "general": {"min_months": 3, "max_months": 12, "published": True},
            "serious": {"min_months": 12, "max_months": 36, "published": True},
        },
    },
]


# The rule set's legal choices (rule_set.policy), each key with its default here; a rule set version overrides a key by
# setting it. Each slice documents the keys it reads (issue 13): e.g. "measures" (the catalogue of measures with their
# legal basis), "challenge" (how to challenge a decision, by subject type), "transition" (records dated before this
# rule set took effect). Keys are added by the code that reads them.
DEFAULT_POLICY: dict[str, object] = {
    # How a decision tells its addressee to challenge it, by subject type (issue 13 §4; LAW.md "Every decision", ❓:
    # the office's legal staff review these sentences per rule set on the admin page /admin/letters/challenge).
    # government/department: an internal act, 复核 by the leading group within a stated time; institution/grassroots:
    # 通报批评 is a 行政处罚 (行政处罚法 第九条), so 行政复议 within 60 days (行政复议法 2023 第二十条) or 行政诉讼 within
    # 6 months (行政诉讼法 第四十六条); person (a civil servant): 复核/申诉 under 公务员法 第九十五条.
    "challenge": {
        "government": "你单位对本决定不服的，可以自收到本决定书之日起15个工作日内，向随州市社会信用体系建设领导小组申请复核。",
        "department": "你单位对本决定不服的，可以自收到本决定书之日起15个工作日内，向随州市社会信用体系建设领导小组申请复核。",
        "institution": "你单位对本决定不服的，可以自收到本决定书之日起60日内依照《中华人民共和国行政复议法》第二十条的规定"
                       "申请行政复议，或者自收到本决定书之日起6个月内依照《中华人民共和国行政诉讼法》第四十六条的规定向人民法院"
                       "提起行政诉讼。",
        "grassroots": "你单位对本决定不服的，可以自收到本决定书之日起60日内依照《中华人民共和国行政复议法》第二十条的规定"
                      "申请行政复议，或者自收到本决定书之日起6个月内依照《中华人民共和国行政诉讼法》第四十六条的规定向人民法院"
                      "提起行政诉讼。",
        "person": "当事人对本决定不服的，可以依照《中华人民共和国公务员法》第九十五条的规定，自知道本决定之日起30日内申请复核；"
                  "对复核结果不服的，可以自接到复核决定之日起15日内提出申诉，也可以不经复核，自知道本决定之日起30日内直接提出申诉。",
    },
    # The catalogue of measures (失信惩戒措施目录, 国办发〔2020〕49号: only measures with a basis, published). Each kind:
    # its name, legal basis, to whom it applies (unit / person), whether it has a term, what 从轻 means for it
    # ("lenient": "keep" — still imposed when decided 从轻; "drop" — not imposed when decided 从轻), and whether an
    # overdue rectification proposes it. Basis: 随信用办〔2017〕9号 三（二）4 (书面说明原因并限期加以整改，依规取消相关政府部门
    # 参加各类荣誉评选资格，予以公开通报批评；公务员限制评优评先) and 三（二）6 (从轻或免于实施失信惩戒措施); 国发〔2016〕76号.
    "measures": {
        "rectification_order": {
            "name": "限期整改", "applies_to": ["unit"], "term": False, "on_overdue": False, "lenient": "keep",
            "basis": "《国务院关于加强政务诚信建设的指导意见》（国发〔2016〕76号）；《随州市社会信用体系建设领导小组办公室关于"
                     "加强政务诚信建设的实施方案》（随信用办〔2017〕9号）三（二）4“对具体失信情况书面说明原因并限期加以整改”",
            "lenient_text": "限期整改不因从轻而免除",
        },
        "honor_disqualification": {
            "name": "取消荣誉评选资格", "applies_to": ["unit"], "term": True, "on_overdue": True, "lenient": "keep",
            "basis": "《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号）三（二）4"
                     "“依规取消相关政府部门参加各类荣誉评选资格”；《国务院关于加强政务诚信建设的指导意见》（国发〔2016〕76号）",
            "lenient_text": "从轻时仍取消荣誉评选资格，期限至该记录公示期届满",
        },
        "public_criticism": {
            "name": "公开通报批评", "applies_to": ["unit"], "term": False, "on_overdue": True, "lenient": "drop",
            "basis": "《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号）三（二）4"
                     "“予以公开通报批评”；《国务院关于加强政务诚信建设的指导意见》（国发〔2016〕76号）",
            "lenient_text": "从轻时不予公开通报批评",
        },
        "award_restriction": {
            "name": "限制评优评先", "applies_to": ["person"], "term": True, "on_overdue": False, "lenient": "keep",
            "basis": "《随州市社会信用体系建设领导小组办公室关于加强政务诚信建设的实施方案》（随信用办〔2017〕9号）三（二）4"
                     "“对存在政务失信记录的公务员，按照相关规定采取限制评优评先等处理措施”",
            "lenient_text": "从轻时仍限制评优评先",
        },
    },
    # The seed for deciding 从轻 or 免于惩戒 (随信用办〔2017〕9号 三（二）6), printed in the decision when it applies.
    # The template prints it after the plan's name ({{ law.plan }}{{ lenient_basis }}).
    "lenient_basis": "三（二）6“对轻微失信行为鼓励自我纠错、主动自新。在政务失信行为发生后主动挽回损失、消除不良影响或者有效阻止危害结果"
                     "发生的，可从轻或免于实施失信惩戒措施”",
    # Records dated before this rule set took effect (LAW.md "Transition ❓", 令第36号 in force 2026-04-01, repealing
    # 令第58号): "favourable" — from this rule set's effective date the rule more favourable to the subject applies
    # (the earlier repair date; a bar only if both rule sets bar); "basis_date" — the rule set of the record's basis
    # date alone. Read from the rule set in force on the day of the check; each repair case records the reading.
    "transition": "favourable",
    # 异议核查“无法确认”时信用办可作的处理（谁认定、谁更正：认定单位不确认有误，信用办不能自行更正或撤销；也不能
    # 视为无误驳回未经核实的异议）。默认：记载异议，记录保留并载明异议情况。❓ LAW.md 未定，作为规则数据可由法制人员调整。
    "objection_unconfirmed": ["annotate"],
}
TRANSITION_READINGS = ("favourable", "basis_date")


def policy(rule_set: RuleSet, key: str):
    """A policy value of a rule set, or its default (DEFAULT_POLICY)."""
    value = (rule_set.policy or {}).get(key) if rule_set is not None else None
    return DEFAULT_POLICY[key] if value is None else value


def seed_rule_sets() -> None:
    """Insert the national rule sets that are missing (flushes only)."""
    for spec in SEED_RULE_SETS:
        if db.session.scalar(select(RuleSet).where(RuleSet.code == spec["code"])) is None:
            db.session.add(RuleSet(time_limits=dict(DEFAULT_TIME_LIMITS), repair_bar=dict(DEFAULT_REPAIR_BAR), **spec))
    db.session.flush()


def rule_set_on(day: date) -> RuleSet:
    """Return the rule set in force on a date (the basis-document date decides, SPEC §3)."""
    rows = db.session.scalars(select(RuleSet).order_by(RuleSet.effective_from)).all()
    chosen = None
    for row in rows:
        if row.effective_from <= day and (row.effective_to is None or day <= row.effective_to):
            chosen = row
    if chosen is None:
        # Before the first rule set: the earliest one applies (records predate the data).
        if not rows:
            raise LookupError("no rule set is loaded")
        chosen = rows[0]
    return chosen


def publication_dates(rule_set: RuleSet, severity: str, basis_date: date) -> tuple[date, date]:
    """Return (earliest repair date, automatic end date), counted from the basis document date."""
    period = rule_set.periods[severity]
    return (
        basis_date + relativedelta(months=period["min_months"]),
        basis_date + relativedelta(months=period["max_months"]),
    )


def time_limit(rule_set: RuleSet, key: str) -> int:
    """Return a time limit in working days from a rule set, falling back to the local default."""
    return int(rule_set.time_limits.get(key, DEFAULT_TIME_LIMITS[key]))


def all_rule_sets() -> list[RuleSet]:
    """Every rule set version, oldest first."""
    return list(db.session.scalars(select(RuleSet).order_by(RuleSet.effective_from)))


def add_rule_set(*, code: str, name: str, legal_basis: str, effective_from: date, periods: dict,
                 time_limits: dict, repair_bar: dict) -> RuleSet:
    """Add a new rule-set version taking effect on a date; the previous open-ended one ends the day before."""
    from datetime import timedelta

    from app.services import audit
    from app.core.errors import Invalid

    errors = {}
    if not code.strip() or db.session.scalar(select(RuleSet.id).where(RuleSet.code == code.strip())):
        errors["code"] = _("编号必填且不能与已有规则集重复。")
    if not name.strip() or not legal_basis.strip():
        errors["name"] = _("名称和法律依据必填。")
    latest = db.session.scalar(select(RuleSet).order_by(RuleSet.effective_from.desc()).limit(1))
    if latest and effective_from <= latest.effective_from:
        errors["effective_from"] = _("生效日期须晚于现行规则集的生效日期（%(day)s）。", day=latest.effective_from.isoformat())
    for severity in ("minor", "general", "serious"):
        period = periods.get(severity) or {}
        low, high = period.get("min_months"), period.get("max_months")
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high <= 120):
            errors[severity] = _("公示期应为 0–120 个月的整数，且最短不超过最长。")
    if any(not isinstance(v, int) or not (0 if k in ZERO_ALLOWED else 1) <= v <= 366 for k, v in time_limits.items()):
        errors["time_limits"] = _("办理时限应为 1–366 个工作日的整数。")
    repair_bar = {k: v for k, v in (repair_bar or {}).items() if v not in (None, "", 0)}
    if isinstance(repair_bar.get("legal_basis"), str):
        repair_bar["legal_basis"] = repair_bar["legal_basis"].strip()
    if repair_bar.get("repeat_within_months") and not repair_bar.get("legal_basis"):
        errors["repair_bar_basis"] = _("设定不予修复情形须注明法律、法规或党中央、国务院文件依据（令第36号第二条）。")
    elif repair_bar.get("legal_basis") and not repair_bar.get("repeat_within_months"):
        repair_bar = {}
    if errors:
        raise Invalid(_("规则集有误，未保存。"), fields=errors)
    if latest and latest.effective_to is None:
        latest.effective_to = effective_from - timedelta(days=1)
    row = RuleSet(code=code.strip(), name=name.strip(), legal_basis=legal_basis.strip(), effective_from=effective_from,
                  effective_to=None, periods=periods, time_limits={**DEFAULT_TIME_LIMITS, **time_limits},
                  repair_bar=repair_bar)
    db.session.add(row)
    db.session.flush()
    audit.record("ruleset.add", object_type="rule_set", object_id=row.id,
                 details={"code": row.code, "effective_from": effective_from.isoformat()})
    return row
