"""Letter texts (issue 13 §4, §8, §9): every type cites its legal basis and claims no push, decisions end with the
challenge sentence of the case's rule set and subject, saved versions are validated, used and recorded, restored,
and an issued letter carries the configured seal or none."""
from __future__ import annotations

import re
import subprocess
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

import processes
from app.core.errors import Invalid
from app.extensions import db
from app.models import AuditEvent, Letter, LetterTemplate
from app.services import letter_templates, letters, rules
from app.services.letters import LetterType
from app.services.ops.checks import ERROR, OK, WARN, check_seal
from app.services.workflow import registry
from tests.support.letter_sweep import FREE_TEXT, fake_case, filler

ALL_TYPES = {name: kind for piece in processes.SLICES for name, kind in piece.letters.items()}
MINE = ("disclosure_notice", "repair_notice", "source_revocation_notice", "source_change_notice")
CITATION_TEXTS = tuple(letters.CITATIONS[key] for key in ("gov_integrity", "hubei", "plan", "repair"))
DECISION = LetterType("测试决定书", "测决", "根据{{ law.repair }}第三条，决定如下：{{ reason }}。\n\n{{ challenge }}",
                      "特此决定。", context=lambda case: {"reason": "测试"}, decides=True)


def _body(letter_type: str, length: int = 60) -> tuple[object, list[str]]:
    case, context = FREE_TEXT[letter_type](filler(length))
    return case, letters.render_body(case, letter_type, context)


@pytest.fixture()
def decision_type(monkeypatch, app):
    """A decides=True letter type registered for the test (the slices' own decisions arrive with h1–h3)."""
    monkeypatch.setitem(registry._REGISTRY.letters, "test_decision", DECISION)
    monkeypatch.setitem(FREE_TEXT, "test_decision", lambda text: (fake_case(), {"reason": text}))
    return "test_decision"


# --- every letter type -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("letter_type", sorted(ALL_TYPES))
def test_every_letter_cites_a_legal_basis(app, letter_type):
    _case, body = _body(letter_type)
    assert any(citation in "".join(body) for citation in CITATION_TEXTS), (letter_type, body)


@pytest.mark.parametrize("letter_type", sorted(ALL_TYPES))
def test_no_letter_claims_a_push_already_made(app, letter_type):
    # The push to 信用中国（湖北） goes through the outbox after the letter is issued: it is not done yet.
    _case, body = _body(letter_type)
    text = "".join(body)
    assert "已推送" not in text and "已同步推送" not in text
    assert not re.search(r"已[^。；]{0,30}推送", text), (letter_type, text)


@pytest.mark.parametrize("letter_type", sorted(ALL_TYPES))
def test_no_letter_type_uses_the_old_callable_form(letter_type):
    assert isinstance(ALL_TYPES[letter_type].paragraphs, str), f"{letter_type}: its body is still a function"


@pytest.mark.parametrize("letter_type", sorted(name for name, kind in ALL_TYPES.items() if kind.decides)
                         + ["test_decision"])
def test_decisions_end_with_the_challenge_sentence(decision_type, letter_type):
    case, body = _body(letter_type)
    assert body[-1] == letters.challenge_sentence(case)
    assert re.search(r"\{\{-?\s*law\.", ALL_TYPES.get(letter_type, DECISION).paragraphs)


@pytest.mark.parametrize("letter_type", sorted({*MINE, *(name for name, kind in ALL_TYPES.items() if kind.decides)}))
def test_letters_about_a_record_copy_the_recording_unit(app, letter_type):
    case, _context = FREE_TEXT[letter_type]("理由")
    assert case.record.recording_unit.name in ALL_TYPES[letter_type].cc(case)


@pytest.mark.parametrize("letter_type, expected", [
    ("disclosure_notice", ["国发〔2016〕76号", "鄂政发〔2017〕33号", "随信用办〔2017〕9号", "异议申诉", "XY2026-000123"]),
    ("repair_notice", ["令第36号", "第三条", "同步解除相关失信惩戒措施", "2026年6月5日"]),
    ("source_revocation_notice", ["谁认定、谁更正", "随财复决〔2026〕3号", "取消荣誉评选资格", "将通知"]),
    ("source_change_notice", ["失信程度由“一般”更正为“严重”", "异议申诉", "鄂政发〔2017〕33号"]),
])
def test_my_converted_letters_keep_their_words(app, letter_type, expected):
    _case, body = _body(letter_type)
    text = "".join(body)
    for words in expected:
        assert words in text, (letter_type, words)
    assert not ALL_TYPES[letter_type].decides  # they tell of the recording unit's decision (see their module)


