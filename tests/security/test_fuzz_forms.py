"""Hypothesis fuzzing of every HTML form: never a 500, and a refused submission changes nothing.

Each test builds its world once (function-scoped fixtures) and then throws generated submissions at one form:
arbitrary unicode, template and markup payloads, huge values, empty, missing, duplicated and unknown fields,
and broken CSRF tokens. After each one the database fingerprint must be unchanged unless the page said the
submission succeeded.
"""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select, text

from app.extensions import db
from app.models import Case, CreditRecord, HumanTask, Letter, Sanction
from processes import SLICES
from tests.support.fuzz import WORLD as _WORLD
from tests.support.clients import fresh_g, WebClient
from tests.support.files import PDF_BYTES, PNG_BYTES
from tests.support.flows import file_objection, file_repair, open_order, repairable, run_timers_at, timer
from tests.support.snapshots import fingerprint

FORMS = {form.key: form for piece in SLICES for form in piece.forms}
FUZZ = settings(max_examples=30, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


PAYLOADS = ["", " ", "\x00", "\u202e", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}",
            "' OR 1=1 --", "%s%n", "../../etc/passwd", "null", "0", "-1", "1e309", "NaN", "９", "２０２６-１１-２７",
            "2026-02-30", "99999999999999999999", "\ud7ff", "😀" * 30, "\r\n", "true"]
junk = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(PAYLOADS),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["字", "a", "<"]), st.sampled_from([61, 201, 4001, 70_000])),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(min_size=1, max_size=8), st.text(max_size=8)),  # PostgreSQL refuses NUL
)


def value(*good: str):
    """A field value: one of the good ones, junk, or the field sent twice."""
    single = st.one_of(st.sampled_from(good), junk) if good else junk
    return st.one_of(single, single, st.lists(single, min_size=2, max_size=3))


def form(fields: dict, *, required: tuple[str, ...] = ()):
    """Generated form data: any subset of the fields (required ones mostly present) plus unknown extras."""
    optional = {k: v for k, v in fields.items() if k not in required}
    base = st.fixed_dictionaries({k: fields[k] for k in required}, optional=optional)
    extras = st.dictionaries(st.text(min_size=1, max_size=12), junk, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, base, extras)


csrf_mode = st.sampled_from(["good", "good", "good", "good", "missing", "garbage", "twice"])

class Fuzzer:
    """One signed-in (or anonymous) browser that submits a form and judges the outcome."""

    def __init__(self, app, username: str | None, form_page: str):
        self.app = app
        self.browser = WebClient(app, username)
        self.token = self.browser.csrf(form_page)
        self.addr = 0

    def submit(self, url: str, data: dict, mode: str, *, multipart: bool = False, fresh_ip: bool = False):
        data = dict(data)
        if mode == "good":
            data["csrf_token"] = self.token
        elif mode == "garbage":
            data["csrf_token"] = "IjAwMCI.ZZZ.bad"
        elif mode == "twice":
            data["csrf_token"] = [self.token, "other"]
        with self.browser.client.session_transaction() as session:
            session.pop("_flashes", None)  # only this submission's messages count
        before = fingerprint(self.app)
        fresh_g()
        kw = {"content_type": "multipart/form-data"} if multipart else {}
        if fresh_ip:  # the progress lookup is rate-limited per address
            self.addr += 1
            kw["environ_overrides"] = {"REMOTE_ADDR": f"10.9.{self.addr // 250}.{self.addr % 250 + 1}"}
        response = self.browser.client.post(url, data=data, **kw)
        body = response.get_data(as_text=True)
        assert response.status_code < 500, f"{url}: {response.status_code}\n{body[-2000:]}"
        with self.browser.client.session_transaction() as session:
            flashes = session.pop("_flashes", [])
        messages = [m for c, m in flashes] + re.findall(r'class="flash flash-(\w+)"', body)
        succeeded = any(c == "success" for c, _ in flashes) or 'class="flash flash-success"' in body
        if not succeeded:
            assert fingerprint(self.app) == before, f"refused {url} changed the database: {data!r:.300}"
        return response, succeeded, messages


