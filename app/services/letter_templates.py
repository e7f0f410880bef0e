"""Letter texts an administrator edits (issue 13 §8): versions, validation against a sample, preview, challenge sentences.

A letter type's built-in text (its LetterType in processes/<name>/letters.py) is version 0; every save adds a row to
letter_template with the next version, and the newest one is what letters are issued with
(app/services/letters.current_wording; the letter records it in letter.template_version). Issued letters never
change: they keep their PDF and hash. A text is refused unless it compiles in the sandbox and renders against a
sample (the newest case with a letter of that type, else made-up data, so it works on an empty database) with no
undefined name; a decision (decides=True) must cite its legal basis ({{ law.… }}) and say how to challenge it
({{ challenge }}). Every save is audited with the note saying what changed and who reviewed it.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace

from flask_babel import gettext as _
from jinja2 import TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError, TemplateError
from sqlalchemy import and_, func, select

from app.core.clock import local_today, now
from app.core.errors import Invalid, NotFound
from app.extensions import db
from app.models import Case, Letter, LetterTemplate, RuleSet, User
from app.services import audit, letters, rules
from app.services.workflow import registry

MAX_BODY = 10_000  # characters of a template text (the longest built-in one is about 1,500)
MAX_FORMULA = 40  # the column's size: a 结束语 is a few words ("特此决定。")
MAX_NOTE = 500
MAX_CHALLENGE = 500
CHALLENGE_LABELS = {"government": "政府（人民政府）", "department": "政府部门", "institution": "事业单位",
                    "grassroots": "基层群众性自治组织", "person": "公务员（个人记录）"}
_CHALLENGE_NAME = re.compile(r"\{\{-?\s*challenge\s*-?\}\}")
_LAW_NAME = re.compile(r"\{\{-?\s*law\.\w+")


@dataclass
class Sample:
    """What a draft text is checked and previewed against: a case (real or made up) and its letter context."""
    case: object
    context: dict
    source: str  # "办件 XY2026-000123" or "示例数据"


@dataclass
class TypeRow:
    key: str
    title: str
    slice_key: str
    decides: bool
    version: int
    saved_at: datetime | None
    saved_by: str | None
    builtin_is_template: bool


def _kind(letter_type: str):
    try:
        return registry.letter_type(letter_type)
    except KeyError:
        raise NotFound(_("没有这种文书。")) from None


def _slice_of() -> dict[str, str]:
    return {name: piece.key for piece in registry.slices() for name in piece.letters}


def overview() -> list[TypeRow]:
    """Every registered letter type with its current version (one query for all types)."""
    newest = select(LetterTemplate.letter_type, func.max(LetterTemplate.version).label("version")) \
        .group_by(LetterTemplate.letter_type).subquery()
    rows = {r.letter_type: r for r in db.session.scalars(select(LetterTemplate).join(newest, and_(
        LetterTemplate.letter_type == newest.c.letter_type, LetterTemplate.version == newest.c.version)))}
    users = _user_names({r.created_by_id for r in rows.values()})
    owners = _slice_of()
    out = []
    for key, kind in registry.letter_types().items():
        row = rows.get(key)
        out.append(TypeRow(key, kind.title, owners.get(key, ""), kind.decides, row.version if row else 0,
                           row.created_at if row else None, users.get(row.created_by_id) if row else None,
                           isinstance(kind.paragraphs, str)))
    return out


def _user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def versions(letter_type: str) -> list[dict]:
    """The saved versions of a type, newest first, each with its text, note and author; version 0 last."""
    kind = _kind(letter_type)
    rows = db.session.scalars(select(LetterTemplate).where(LetterTemplate.letter_type == letter_type)
                              .order_by(LetterTemplate.version.desc())).all()
    users = _user_names({r.created_by_id for r in rows})
    out = [{"version": r.version, "body": r.body, "formula": r.formula, "note": r.note, "at": r.created_at,
            "by": users.get(r.created_by_id)} for r in rows]
    out.append({"version": 0, "body": kind.paragraphs if isinstance(kind.paragraphs, str) else None,
                "formula": kind.formula, "note": _("内置文本"), "at": None, "by": None})
    return out


def editable_text(letter_type: str) -> tuple[str, str]:
    """The body and 结束语 the editor starts from: the current wording (empty for a built-in not yet a template)."""
    wording = letters.current_wording(letter_type)
    body = wording.body if isinstance(wording.body, str) else ""
    return body.strip("\n"), wording.formula or ""


# --- the sample a text is checked against -----------------------------------------------------------------------

class Stand:
    """A made-up value for a letter context name the made-up case cannot give: prints as 〔name〕, iterates empty."""

    def __init__(self, name: str):
        self._name = name

    def __str__(self) -> str:
        return f"〔{self._name}〕"

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True

    def __getattr__(self, attr: str):
        if attr.startswith("_") or attr in ("unsafe_callable", "alters_data", "jinja_pass_arg"):
            raise AttributeError(attr)
        return Stand(f"{self._name}.{attr}")

    def __getitem__(self, key):
        return Stand(f"{self._name}[{key}]")

    def __call__(self, *args, **kwargs):
        return Stand(self._name)


def made_up_case():
    """A stand-in for a case with the attributes letter texts read (no database), like tests' letter_sweep.fake_case."""
    today = local_today()
    newest = rules.SEED_RULE_SETS[-1]
    rule_set = SimpleNamespace(id=None, code=newest["code"], periods=newest["periods"], policy={},
                               time_limits=dict(rules.DEFAULT_TIME_LIMITS), repair_bar={})
    unit = SimpleNamespace(name="随州市曾都区住房和城乡建设局", kind="department", id=None)
    recording = SimpleNamespace(name="随州市财政局", kind="department", id=None)
    record = SimpleNamespace(
        id=None, recording_unit=recording, recording_unit_id=None, subject_unit=unit, basis_doc_no="随财〔2026〕12号",
        basis_date=date(2026, 3, 5), facts="逾期未履行合同约定的付款义务", subject_type="unit", person_name=None,
        person_post=None, category="contract", category_label="政务违约", severity="general", severity_label="一般",
        publication_start=today, auto_end_date=date(today.year + 1, 3, 5), earliest_repair_date=date(2026, 6, 5),
        status="published", rule_set=rule_set, legal_basis="", sanctions=[])
    form = {"reason": "（示例）认定单位说明的理由", "change_doc_no": "随财复决〔2026〕3号", "change_doc_date": today.isoformat(),
            "applied": {}, "lifted": []}
    return SimpleNamespace(id=None, number="XY2026-000123", submitted_at=now(), query_code="A1B2C3D4", form=form,
                           type="", status="open", applicant_unit=unit, applicant_unit_id=None, record=record,
                           rule_set=rule_set, letters=[], events=[])