def test_an_unpublished_minor_record_is_said_not_published(app):
    case, context = FREE_TEXT["disclosure_notice"]("事实")
    text = "".join(letters.render_body(case, "disclosure_notice", {**context, "published": False}))
    assert "轻微失信信息不予公示" in text and "网站公示" not in text


# --- challenge sentences: subject × rule set ---------------------------------------------------------------------

def _case(subject: str, *, record_rules=None, case_rules=None, with_record=True):
    unit_kind = "department" if subject == "person" else subject
    record = SimpleNamespace(subject_type="person" if subject == "person" else "unit", rule_set=record_rules)
    return SimpleNamespace(applicant_unit=SimpleNamespace(kind=unit_kind), record=record if with_record else None,
                           rule_set=case_rules)


CUSTOM = SimpleNamespace(policy={"challenge": {"institution": "事业单位的自定义救济途径。", "person": "个人的自定义途径。"}})
OTHER = SimpleNamespace(policy={"challenge": {"government": "案件规则集的途径。"}})


@pytest.mark.parametrize("subject, rule_set, words", [
    ("government", None, "领导小组申请复核"),
    ("department", None, "领导小组申请复核"),
    ("institution", None, "60日内"),
    ("institution", None, "6个月内"),
    ("grassroots", None, "行政复议法》第二十条"),
    ("grassroots", None, "行政诉讼法》第四十六条"),
    ("person", None, "公务员法》第九十五条"),
    ("institution", CUSTOM, "事业单位的自定义救济途径。"),
    ("person", CUSTOM, "个人的自定义途径。"),
    ("government", CUSTOM, "领导小组申请复核"),  # a key the rule set does not set: the default
    ("department", SimpleNamespace(policy={}), "领导小组申请复核"),
])
def test_challenge_sentence_by_subject_and_rule_set(subject, rule_set, words):
    sentence = letters.challenge_sentence(_case(subject, record_rules=rule_set))
    assert words in sentence
    if subject in ("government", "department") and rule_set is None:
        assert "行政复议" not in sentence
    if subject in ("institution", "grassroots") and rule_set is None:
        assert "领导小组" not in sentence


def test_the_records_rule_set_decides_not_the_cases():
    case = _case("institution", record_rules=CUSTOM, case_rules=OTHER)
    assert letters.challenge_sentence(case) == "事业单位的自定义救济途径。"
    assert letters.challenge_sentence(_case("government", case_rules=OTHER, with_record=False)) == "案件规则集的途径。"


def test_challenge_defaults_are_rule_set_data():
    assert set(rules.DEFAULT_POLICY["challenge"]) == set(letter_templates.CHALLENGE_LABELS)
    assert not hasattr(letters, "CHALLENGE_DEFAULTS")


def test_saved_challenge_sentences_are_used_and_audited(recorded_staff):
    from app.models import CreditRecord

    record = db.session.scalar(select(CreditRecord))
    sentences = {**letter_templates.challenge_sentences(record.rule_set), "department": "经审核的新复核句。"}
    letter_templates.set_challenge_sentences(record.rule_set, sentences, "法制科审核")
    db.session.commit()
    case = SimpleNamespace(record=record, applicant_unit=SimpleNamespace(kind="department"), rule_set=None)
    assert letters.challenge_sentence(case) == "经审核的新复核句。"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "rule_set.challenge"))
    assert event.details["changed"] == ["department"] and event.details["note"] == "法制科审核"


@pytest.mark.parametrize("change, field", [
    ({"person": ""}, "person"),
    ({"government": "   "}, "government"),
    ({"institution": "长" * 501}, "institution"),
    ({}, "note"),
])
def test_challenge_sentences_refused_and_nothing_changed(recorded_staff, change, field):
    from app.models import RuleSet

    rule_set = db.session.scalar(select(RuleSet).order_by(RuleSet.id))
    before = dict(rule_set.policy or {})
    sentences = {**letter_templates.challenge_sentences(rule_set), **change}
    with pytest.raises(Invalid) as refused:
        letter_templates.set_challenge_sentences(rule_set, sentences, "" if field == "note" else "审核")
    assert field in refused.value.fields
    assert (rule_set.policy or {}) == before


# --- saved versions ----------------------------------------------------------------------------------------------

NEW_TEXT = "经{{ recording_unit }}认定，{{ subject }}存在失信行为：{{ facts }}\n\n依据{{ law.plan }}，自{{ start_text }}起公示。"


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(LetterTemplate))