def files(*good: bytes):
    """An upload: good content, disguised content, empty, or nothing."""
    content = st.one_of(st.sampled_from([*good, b"", b"<html><script>alert(1)</script>", b"MZ\x90\x00" * 10,
                                         b"PK\x03\x04junk"]), st.binary(max_size=200))
    name = st.one_of(st.sampled_from(["证据.pdf", "../../x.pdf", "a\x00b.pdf", "\u202efdp.exe", ""]), st.text(max_size=30))
    return st.builds(lambda c, n: (io.BytesIO(c), n), content, name)


# --- forms without a case -------------------------------------------------------------------------------------


@FUZZ
@given(data=form({"username": value("applicant1", "intake1", "nobody"), "password": value("Xinyong@2026", "x")}),
       mode=csrf_mode)
def test_login_form(seeded, data, mode):
    response, succeeded, _ = _submit(seeded, None, "/login", "/login", data, mode)
    # A generated submission may happen to be a correct login; anything else answers on the login page.
    assert succeeded or response.status_code in (200, 302, 400, 413)


def _fuzzer(app, username, page) -> Fuzzer:
    """One browser per test: Hypothesis runs every example against the world the fixtures built once."""
    key = ("fuzzer", username, page)
    if key not in _WORLD:
        _WORLD[key] = Fuzzer(app, username, page)
    return _WORLD[key]


def _submit(app, username, page, url, data, mode, **kw):
    """Submit data to url as username, from the form on page, through the one browser the test keeps for it."""
    return _fuzzer(app, username, page).submit(url, data, mode, **kw)


@FUZZ
@given(data=form({"number": value("YY-2026-000001"), "code": value("ABCDEF"), "uscc": value("11421300MB1234567X")}),
       mode=csrf_mode)
def test_public_progress_lookup(seeded, data, mode):
    response, _, _ = _submit(seeded, None, "/public/progress", "/public/progress", data, mode, fresh_ip=True)
    assert response.status_code in (200, 400, 413, 429)


@FUZZ
@given(upload=files(PDF_BYTES), extra=form({"x": value()}), mode=csrf_mode, code=st.sampled_from(["good", "bad"]))
def test_letter_verification_upload(seeded, api, upload, extra, mode, code):
    if "verify_code" not in _WORLD:
        file_objection(api, "applicant1")
        from tests.support.flows import do_task

        case_id = db.session.scalar(select(Case.id).order_by(Case.id.desc()))
        do_task(api, "intake1", case_id, "intake_review", {"intake_choice": "accept"})
        _WORLD["verify_code"] = db.session.scalar(select(Letter.verify_code))
    url = f"/v/{_WORLD['verify_code']}" if code == "good" else "/v/NOPE"
    response, _, _ = _submit(seeded, None, f"/v/{_WORLD['verify_code']}", url, {**extra, "file": upload}, mode,
                             multipart=True)
    assert response.status_code in (200, 400, 404, 413)


@settings(FUZZ, max_examples=40)
@given(code=st.one_of(st.sampled_from(["zh", "en", "fr", "", "..", "zh%00"]), st.text(max_size=20)),
       referrer=st.one_of(st.none(), st.sampled_from(["http://localhost/tasks/inbox?x=1", "http://evil.test/",
                                                      "//evil.test/", "javascript:alert(1)", "http://localhost//evil",
                                                      "http://localhost/lang/en"]), st.text(max_size=40)))
def test_language_switch(seeded, code, referrer):
    client = seeded.test_client()
    fresh_g()
    headers = {"Referer": referrer} if referrer else {}
    from urllib.parse import quote

    response = client.get(f"/lang/{quote(code, safe='')}", headers=headers)
    assert response.status_code in (302, 404, 308)
    if response.status_code == 302:
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//") or location.startswith("http://localhost/")


@FUZZ
@given(data=form({"name": value("我的筛选", "<b>x</b>"), "shared": value("1", "0"),
                  "process": value("objection", "repair"), "category": value(), "severity": value("serious"),
                  "due": value("overdue", "today"), "unit": value("1", "-1", "x"), "scope": value("mine")}),
       mode=csrf_mode)
def test_saved_filter_form(seeded, data, mode):
    response, _, _ = _submit(seeded, "intake1", "/tasks/inbox", "/tasks/filters", data, mode)
    assert response.status_code in (302, 400, 413)