def builtin_names(letter_type: str) -> set[str]:
    """The names the built-in text of a type reads beyond the common ones (what its context must give)."""
    kind = _kind(letter_type)
    if not isinstance(kind.paragraphs, str):
        return set()
    names = meta.find_undeclared_variables(letters._env().parse(kind.paragraphs))
    return set(names) - set(letters.common_context(made_up_case()))


def _try_context(kind, case) -> dict | None:
    try:
        with db.session.begin_nested():
            context = kind.context(case)
    except Exception:  # noqa: BLE001 - a case that no longer gives this type's values is no sample
        return None
    return context if isinstance(context, dict) else None


def sample(letter_type: str) -> Sample:
    """The newest case with a letter of this type, else made-up data (so the editor works on an empty database)."""
    kind = _kind(letter_type)
    case = db.session.scalar(select(Case).join(Letter, Letter.case_id == Case.id).where(Letter.type == letter_type)
                             .order_by(Letter.id.desc()).limit(1))
    if case is not None:
        context = _try_context(kind, case)
        if context is not None:
            return Sample(case, context, _("办件 %(number)s", number=case.number))
    fake = made_up_case()
    context = _try_context(kind, fake) or {}
    for name in builtin_names(letter_type) - set(context):
        context[name] = Stand(name)
    return Sample(fake, context, _("示例数据"))


def available_names(letter_type: str, sample_: Sample | None = None) -> dict[str, list[str]]:
    """The names a text of this type may use: the common ones and the type's own (from the sample's context)."""
    sample_ = sample_ or sample(letter_type)
    common = sorted(name for name in letters.common_context(sample_.case) if name not in ("law", "date", "last_day"))
    return {"common": common, "law": [f"law.{key}" for key in letters.CITATIONS],
            "functions": ["date(日期)", "last_day(日期)"], "own": sorted(sample_.context)}


