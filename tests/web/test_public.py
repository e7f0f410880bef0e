"""Public pages (no login), the provincial push, and the repair / rule-set / eligibility pages."""
from __future__ import annotations

import http.server
import io
import threading
from datetime import date, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import CreditRecord, OutboxMessage, RuleSet
from app.core import clock
from app.services import publication, rules
from app.services.worker import sweep
from tests.support import factories
from tests.support.constants import T0
from tests.support.files import PDF_BYTES
from tests.support.flows import do_task, file_objection, file_repair, repairable


def public_page(app, **params) -> str:
    from tests.support.clients import fresh_g

    fresh_g()
    return app.test_client().get("/public/records", query_string=params).get_data(as_text=True)


def test_public_records_hide_repaired_and_persons(api, seeded):
    record = repairable()
    doc_no = record.basis_doc_no
    assert doc_no in public_page(seeded)
    case = file_repair(api, record)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    do_task(api, "verifier1", case["id"], "verify_repair", {"verifier_opinion": "agree", "opinion": "同意"})
    do_task(api, "approver1", case["id"], "approve_repair", {"repair_decision": "approve", "reasons": "符合"})
    page = public_page(seeded)
    assert doc_no not in page  # repaired: gone from public pages
    people = db.session.scalars(select(CreditRecord).where(CreditRecord.subject_type == "person")).all()
    assert people
    for person in people:  # a civil servant is never identified: no name, masked name or post
        assert person.person_name not in page and person.person_name[0] + "**" not in page
        assert person.person_post not in page
        if publication.is_public(person):
            assert person.basis_doc_no in page and person.public_subject in page


def test_public_search_filters_and_dispute_flag(api, seeded):
    record = db.session.scalars(select(CreditRecord).where(CreditRecord.status == "published")).first()
    unit = record.subject_unit
    by_name = public_page(seeded, q=unit.name)
    assert record.basis_doc_no in by_name
    by_code = public_page(seeded, q=unit.uscc)
    assert record.basis_doc_no in by_code and unit.name in by_code
    other = "serious" if record.severity != "serious" else "minor"
    assert record.basis_doc_no not in public_page(seeded, q=unit.uscc, severity=other)
    case = file_objection(api)
    do_task(api, "intake1", case["id"], "intake_review", {"intake_choice": "accept"})
    disputed = db.session.get(CreditRecord, case["record_id"])
    assert "⚑ 异议中" in public_page(seeded, q=disputed.subject_unit.uscc)


def test_minor_records_under_order_36_are_not_public(seeded):
    rule_36 = db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36"))
    template = db.session.scalars(select(CreditRecord)).first()
    columns = {c.key: getattr(template, c.key) for c in CreditRecord.__table__.columns if c.key != "id"}
    minor = CreditRecord(**{**columns, "severity": "minor", "rule_set_id": rule_36.id, "basis_date": date(2026, 10, 1),
                            "basis_doc_no": "随财罚〔2026〕999号"})
    db.session.add(minor)
    db.session.commit()
    assert "随财罚〔2026〕999号" not in public_page(seeded)


def test_progress_lookup_and_rate_limit(api, recorded_staff, app):
    from tests.support.clients import fresh_g

    case = file_objection(api)
    client = app.test_client()
    fresh_g()
    token = client.get("/public/progress").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]

    def ask(number, code):
        fresh_g()
        return client.post("/public/progress", data={"csrf_token": token, "number": number, "code": code})

    found = ask(case["number"], case["query_code"]).get_data(as_text=True)
    assert "受理审查" in found and case["number"] in found
    wrong_code = ask(case["number"], "WRONG").get_data(as_text=True)
    unknown = ask("YY-2026-999999", "WRONG").get_data(as_text=True)
    assert "未找到该受理编号，或查询码不正确" in wrong_code and "未找到该受理编号，或查询码不正确" in unknown
    assert "受理审查" not in wrong_code
    for _ in range(7):
        ask("YY-2026-999999", "X")
    limited = ask(case["number"], case["query_code"])
    assert limited.status_code == 429 and "查询过于频繁" in limited.get_data(as_text=True)
    clock.set_frozen(T0 + timedelta(minutes=11))
    assert ask(case["number"], case["query_code"]).status_code == 200


def test_push_retries_until_the_platform_accepts(recorded_staff, app):
    received = []

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Idempotency-Key"], body))
            self.send_response(503 if len(received) <= 2 else 200)  # the first two attempts fail
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["PUSH_URL"] = f"http://127.0.0.1:{server.server_port}/credit/push"
    try:
        record = db.session.scalars(select(CreditRecord)).first()
        publication.push(record, "update")
        db.session.commit()
        assert sweep().retried == 1
        clock.set_frozen(T0 + timedelta(minutes=1, seconds=1))
        assert sweep().retried == 1
        clock.set_frozen(T0 + timedelta(minutes=4))
        assert sweep().delivered == 1
        clock.set_frozen(T0 + timedelta(hours=2))
        assert sweep().delivered == 0
    finally:
        app.config["PUSH_URL"] = ""
        server.shutdown()
        server.server_close()
    assert len(received) == 3 and len({key for key, _ in received}) == 1
    message = db.session.scalar(select(OutboxMessage))
    assert message.status == "delivered" and message.attempts == 3