@FUZZ
@given(data=form({"action": value("claim", "assign"), "task_ids": value("1", "nope"),
                  "assignee_id": value("1", "2", "-5"), "reason": value("工作调整")}), mode=csrf_mode,
       real=st.lists(st.integers(0, 5), max_size=3))
def test_bulk_form(seeded, api, data, mode, real):
    if "tasks" not in _WORLD:
        for username in ("applicant1", "applicant2"):
            file_objection(api, username)
        _WORLD["tasks"] = list(db.session.scalars(select(HumanTask.id).where(HumanTask.status == "open")))
    fuzzer = _fuzzer(seeded, "approver1", "/tasks/inbox")
    ids = [_WORLD["tasks"][i] for i in real if i < len(_WORLD["tasks"])]
    if ids:
        given_ids = data.get("task_ids")
        data = {**data, "task_ids": ids + (given_ids if isinstance(given_ids, list) else [given_ids] if given_ids else [])}
    before = fingerprint(seeded)
    response, succeeded, messages = fuzzer.submit("/tasks/bulk", data, mode)
    assert response.status_code in (302, 400, 413)
    done = [int(n) for m in messages for n in re.findall(r"已处理 (\d+) 项", m)]
    if not succeeded and not any(done):
        assert fingerprint(seeded) == before


@FUZZ
@given(data=form({"code": value("RS-FUZZ"), "name": value("规则"), "legal_basis": value("依据"),
                  "effective_from": value("2027-01-01", "2026-13-01", "2020-01-01"),
                  "repeat_within_months": value("12", "-1", "121", "x"),
                  **{f"{s}_{k}": value("0", "6", "12", "121", "-3") for s in ("minor", "general", "serious")
                     for k in ("min", "max")},
                  **{f"{s}_published": value("y", "") for s in ("minor", "general", "serious")}}), mode=csrf_mode,
       limits=st.booleans())
def test_rule_set_admin_form(seeded, data, mode, limits):
    from app.services.rules import DEFAULT_TIME_LIMITS

    if limits:
        data = {**{f"limit_{k}": str(v) for k, v in DEFAULT_TIME_LIMITS.items()}, **data}
    response, _, _ = _submit(seeded, "admin1", "/admin/rule-sets", "/admin/rule-sets", data, mode)
    assert response.status_code in (200, 302, 400, 413)


@FUZZ
@given(data=form({"x": value()}), mode=csrf_mode)
def test_notifications_form(seeded, data, mode):
    response, _, _ = _submit(seeded, "applicant1", "/notifications", "/notifications", data, mode)
    assert response.status_code in (302, 400, 413)


# --- filing and opening cases --------------------------------------------------------------------------------


@FUZZ
@given(data=form({"action": value("objection", "repair"), "objection-reason": value("wrong_content", "duplicate"),
                  "objection-statement": value("处罚决定已撤销。"), "repair-statement": value("已整改。")},
                 required=("action",)),
       evidence=st.lists(files(PDF_BYTES, PNG_BYTES), max_size=2), commitment=st.one_of(st.none(), files(PDF_BYTES)),
       mode=csrf_mode)
def test_objection_and_repair_filing_form(seeded, data, evidence, commitment, mode):
    from tests.support.flows import own_record

    if "record" not in _WORLD:
        _WORLD["record"] = own_record("applicant1").id
    page = f"/portal/records/{_WORLD['record']}"
    fuzzer = _fuzzer(seeded, "applicant1", page)
    data = {**data, "objection-evidence": evidence, "repair-evidence": evidence}
    if commitment is not None:
        data["objection-commitment"] = data["repair-commitment"] = commitment
    response, succeeded, _ = fuzzer.submit(page, data, mode, multipart=True)
    assert response.status_code in (200, 302, 400, 413)
    if succeeded:  # a whole application: a submitted case with its files, never a part of one
        case = db.session.scalar(select(Case).order_by(Case.id.desc()))
        assert case.status != "draft" and case.attachments


@FUZZ
@given(data=form({"deadline_days": value("10", "0", "121", "-1", "1.5"), "requirements": value("限期纠正。")}),
       mode=csrf_mode)