# --- validation ---------------------------------------------------------------------------------------------------

def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on (Jinja rewrites the traceback to the template's lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_SYNTAX_WORDS = [
    (r"unexpected end of template", "模板意外结束（可能缺少 {% endif %}、{% endfor %} 或右括号）"),
    (r"Encountered unknown tag '(\w+)'", r"未知的标签“\1”"),
    (r"unexpected '(.+?)'", r"出现了意外的“\1”"),
    (r"expected token '(.+?)', got '(.+?)'", r"此处应为“\1”，却是“\2”"),
    (r"unexpected char '(.+?)'", r"出现了意外的字符“\1”"),
    (r"Unexpected end of template.*", "模板意外结束（可能缺少 {% endif %} 或 {% endfor %}）"),
]


def _in_chinese(message: str) -> str:
    for pattern, words in _SYNTAX_WORDS:
        found = re.search(pattern, message or "")
        if found:
            return found.expand(words)
    return message or ""


def _at(line: int | None) -> str:
    return _("第 %(n)s 行：", n=line) if line else ""


def render_draft(letter_type: str, body: str, formula: str, sample_: Sample) -> list[str]:
    """Render a draft text against a sample, raising Invalid (field body) with the error in Chinese and its line."""
    try:
        letters.compile_template(body)
    except TemplateSyntaxError as exc:
        raise Invalid(_("模板语法错误。"), fields={"body": _at(exc.lineno) + _("语法错误：%(what)s", what=_in_chinese(exc.message))}) from None
    wording = letters.Wording(-1, body, formula or None)
    try:
        paragraphs = letters.render_body(sample_.case, letter_type, sample_.context, wording)
    except UndefinedError as exc:
        found = re.search(r"'([^']+)' is undefined", exc.message or "")
        what = (_("名称“%(name)s”未定义（可用的名称见右侧列表）。", name=found.group(1)) if found
                else _("使用了未定义的名称：%(msg)s", msg=exc.message))
        raise Invalid(_("模板使用了未定义的名称。"), fields={"body": _at(_template_line(exc)) + what}) from None
    except SecurityError:
        raise Invalid(_("模板使用了不允许的操作。"), fields={"body": _at(_template_line(sys.exc_info()[1]))
                                                           + _("不允许的操作：模板只能使用所列的名称和简单的条件、循环。")}) from None
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise Invalid(_("模板无法生成正文。"), fields={"body": _at(_template_line(exc)) + _("无法生成正文：%(msg)s", msg=str(exc)[:200])}) from None
    if not paragraphs:
        raise Invalid(_("正文为空。"), fields={"body": _("正文为空：请至少写一段。")})
    if sum(map(len, paragraphs)) > MAX_BODY:
        raise Invalid(_("生成的正文过长。"), fields={"body": _("生成的正文过长：超过 %(n)s 个字。", n=MAX_BODY)})
    return paragraphs


def check(letter_type: str, body: str, formula: str, note: str | None, *, need_note: bool = True) -> Sample:
    """Refuse a text that is empty, too long, not a valid template, or (for a decision) without basis or challenge."""
    kind = _kind(letter_type)
    body = (body or "").replace("\r\n", "\n")
    fields = {}
    if not body.strip():
        fields["body"] = _("请填写正文。")
    elif len(body) > MAX_BODY:
        fields["body"] = _("正文不能超过 %(n)s 个字符（现有 %(m)s 个）。", n=MAX_BODY, m=len(body))
    if formula and len(formula) > MAX_FORMULA:
        fields["formula"] = _("结束语不能超过 %(n)s 个字。", n=MAX_FORMULA)
    if need_note and not (note or "").strip():
        fields["note"] = _("请说明改了什么、由谁审核。")
    elif note and len(note) > MAX_NOTE:
        fields["note"] = _("说明不能超过 %(n)s 个字。", n=MAX_NOTE)
    if kind.decides and "body" not in fields:
        if not _LAW_NAME.search(body):
            fields["body"] = _("这是决定类文书：正文须以 {{ law.… }} 写明法律依据（如 {{ law.repair }}第三条）。")
        elif not _CHALLENGE_NAME.search(body):
            fields["body"] = _("这是决定类文书：正文须以 {{ challenge }} 写明救济途径（复核、行政复议或诉讼）。")
    if fields:
        raise Invalid(next(iter(fields.values())), fields=fields)
    sample_ = sample(letter_type)
    render_draft(letter_type, body, formula, sample_)
    return sample_