@pytest.mark.parametrize("letter_type, body, formula, note, field, words", [
    ("disclosure_notice", "{% if published %}未闭合", "", "审核", "body", "语法错误"),
    ("disclosure_notice", "第一段\n\n{{ nothing_here }}", "", "审核", "body", "“nothing_here”未定义"),
    ("disclosure_notice", "第一段\n\n{{ nothing_here }}", "", "审核", "body", "第 3 行"),
    ("disclosure_notice", "{{ law.nowhere }}", "", "审核", "body", "未定义"),
    ("disclosure_notice", "{{ ''.__class__.__mro__ }}", "", "审核", "body", "不允许"),
    ("disclosure_notice", "长" * (letter_templates.MAX_BODY + 1), "", "审核", "body", "不能超过"),
    ("disclosure_notice", "  \n ", "", "审核", "body", "请填写正文"),
    ("disclosure_notice", "{% if false %}x{% endif %}", "", "审核", "body", "正文为空"),
    ("disclosure_notice", NEW_TEXT, "特" * 41, "审核", "formula", "不能超过"),
    ("disclosure_notice", NEW_TEXT, "", "", "note", "由谁审核"),
    ("disclosure_notice", NEW_TEXT, "", "说" * 501, "note", "不能超过"),
    ("test_decision", "决定：{{ reason }}。\n\n{{ challenge }}", "", "审核", "body", "法律依据"),
    ("test_decision", "依据{{ law.repair }}第三条，决定：{{ reason }}。", "", "审核", "body", "救济途径"),
    ("disclosure_notice", "{{ '长' * 100000000 }}", "", "审核", "body", "不允许"),
    ("disclosure_notice", "{{ 9 ** 99999999 }}", "", "审核", "body", "不允许"),
    ("disclosure_notice", "{% for i in range(3000) %}长长长长{% endfor %}", "", "审核", "body", "过长"),
], ids=["syntax", "undefined", "undefined-line", "undefined-law", "sandbox", "too-long", "blank", "renders-empty",
        "formula-too-long", "no-note", "note-too-long", "decision-without-basis", "decision-without-challenge",
        "string-times", "power", "renders-too-long"])
def test_a_bad_text_is_refused_and_nothing_saved(decision_type, letter_type, body, formula, note, field, words):
    with pytest.raises(Invalid) as refused:
        letter_templates.save(letter_type, body, formula, note, user_id=None)
    assert field in refused.value.fields
    assert words in refused.value.fields[field], refused.value.fields
    assert _count() == 0


def test_a_decision_text_with_basis_and_challenge_is_saved(decision_type):
    row = letter_templates.save("test_decision", "依据{{ law.repair }}第三条，决定：{{ reason }}。\n\n{{ challenge }}",
                                "特此决定。", "法制科审核", user_id=None)
    assert row.version == 1


def test_a_saved_version_is_used_by_the_next_letter_and_recorded(recorded_staff):
    from app.models import Case, CreditRecord
    from tests.support import factories

    case = factories.case(db.session.scalar(select(CreditRecord)))
    first = letters.issue_letter(case, "disclosure_notice", user_id=None,
                                 context=registry.letter_type("disclosure_notice").context(case))
    assert first.template_version == 0
    row = letter_templates.save("disclosure_notice", NEW_TEXT, "特此函告。", "简化；法制科李某审核", user_id=None)
    assert row.version == 1
    second = letters.issue_letter(case, "disclosure_notice", user_id=None,
                                  context=registry.letter_type("disclosure_notice").context(case))
    db.session.commit()
    assert second.template_version == 1
    assert second.data["formula"] == "特此函告。"
    assert second.data["paragraphs"][1].startswith("依据《随州市社会信用体系建设领导小组办公室")
    assert first.data["formula"] == "特此告知。"  # issued letters never change
    assert db.session.get(Letter, first.id).template_version == 0
    audit_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "letter_template.save"))
    assert audit_event.details == {"letter_type": "disclosure_notice", "version": 1, "note": "简化；法制科李某审核"}
    assert isinstance(db.session.get(Case, case.id), Case)


def test_restore_saves_an_old_version_as_a_new_one(app):
    letter_templates.save("repair_notice", NEW_TEXT.replace("公示", "记录"), "", "第一版", user_id=None)
    letter_templates.save("repair_notice", NEW_TEXT, "", "第二版", user_id=None)
    restored = letter_templates.restore("repair_notice", 1, "退回第一版；审核人王某", user_id=None)
    assert restored.version == 3 and "起记录" in restored.body
    builtin = letter_templates.restore("repair_notice", 0, "恢复内置文本", user_id=None)
    assert builtin.version == 4 and builtin.body == ALL_TYPES["repair_notice"].paragraphs
    assert builtin.formula == "特此告知。"
    assert letters.current_wording("repair_notice").version == 4
    assert [v["version"] for v in letter_templates.versions("repair_notice")] == [4, 3, 2, 1, 0]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "letter_template.save")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.details["restored_from"] == 0