def test_rectification_order_form(seeded, data, mode):
    from tests.support.flows import unit_record

    if "record" not in _WORLD:
        _WORLD["record"] = unit_record().id
    page = f"/records/{_WORLD['record']}"
    response, _, _ = _submit(seeded, "intake1", page, page, data, mode)
    assert response.status_code in (200, 302, 400, 413)


@FUZZ
@given(kind=value("evidence", "commitment", "supplement", "other", "../x"), upload=files(PDF_BYTES, PNG_BYTES),
       mode=csrf_mode)
def test_case_upload_form(seeded, api, kind, upload, mode):
    if "draft" not in _WORLD:
        from tests.support.flows import own_record

        response = api("applicant1").post("/api/v1/cases", json={"type": "objection", "record_id": own_record(
            "applicant1").id, "reason": "duplicate", "statement": "重复公示。"})
        _WORLD["draft"] = response.get_json()["id"]
    page = f"/cases/{_WORLD['draft']}"
    response, _, _ = _submit(seeded, "applicant1", page, f"{page}/attachments", {"kind": kind, "file": upload}, mode,
                             multipart=True)
    assert response.status_code in (302, 400, 413)


@FUZZ
@given(data=form({"x": value()}), mode=csrf_mode, which=st.sampled_from(["real", "other", "missing"]))
def test_restoration_application_form(seeded, api, data, mode, which):
    if "sanction" not in _WORLD:
        _WORLD["sanction"] = _disqualification(api)
    target = {"real": _WORLD["sanction"], "other": _WORLD["sanction"] + 1000, "missing": 0}[which]
    response, _, _ = _submit(seeded, "applicant1", "/sanctions", f"/portal/sanctions/{target}/restoration", data, mode)
    assert response.status_code in (302, 400, 404, 413)


def _disqualification(api) -> int:
    """An overdue rectification order decided 从轻: the unit loses honour-evaluation eligibility (a sanction to restore)."""
    from tests.support.flows import decide_measures

    case = open_order(api, days=3)
    run_timers_at(timer(case["id"], "rectification_deadline").fire_at + timedelta(seconds=1))
    decide_measures(api, case["id"], outcome="lighten")
    return db.session.scalar(select(Sanction.id).where(Sanction.created_by_case_id == case["id"],
                                                       Sanction.kind == "honor_disqualification"))


# --- every task form of every BPMN step -----------------------------------------------------------------------


def _finish(api, username: str, case_id: int, values: dict) -> None:
    """Complete the one open task of a case that this user works, through the API."""
    client = api(username)
    db.session.expire_all()
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.status == "open",
                                                           HumanTask.lane == _lane(username)))
    assert task_id, (username, case_id)
    assert client.post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
    response = client.post(f"/api/v1/tasks/{task_id}/complete", json=values)
    assert response.status_code == 200, response.get_json()


def _lane(username: str) -> str:
    return re.sub(r"\d+$", "", username)


ACCEPT = ("intake1", {"intake_choice": "accept"})
VERIFIED = ("verifier1", {"verify_choice": "no_error", "opinion": "核实无误。"})
DRAFTED = ("intake1", {"decision": "maintain", "reasons": "记录无误。"})


def _objection(api, steps) -> int:
    case_id = file_objection(api, "applicant1")["id"]
    for username, values in steps:
        _finish(api, username, case_id, values)
    return case_id


def _rectification(api, steps) -> int:
    case_id = open_order(api, days=10)["id"]
    for username, values in steps:
        _finish(api, username, case_id, values)
    return case_id


def _repair(api, steps) -> int:
    case_id = file_repair(api, repairable())["id"]
    for username, values in steps:
        _finish(api, username, case_id, values)
    return case_id


def _criticism(api) -> int:
    """The old rectification diagram's 审批通报批评 (cases still running on version 1): deploy it as the latest."""
    import shutil
    import tempfile
    from pathlib import Path

    from app.engine.definitions import deploy_directory

    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(Path(__file__).parents[1] / "processes" / "rectification" / "fixtures" / "rectification_v1.bpmn",
                    Path(folder) / "rectification.bpmn")
        deploy_directory(Path(folder))
    db.session.commit()
    case = open_order(api, days=3)
    run_timers_at(timer(case["id"], "rectification_deadline").fire_at + timedelta(seconds=1))
    return case["id"]