def preview(letter_type: str, body: str, formula: str) -> bytes:
    """The 草稿 PDF of a draft text against the sample, saving nothing."""
    sample_ = check(letter_type, body, formula, None, need_note=False)
    wording = letters.Wording(-1, body.replace("\r\n", "\n"), formula or None)
    return letters.preview_letter(sample_.case, letter_type, sample_.context, wording)


def save(letter_type: str, body: str, formula: str, note: str, *, user_id: int | None,
         restored_from: int | None = None) -> LetterTemplate:
    """Save a text as the type's next version (audited); the next letter of this type is issued with it."""
    check(letter_type, body, formula, note)
    newest = db.session.scalar(select(func.max(LetterTemplate.version)).where(LetterTemplate.letter_type == letter_type))
    row = LetterTemplate(letter_type=letter_type, version=(newest or 0) + 1, body=body.replace("\r\n", "\n"),
                         formula=(formula or "").strip() or None, note=note.strip(), created_by_id=user_id,
                         created_at=now())
    db.session.add(row)
    db.session.flush()
    details = {"letter_type": letter_type, "version": row.version, "note": row.note}
    if restored_from is not None:
        details["restored_from"] = restored_from
    audit.record("letter_template.save", object_type="letter_template", object_id=row.id, details=details)
    return row


def restore(letter_type: str, version: int, note: str, *, user_id: int | None) -> LetterTemplate:
    """Save an earlier version's text (0: the built-in one) as a new version."""
    for item in versions(letter_type):
        if item["version"] == version:
            if item["body"] is None:
                raise Invalid(_("内置文本尚未改写为模板，不能恢复；请直接编辑。"))
            return save(letter_type, item["body"], item["formula"] or "", note, user_id=user_id, restored_from=version)
    raise NotFound(_("没有这个版本。"))


# --- challenge sentences per rule set -----------------------------------------------------------------------------

def challenge_sentences(rule_set: RuleSet) -> dict[str, str]:
    """The challenge sentences a rule set uses, by subject type (its own, else the defaults)."""
    stored = rules.policy(rule_set, "challenge")
    return {key: stored.get(key) or rules.DEFAULT_POLICY["challenge"][key] for key in CHALLENGE_LABELS}


def set_challenge_sentences(rule_set: RuleSet, sentences: dict[str, str], note: str) -> dict[str, str]:
    """Store a rule set's challenge sentences (audited with the note of who reviewed them); empty ones are refused."""
    fields = {}
    clean = {}
    for key in CHALLENGE_LABELS:
        text = re.sub(r"\s+", "", sentences.get(key) or "")
        if not text:
            fields[key] = _("请填写“%(who)s”的救济途径。", who=CHALLENGE_LABELS[key])
        elif len(text) > MAX_CHALLENGE:
            fields[key] = _("不能超过 %(n)s 个字。", n=MAX_CHALLENGE)
        clean[key] = text
    if not (note or "").strip():
        fields["note"] = _("请说明改了什么、由谁（法制审核人员）审核。")
    elif len(note) > MAX_NOTE:
        fields["note"] = _("说明不能超过 %(n)s 个字。", n=MAX_NOTE)
    if fields:
        raise Invalid(next(iter(fields.values())), fields=fields)
    before = challenge_sentences(rule_set)
    rule_set.policy = {**(rule_set.policy or {}), "challenge": clean}
    db.session.flush()
    audit.record("rule_set.challenge", object_type="rule_set", object_id=rule_set.id,
                 details={"code": rule_set.code, "note": note.strip(),
                          "changed": sorted(key for key in clean if clean[key] != before.get(key))})
    return clean


def overview_row(letter_type: str) -> TypeRow:
    _kind(letter_type)
    return next(row for row in overview() if row.key == letter_type)