def test_web_repair_form_shows_reason_and_date_when_not_eligible(web, recorded_staff):
    # A record still in its minimum period (to 2027-01-01), of another category than the repairable one (a later
    # record of the same category would bar that one as a repeat offence).
    factories.record(recorded_staff["applicant1"].unit, recorded_staff["verifier1"].unit,
                     category="breach", basis_date=date(2026, 10, 1))
    db.session.commit()
    applicant = web("applicant1")
    today = T0.date()
    young = db.session.scalars(select(CreditRecord).where(
        CreditRecord.subject_unit_id == repairable().subject_unit_id, CreditRecord.earliest_repair_date > today)).first()
    page = applicant.get(f"/portal/records/{young.id}").get_data(as_text=True)
    d = young.earliest_repair_date
    assert "最短公示期未满" in page and f"{d.year}年{d.month}月{d.day}日" in page and "提交信用修复申请" not in page


def test_web_repair_filing(web, recorded_staff):
    applicant = web("applicant1")
    record = repairable()
    response = applicant.post(f"/portal/records/{record.id}", {
        "action": "repair", "repair-statement": "已履行全部义务。",
        "repair-evidence": [(io.BytesIO(PDF_BYTES), "缴款凭证.pdf")],
        "repair-commitment": (io.BytesIO(PDF_BYTES), "信用承诺书.pdf"),
    }, content_type="multipart/form-data", follow_redirects=True)
    assert "信用修复申请已提交" in response.get_data(as_text=True)


def test_admin_adds_a_rule_set_version(web, deployed_staff):
    admin = web("admin1")
    page = admin.get("/admin/rule-sets").get_data(as_text=True)
    assert "国家发展改革委令第36号" in page and "原则上不公示" in page
    # Each time limit in words first, its key small beside it for the expert, in the table and on the form.
    assert set(rules.TIME_LIMIT_LABELS) == set(rules.DEFAULT_TIME_LIMITS)
    assert "<dt>异议受理审查<br><small><code>objection_intake</code></small></dt>" in page
    assert '<label for="limit_push">结果推送省平台 <small><code>push</code></small></label>' in page
    form = {"code": "LOCAL-2027", "name": "随州市政务失信信息公示期限规定（试行）", "legal_basis": "随信用办〔2026〕1号",
            "effective_from": "2027-01-01", "repeat_within_months": "12",
            **{f"{s}_{k}": v for s in ("minor", "general", "serious") for k, v in (("min", "0"), ("max", "12"))},
            **{f"limit_{k}": str(v) for k, v in rules.DEFAULT_TIME_LIMITS.items()}}
    bad = admin.post("/admin/rule-sets", {**form, "effective_from": "2026-01-01"}).get_data(as_text=True)
    assert "生效日期须晚于" in bad
    assert db.session.scalar(select(RuleSet).where(RuleSet.code == "LOCAL-2027")) is None
    # A repeat-offence bar without its cited legal basis is refused (令第36号第二条).
    unfounded = admin.post("/admin/rule-sets", form).get_data(as_text=True)
    assert "须注明法律、法规或党中央、国务院文件依据" in unfounded
    assert db.session.scalar(select(RuleSet).where(RuleSet.code == "LOCAL-2027")) is None
    admin.post("/admin/rule-sets", {**form, "repair_bar_basis": "某法规第十条"})
    db.session.expire_all()
    assert rules.rule_set_on(date(2027, 1, 1)).code == "LOCAL-2027"
    assert rules.rule_set_on(date(2027, 1, 1)).repair_bar == {"repeat_within_months": 12, "legal_basis": "某法规第十条"}
    assert db.session.scalar(select(RuleSet).where(RuleSet.code == "NDRC-36")).effective_to == date(2026, 12, 31)
    assert web("intake1").get("/admin/rule-sets").status_code == 404


def test_honour_eligibility_page(web, seeded):
    applicant = web("applicant1")
    page = applicant.get("/eligibility").get_data(as_text=True)
    assert "不具备荣誉评选资格" in page and "公示中的严重失信记录" in page
    other_unit = db.session.scalars(select(CreditRecord.subject_unit_id).where(
        CreditRecord.subject_unit_id != repairable().subject_unit_id)).first()
    assert applicant.get(f"/eligibility?unit_id={other_unit}").status_code == 404
    assert web("intake1").get(f"/eligibility?unit_id={other_unit}").status_code == 200