def test_restoring_an_unknown_version_is_refused(app):
    from app.core.errors import NotFound

    with pytest.raises(NotFound):
        letter_templates.restore("repair_notice", 7, "恢复", user_id=None)


def test_the_newest_wording_is_one_query(app, monkeypatch):
    letter_templates.save("repair_notice", NEW_TEXT, "", "一版", user_id=None)
    calls = []
    real = letters.current_wording
    monkeypatch.setattr(letters, "current_wording", lambda t: calls.append(t) or real(t))
    case, context = FREE_TEXT["repair_notice"]("x")
    data = letters.letter_data(case, "repair_notice", "号", "code", context)
    assert calls == ["repair_notice"] and data["template_version"] == 1


# --- the sample and the preview ----------------------------------------------------------------------------------

@pytest.mark.parametrize("letter_type", ["disclosure_notice", "source_change_notice"])
def test_the_preview_works_on_an_empty_database_and_saves_nothing(app, letter_type):
    body, formula = letter_templates.editable_text(letter_type)
    pdf = letter_templates.preview(letter_type, body + "\n\n预览新增的一段。", formula)
    assert pdf.startswith(b"%PDF")
    text = re.sub(r"\s+", "", pdf_text(pdf))
    assert "〔2026〕×号" in text and "预览新增的一段。" in text  # the draft's number; its 草稿 watermark is drawn apart
    assert _count() == 0 and db.session.scalar(select(func.count()).select_from(Letter)) == 0
    assert letter_templates.sample(letter_type).source == "示例数据"


def test_the_sample_is_the_newest_case_with_such_a_letter(seeded):
    letter = db.session.scalar(select(Letter).where(Letter.type == "disclosure_notice").order_by(Letter.id.desc()))
    sample = letter_templates.sample("disclosure_notice")
    assert sample.case.id == letter.case_id and sample.source.startswith("办件")
    assert {"published", "start_text", "end_text", "repair_text"} <= set(sample.context)
    names = letter_templates.available_names("disclosure_notice", sample)
    assert "challenge" in names["common"] and "law.repair" in names["law"] and "end_text" in names["own"]


def test_a_made_up_sample_gives_every_name_the_builtin_text_reads(app):
    for letter_type in MINE:
        sample = letter_templates.sample(letter_type)
        assert letter_templates.builtin_names(letter_type) <= set(sample.context), letter_type


# --- the seal ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("demo, image, draft", [(False, None, False), (True, None, False), (False, "/x/seal.png", False),
                                                (False, None, True), (True, "/x/seal.png", True)])
def test_the_service_passes_the_seal_settings(app, monkeypatch, demo, image, draft):
    seen = {}
    monkeypatch.setattr(letters, "render_letter_pdf", lambda data, **kw: seen.update(kw) or b"%PDF")
    monkeypatch.setitem(app.config, "LETTER_DEMO_SEAL", demo)
    monkeypatch.setitem(app.config, "LETTER_SEAL_IMAGE", image)
    letters._render({}, draft=draft)
    assert seen == {"draft": draft, "font_dir": None, "seal_image": image, "demo_seal": demo}


def test_tests_run_without_the_demo_seal(app):
    from config import DevelopmentConfig, ProductionConfig

    assert app.config["LETTER_DEMO_SEAL"] is False
    assert ProductionConfig.LETTER_DEMO_SEAL is False
    assert DevelopmentConfig.LETTER_DEMO_SEAL is True


@pytest.mark.parametrize("env, seal, demo, expected", [
    ("production", None, False, {("LETTER_SEAL_IMAGE", WARN)}),
    ("production", "missing", False, {("LETTER_SEAL_IMAGE", ERROR)}),
    ("production", "present", False, {("LETTER_SEAL_IMAGE", OK)}),
    ("production", "present", True, {("LETTER_SEAL_IMAGE", OK), ("LETTER_DEMO_SEAL", ERROR)}),
    (None, None, False, set()),
    (None, None, True, {("LETTER_DEMO_SEAL", WARN)}),
])
def test_flask_check_reports_the_seal(tmp_path, env, seal, demo, expected):
    image = tmp_path / "seal.png"
    image.write_bytes(b"\x89PNG")
    path = {"missing": str(tmp_path / "nope.png"), "present": str(image), None: None}[seal]
    found = check_seal({"APP_ENV": env, "LETTER_SEAL_IMAGE": path, "LETTER_DEMO_SEAL": demo})
    assert {(f.topic, f.level) for f in found} == expected
    if ("LETTER_SEAL_IMAGE", WARN) in expected:
        assert "未配置印章图片" in found[0].message