def _overdue(api, steps) -> int:
    """An overdue rectification on the current diagram, taken through steps after the 拟惩戒告知书."""
    case = open_order(api, days=3)
    run_timers_at(timer(case["id"], "rectification_deadline").fire_at + timedelta(seconds=1))
    from tests.support.flows import do_task

    for username, step, values in steps:
        do_task(api, username, case["id"], step, values)
    return case["id"]


def _restoration(api, steps) -> int:
    """A restoration application, set up as tests/processes/honor_restoration/test_restoration.py does: the record behind the sanction is cleared."""
    from tests.support.flows import clear_other_serious, disqualify

    record = repairable()
    clear_other_serious(record)
    sanction_id = disqualify(api, record)
    db.session.expire_all()
    db.session.get(CreditRecord, record.id).status = "repaired"
    db.session.commit()
    response = api("applicant1").post("/api/v1/cases", json={"type": "restoration", "sanction_id": sanction_id})
    assert response.status_code == 201, response.get_json()
    case_id = response.get_json()["id"]
    for username, values in steps:
        _finish(api, username, case_id, values)
    return case_id


def _registration(api, steps) -> int:
    """A record entered and reported by verifier1's unit (the office reviews it), then the given steps."""
    from app.models import User
    from processes.record_registration import service as registration
    from tests.support.files import PDF_BYTES

    officer = db.session.scalar(select(User).where(User.username == "verifier1"))
    subject = db.session.scalar(select(User).where(User.username == "applicant1")).unit_id
    entry = registration.prepare({"subject_type": "unit", "subject_unit_id": subject, "category": "breach",
                                  "severity": "general", "basis_doc_no": "随财函〔2026〕701号", "basis_date": "2026-10-15",
                                  "facts": "拖欠工程款。", "legal_basis": "《保障中小企业款项支付条例》第十五条"}, officer.unit)
    record = registration.create_draft(officer, entry)
    registration.attach_document(officer, record.id, "认定文书.pdf", PDF_BYTES)
    case_id = registration.submit(officer, record.id).id
    db.session.commit()
    for username, values in steps:
        _finish(api, username, case_id, values)
    return case_id


RETURNED = ("intake1", {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass",
                        "check_legal_basis": "fail", "check_severity": "pass", "review": "return",
                        "return_reasons": "请写明条款项。"})

def _source_change(api, steps) -> int:
    """The recording unit (verifier1's) reports that it revoked the 认定文书 of one of its records."""
    from app.models import User
    from processes.source_change import service as source_change

    verifier = db.session.scalar(select(User).where(User.username == "verifier1"))
    record = next(r for r in db.session.scalars(select(CreditRecord).where(
        CreditRecord.recording_unit_id == verifier.unit_id).order_by(CreditRecord.id))
        if source_change.change_block(r) is None)
    case = source_change.file_change(verifier, record.id, {
        "kind": "revoke", "change_doc_no": "随财复决〔2026〕1号", "change_doc_date": record.basis_date.isoformat(),
        "reason": "原决定经复议撤销"}, "复议决定书.pdf", io.BytesIO(PDF_BYTES))
    db.session.commit()
    for username, values in steps:
        _finish(api, username, case.id, values)
    return case.id


