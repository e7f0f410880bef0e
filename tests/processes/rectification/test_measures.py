"""Measures only by written decision (issue 13 §2): overdue → 拟惩戒告知书 → 陈述申辩 (or the window passes) → the
office's review (confirm / 从轻 / 免于惩戒) → the approver's decision → the decision letter (and the 通报); no measure
before the decision, none stacked on a second overdue, none outside the rule set's catalogue."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.core.errors import Invalid
from app.extensions import db
from app.models import Case, Letter, RuleSet, Sanction
from app.services import rules, sanctions
from tests.support.flows import (case_of, decide_measures, do_task, open_order, overdue, run_timers_at, sanctions_of,
                                 timer)

DECIDED_WITH_STATEMENT = date(2026, 12, 3)  # the overdue timer fired at 2026-12-03 00:00 Beijing time
# The 拟惩戒告知书 is delivered on 12-03: 3 working days from delivery (the day not counted) end Tue 12-08 (含).
DECIDED_AFTER_WINDOW = date(2026, 12, 9)


def letters_of(case_id: int) -> list[Letter]:
    return list(db.session.scalars(select(Letter).where(Letter.case_id == case_id).order_by(Letter.id)))


def text(letter: Letter) -> str:
    return "".join(letter.data["paragraphs"])


DECISIONS = [
    # outcome, approval, statement, sanction statuses, letters after the notice
    ("confirm", "approve", None, {"honor_disqualification": "active", "public_criticism": "active"},
     ["失信惩戒决定书", "关于对{unit}予以通报批评的通报"]),
    ("confirm", "approve", "我单位已追回资金。", {"honor_disqualification": "active", "public_criticism": "active"},
     ["失信惩戒决定书", "关于对{unit}予以通报批评的通报"]),
    ("lighten", "approve", "我单位已追回资金。", {"honor_disqualification": "active", "public_criticism": "declined"},
     ["失信惩戒决定书"]),
    ("lighten", "approve", None, {"honor_disqualification": "active", "public_criticism": "declined"}, ["失信惩戒决定书"]),
    ("exempt", "approve", "系轻微失信，已主动纠正。", {"honor_disqualification": "declined", "public_criticism": "declined"},
     ["失信惩戒决定书"]),
    ("confirm", "decline", None, {"honor_disqualification": "declined", "public_criticism": "declined"},
     ["失信惩戒决定书"]),
    ("lighten", "decline", "说明", {"honor_disqualification": "declined", "public_criticism": "declined"},
     ["失信惩戒决定书"]),
    ("exempt", "decline", None, {"honor_disqualification": "declined", "public_criticism": "declined"},
     ["失信惩戒决定书"]),
]


@pytest.mark.parametrize("outcome, approval, statement, expected, titles", DECISIONS)
def test_decision_table(api, recorded_staff, outcome, approval, statement, expected, titles):
    case = open_order(api, days=3)
    overdue(api, case["id"])
    # Nothing is in force before the decision: only the order, the rest proposed without a start date.
    assert sanctions_of(case["id"]) == {"rectification_order": "active", "honor_disqualification": "proposed",
                                        "public_criticism": "proposed"}
    if statement is not None:
        do_task(api, "applicant1", case["id"], "state_case", {"statement": statement})
        assert sanctions_of(case["id"])["honor_disqualification"] == "proposed"
        do_task(api, "intake1", case["id"], "review_statement", {"outcome": outcome, "reasons": "经审查，理由如下。"})
        assert sanctions_of(case["id"])["honor_disqualification"] == "proposed"
        values = {"measures_approval": approval} if approval == "approve" else {"measures_approval": approval,
                                                                                "comment": "不同意惩戒意见"}
        do_task(api, "approver1", case["id"], "approve_measures", values)
    else:
        decide_measures(api, case["id"], outcome=outcome, approval=approval)
    statuses = sanctions_of(case["id"])
    assert statuses == {"rectification_order": "active", **expected}
    decided_on = DECIDED_WITH_STATEMENT if statement is not None else DECIDED_AFTER_WINDOW
    for row in db.session.scalars(select(Sanction).where(Sanction.created_by_case_id == case["id"])):
        if row.kind != "rectification_order":
            assert row.start_date == (decided_on if row.status == "active" else None), row.kind
    unit = db.session.get(Case, case["id"]).applicant_unit.name
    issued = letters_of(case["id"])
    assert [l.title for l in issued][:2] == ["限期整改通知书", "拟惩戒告知书"]
    assert [l.title for l in issued][2:] == [t.format(unit=unit) for t in titles]
    decision = text(issued[2])
    assert ("你单位提出陈述申辩意见：" + statement in decision) if statement else "未提出陈述申辩" in decision
    if "active" in expected.values():
        assert "取消荣誉评选资格，自" + f"{decided_on.year}年{decided_on.month}月{decided_on.day}日起实施" in decision
    else:
        assert "免于实施失信惩戒措施" in decision and "不予实施" in decision
    assert ("决定从轻处理" in decision) is (outcome == "lighten" and approval == "approve")
    assert ("不同意惩戒意见" in decision) is (approval == "decline")
    assert decision.endswith("向随州市社会信用体系建设领导小组申请复核。")
    assert case_of(api, "intake1", case["id"])["status"] == "in_progress"  # the late submission is still open


def test_the_window_passes_without_a_statement(api, recorded_staff):
    case = open_order(api, days=3)
    overdue(api, case["id"])
    window = timer(case["id"], "statement_window")
    # Delivered on Thu 12-03: 3 working days from the next day (Fri, Mon, Tue): the last day 12-08 counts.
    assert window.fire_at.isoformat() == "2026-12-08T15:59:59+00:00"
    run_timers_at(window.fire_at - timedelta(seconds=2))
    assert timer(case["id"], "statement_window") is not None
    run_timers_at(window.fire_at + timedelta(seconds=1))
    steps = sorted(t["bpmn_id"] for t in case_of(api, "intake1", case["id"])["open_tasks"])
    assert steps == ["review_statement", "submit_late"]
    assert sanctions_of(case["id"])["public_criticism"] == "proposed"


def test_second_overdue_after_rework_does_not_stack(api, recorded_staff):
    case = open_order(api, days=3)
    overdue(api, case["id"])
    decide_measures(api, case["id"], outcome="lighten")  # 取消荣誉评选资格 active, 通报 declined
    do_task(api, "applicant1", case["id"], "submit_late", {"explanation": "说明", "report": "报告"})
    do_task(api, "intake1", case["id"], "review_rectification",
            {"review": "return_for_rework", "opinion": "仍不到位", "new_deadline_days": "3"})
    overdue(api, case["id"])
    kinds = [(s.kind, s.status) for s in db.session.scalars(select(Sanction).where(
        Sanction.created_by_case_id == case["id"]).order_by(Sanction.id))]
    # The disqualification stands and is not proposed again; the criticism, declined before, is proposed anew.
    assert kinds == [("rectification_order", "active"), ("honor_disqualification", "active"),
                     ("public_criticism", "declined"), ("public_criticism", "proposed")]
    second_notice = [l for l in letters_of(case["id"]) if l.title == "拟惩戒告知书"][-1]
    assert "已实施或已拟实施的取消荣誉评选资格继续有效，本次不重复实施" in text(second_notice)
    assert "1．公开通报批评" in text(second_notice) and "取消荣誉评选资格，依据" not in text(second_notice)
    decide_measures(api, case["id"], outcome="confirm")
    active = db.session.scalars(select(Sanction.kind).where(Sanction.created_by_case_id == case["id"],
                                                            Sanction.status == "active")).all()
    assert sorted(active) == ["honor_disqualification", "public_criticism", "rectification_order"]
    decision = text([l for l in letters_of(case["id"]) if l.title == "失信惩戒决定书"][-1])
    assert "此前已对你单位实施的取消荣誉评选资格继续有效" in decision


@pytest.mark.parametrize("catalogue, proposed", [
    (None, ["honor_disqualification", "public_criticism"]),
    ({"public_criticism": None}, ["honor_disqualification"]),  # the rule set's catalogue lacks it
    ({"honor_disqualification": {"on_overdue": False}}, ["public_criticism"]),
])
def test_overdue_proposes_what_the_catalogue_says(api, recorded_staff, catalogue, proposed):
    if catalogue is not None:
        merged = {k: v for k, v in rules.DEFAULT_POLICY["measures"].items()}
        for kind, change in catalogue.items():
            if change is None:
                merged.pop(kind)
            else:
                merged[kind] = {**merged[kind], **change}
        for rule_set in db.session.scalars(select(RuleSet)):
            rule_set.policy = {**(rule_set.policy or {}), "measures": merged}
        db.session.commit()
    case = open_order(api, days=3)
    overdue(api, case["id"])
    assert sorted(k for k, s in sanctions_of(case["id"]).items() if s == "proposed") == proposed


@pytest.mark.parametrize("kind", ["fine", "", "public_criticism"])
def test_the_catalogue_refuses_a_kind_it_does_not_list(api, recorded_staff, kind):
    case = db.session.get(Case, open_order(api)["id"])
    case.rule_set.policy = {"measures": {k: v for k, v in rules.DEFAULT_POLICY["measures"].items()
                                         if k != "public_criticism"}}
    before = db.session.scalar(select(db.func.count(Sanction.id)))
    with pytest.raises(Invalid) as refused:
        sanctions.impose(kind, case, status="proposed", user_id=None, reason="测试")
    assert "不在规则集的惩戒措施目录中" in refused.value.message
    assert db.session.scalar(select(db.func.count(Sanction.id))) == before


@pytest.mark.parametrize("kind, subject, allowed", [
    ("honor_disqualification", "unit", True), ("award_restriction", "unit", False),
    ("public_criticism", "person", False), ("award_restriction", "person", True),
])
def test_a_measure_applies_only_to_its_subjects(api, recorded_staff, kind, subject, allowed):
    rule_set = db.session.get(Case, open_order(api)["id"]).rule_set
    if allowed:
        assert sanctions.applicable(rule_set, kind, subject)["name"]
    else:
        with pytest.raises(Invalid) as refused:
            sanctions.applicable(rule_set, kind, subject)
        assert refused.value.code == "measure_not_applicable"


def test_every_catalogue_entry_states_its_basis():
    catalogue = rules.DEFAULT_POLICY["measures"]
    assert set(catalogue) == {"rectification_order", "honor_disqualification", "public_criticism", "award_restriction"}
    for entry in catalogue.values():
        assert "随信用办〔2017〕9号）三（二）4" in entry["basis"]
        assert entry["lenient"] in ("keep", "drop") and entry["applies_to"] and entry["lenient_text"]
    assert "轻微失信行为鼓励自我纠错" in rules.DEFAULT_POLICY["lenient_basis"]
    assert rules.DEFAULT_TIME_LIMITS["statement_window"] == 3