# form key -> (who works it, how to bring a case to it)
STEPS = {
    "office_review": ("intake1", lambda api: _registration(api, [])),
    "correct_record": ("verifier1", lambda api: _registration(api, [RETURNED])),
    "objection_intake_review": ("intake1", lambda api: _objection(api, [])),
    "supplement_materials": ("applicant1", lambda api: _objection(api, [
        ("intake1", {"intake_choice": "request_supplement", "supplement_items": "承诺书", "reason": "缺少承诺书"})])),
    "verify_record": ("verifier1", lambda api: _objection(api, [ACCEPT])),
    "draft_decision": ("intake1", lambda api: _objection(api, [ACCEPT, VERIFIED])),
    "approve_decision": ("approver1", lambda api: _objection(api, [ACCEPT, VERIFIED, DRAFTED])),
    "submit_rectification": ("applicant1", lambda api: _rectification(api, [])),
    "review_rectification": ("intake1", lambda api: _rectification(api, [
        ("applicant1", {"explanation": "原因", "report": "已整改"})])),
    "approve_public_criticism": ("approver1", _criticism),
    "state_case": ("applicant1", lambda api: _overdue(api, [])),
    "review_statement": ("intake1", lambda api: _overdue(api, [("applicant1", "state_case", {"statement": "陈述申辩。"})])),
    "approve_measures": ("approver1", lambda api: _overdue(api, [
        ("applicant1", "state_case", {"statement": "陈述申辩。"}),
        ("intake1", "review_statement", {"outcome": "confirm", "reasons": "未按期整改。"})])),
    "repair_intake_review": ("intake1", lambda api: _repair(api, [])),
    "verify_repair": ("verifier1", lambda api: _repair(api, [ACCEPT])),
    "approve_repair": ("approver1", lambda api: _repair(api, [ACCEPT, ("verifier1", {
        "verifier_opinion": "agree", "opinion": "同意修复。"})])),
    "review_restoration": ("intake1", lambda api: _restoration(api, [])),
    "approve_restoration": ("approver1", lambda api: _restoration(api, [
        ("intake1", {"restoration_review": "agree", "opinion": "同意恢复。"})])),
    "apply_source_change": ("intake1", lambda api: _source_change(api, [])),
    "correct_source_change": ("verifier1", lambda api: _source_change(api, [
        ("intake1", {"check_document": "fail", "conclusion": "return", "return_reasons": "文书未盖章"})])),
}


def test_every_task_form_is_fuzzed():
    assert set(STEPS) == set(FORMS)


def _task_strategy(form_key: str):
    fields = {}
    for f in FORMS[form_key].fields:
        good = [c for c, _ in f.choices] or ["意见。", "10"]
        fields[f.name] = value(*good)
    return form(fields)


@pytest.mark.parametrize("form_key", sorted(STEPS))
def test_task_forms(seeded, api, form_key):
    username, bring = STEPS[form_key]
    case_id = bring(api)
    db.session.expire_all()
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open",
                                                     HumanTask.form_key == form_key))
    assert task is not None, f"no open {form_key} task"
    fuzzer = Fuzzer(seeded, username, f"/tasks/{task.id}")
    fresh_g()
    claimed = fuzzer.browser.client.post(f"/tasks/{task.id}/claim", data={"csrf_token": fuzzer.token})
    assert claimed.status_code == 302
    outcomes = {"done": 0, "refused": 0}

    @FUZZ
    @given(data=_task_strategy(form_key), mode=csrf_mode)
    def fuzz(data, mode):
        response, succeeded, _ = fuzzer.submit(f"/tasks/{task.id}", data, mode)
        assert response.status_code in (200, 302, 400, 404, 409, 413)
        outcomes["done" if succeeded else "refused"] += 1
        if succeeded:  # the step completed whole: the task is closed and the instance moved on together
            db.session.expire_all()
            row = db.session.get(HumanTask, task.id)
            assert row.status != "open"

    fuzz()
    assert outcomes["refused"] > 0


@settings(FUZZ, max_examples=50)
@given(url=st.sampled_from(["/tasks/inbox", "/public/records", "/records/", "/eligibility", "/sanctions",
                            "/dashboard/cases.csv", "/dashboard/", "/notifications", "/portal/cases"]),
       args=st.dictionaries(st.sampled_from(["scope", "after", "process", "category", "severity", "due", "unit",
                                             "unit_id", "date", "q", "page", "type", "status", "submitted_from",
                                             "submitted_to", "saved"]), junk, max_size=5))
def test_query_string_forms(seeded, url, args):
    """GET forms (filters, searches, pagination, date pickers) take any query string without a 500."""
    if "browsers" not in _WORLD:
        _WORLD["browsers"] = {u: WebClient(seeded, u) for u in ("intake1", "applicant1")}
    user = "applicant1" if url in ("/portal/cases", "/eligibility") and args.get("unit_id") is None else "intake1"
    before = fingerprint(seeded)
    fresh_g()
    response = _WORLD["browsers"][user].client.get(url, query_string=args)
    response.get_data()
    response.close()
    assert response.status_code < 500, (url, args, response.status_code)
    assert response.status_code in (200, 302, 404, 400, 413)
    assert fingerprint(seeded) == before


UNSTORABLE = ["a\x00b", "\x00"]


@pytest.mark.parametrize("text", UNSTORABLE)
def test_text_no_database_can_store_is_refused_everywhere(seeded, api, text):
    """NUL (PostgreSQL text refuses it) in a form, a query, a path or JSON: 400, nothing stored, never a 500."""
    from tests.support.flows import own_record

    before = fingerprint(seeded)
    intake = WebClient(seeded, "intake1")
    response = intake.post("/tasks/filters", form_page="/tasks/inbox", data={"name": text, "process": "objection"})
    assert response.status_code == 400
    applicant = WebClient(seeded, "applicant1")
    record = own_record("applicant1")
    response = applicant.post(f"/portal/records/{record.id}", data={
        "action": "objection", "objection-reason": "duplicate", "objection-statement": text,
        "objection-evidence": (io.BytesIO(PDF_BYTES), "a.pdf"), "objection-commitment": (io.BytesIO(PDF_BYTES), "b.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 400
    for url in ("/public/records?q=" + text.replace("\x00", "%00"), "/v/a%00b", "/tasks/a%00b", "/records/?q=%00"):
        fresh_g()
        assert intake.client.get(url).status_code == 400, url
    fresh_g()
    anonymous = seeded.test_client()
    assert anonymous.post("/public/progress", data={"number": text, "code": text}).status_code == 400
    client = api("applicant1")
    for body in ({"type": "objection", "record_id": record.id, "reason": "duplicate", "statement": text},
                 {"type": "objection", "record_id": record.id, "reason": "duplicate", "statement": "\ud800"}):
        response = client.post("/api/v1/cases", json=body)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "400"
    raw = b'{"type": "objection", "record_id": %d, "reason": "duplicate", "statement": "\\udc00x"}' % record.id
    response = client.post("/api/v1/cases", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert fingerprint(seeded) == before


BIG, OVER_INT4 = "99999999999999999999", "3000000000"  # beyond SQLite's int64 / PostgreSQL's INTEGER


@pytest.mark.parametrize("who, url, expected", [
    ("intake1", f"/cases/{BIG}", 404),
    ("intake1", f"/cases/{OVER_INT4}", 404),
    ("intake1", f"/records/{OVER_INT4}", 404),
    ("intake1", f"/cases/letters/{OVER_INT4}.pdf", 404),
    ("intake1", f"/sanctions?unit_id={OVER_INT4}", 200),
    ("intake1", f"/eligibility?unit_id={OVER_INT4}", 200),
    ("intake1", f"/tasks/inbox?unit={OVER_INT4}", 200),
    ("intake1", "/tasks/inbox?unit=%C2%B2", 200),  # "²" is a digit to str.isdigit, not to int()
    ("intake1", "/tasks/inbox?after=2026-01-01T00:00:00|x", 200),  # a naive cursor
    ("intake1", "/dashboard/cases.csv?submitted_from=0001-01-01&submitted_to=9999-12-31", 200),
    ("applicant1", f"/portal/records/{OVER_INT4}", 404),
    ("applicant1", "/eligibility?date=0001-01-01", 200),
    ("api:intake1", f"/api/v1/records/{OVER_INT4}", 404),
    ("api:intake1", f"/api/v1/sanctions?unit_id={OVER_INT4}", 200),
    ("api:intake1", f"/api/v1/units/{OVER_INT4}/honor-eligibility", 404),
    ("api:intake1", "/api/v1/calendar/deadline?start=9999-12-31&working_days=366", 422),
    ("api:intake1", "/api/v1/tasks?after=2026-01-01T00:00:00|x", 200),
    ("api:intake1", "/api/v1/units/1/honor-eligibility?date=9999-12-31", 200),
])
def test_values_beyond_what_the_database_holds_are_refused_not_crashed(seeded, api, who, url, expected):
    """Ids past the INTEGER range, dates near year 1 or 9999 and forged cursors: a 4xx or an ignored filter."""
    if who.startswith("api:"):
        response = api(who[4:]).get(url)
    else:
        browser = WebClient(seeded, who)
        fresh_g()
        response = browser.client.get(url)
    assert response.status_code == expected, response.get_data(as_text=True)[-500:]
