"""The records API for other systems (issue 12 §3): a recording unit enters a record as a draft, attaches its 认定文书,
submits it to the credit office's review and corrects it when returned; Idempotency-Key retries; who may; what is
refused, field by field, with nothing written."""
from __future__ import annotations

import hashlib
import io

import pytest
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Case, CreditRecord, HumanTask, IdempotencyKey, Person, RecordHistory
from app.services import idempotency, persons
from processes.record_registration import service as registration
from tests.support import factories
from tests.support.files import PDF_BYTES
from tests.support.flows import do_task
from tests.support.snapshots import fingerprint

RECORDS = "/api/v1/records"
ID_NUMBER = "42130219800101002X"  # a valid GB 11643 number (check character X)
REVIEW_PASS = {"check_complete": "pass", "check_subject": "pass", "check_duplicate": "pass",
               "check_legal_basis": "pass", "check_severity": "pass"}


def _body(staff, **changes) -> dict:
    """A complete, valid record of applicant1's unit as verifier1's unit would send it."""
    data = {"subject_type": "unit", "subject_unit_id": staff["applicant1"].unit_id, "category": "admin_penalty",
            "severity": "general", "basis_doc_no": "随测罚〔2026〕101号", "basis_date": "2026-10-10",
            "facts": "逾期未履行行政处罚决定书确定的义务。", "legal_basis": "《中华人民共和国行政处罚法》第七十二条"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not _DROP}


_DROP = object()


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _create(api, staff, username="verifier1", **changes) -> dict:
    response = api(username).post(RECORDS, json=_body(staff, **changes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _document(api, record_id, username="verifier1", content=PDF_BYTES, name="认定文书.pdf"):
    return api(username).post(f"{RECORDS}/{record_id}/documents", data={"file": (io.BytesIO(content), name)},
                              content_type="multipart/form-data")


def _submitted(api, staff, **changes) -> dict:
    record = _create(api, staff, **changes)
    assert _document(api, record["id"]).status_code == 201
    response = api("verifier1").post(f"{RECORDS}/{record['id']}/submit")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- the way through: create → document → submit → the office's review ------------------------------------------


def test_a_record_is_created_documented_and_submitted_to_the_office_review(deployed_staff, api):
    staff = deployed_staff
    created = _create(api, staff)
    assert created["status"] == "draft" and created["source"] == "api" and created["subject_type"] == "unit"
    for name, value in _body(staff).items():
        assert created[name] == value, name
    assert created["recording_unit_id"] == staff["verifier1"].unit_id and created["person"] is None
    assert created["registration"]["status"] == "draft" and created["registration"]["number"] is None
    assert created["publication_start"] and created["earliest_repair_date"] and created["auto_end_date"]
    assert created["published_at"] is None and created["judicial"] is False
    assert api("verifier1").get(f"{RECORDS}/{created['id']}").get_json() == created

    attached = _document(api, created["id"])
    assert attached.status_code == 201, attached.get_json()
    assert attached.get_json()["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    assert attached.get_json()["size"] == len(PDF_BYTES) and attached.get_json()["name"] == "认定文书.pdf"

    submitted = api("verifier1").post(f"{RECORDS}/{created['id']}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    answer = submitted.get_json()
    assert answer["status"] == "reviewing" and answer["id"] == created["id"]
    case = answer["registration"]
    assert case["status"] == "in_progress" and case["number"] and case["current_step"] == "信用办审核登记"
    tasks = api("intake1").get("/api/v1/tasks?scope=all").get_json()["items"]
    assert [t["bpmn_id"] for t in tasks if t["case_id"] == case["case_id"]] == ["office_review"]
    assert _count(AuditEvent, AuditEvent.action == "record.enter", AuditEvent.object_id == str(created["id"])) == 1


def test_submitting_without_the_document_is_refused_and_changes_nothing(deployed_staff, api):
    created = _create(api, deployed_staff)
    before = fingerprint(current_app)
    response = api("verifier1").post(f"{RECORDS}/{created['id']}/submit")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "missing_document"
    assert fingerprint(current_app) == before


def test_a_returned_record_is_corrected_with_patch_and_resubmitted(deployed_staff, api):
    staff = deployed_staff
    submitted = _submitted(api, staff)
    record_id, case_id = submitted["id"], submitted["registration"]["case_id"]
    do_task(api, "intake1", case_id, "office_review",
            {**REVIEW_PASS, "check_legal_basis": "fail", "review": "return", "return_reasons": "法律依据应写明条款项。"})
    assert api("verifier1").get(f"{RECORDS}/{record_id}").get_json()["status"] == "returned"

    patched = api("verifier1").patch(f"{RECORDS}/{record_id}",
                                     json={"legal_basis": "《中华人民共和国行政处罚法》第七十二条第一款第（一）项"})
    assert patched.status_code == 200, patched.get_json()
    answer = patched.get_json()
    assert answer["legal_basis"].endswith("第（一）项") and answer["status"] == "returned"
    assert {k: answer[k] for k in ("facts", "basis_doc_no", "basis_date", "category", "severity")} == \
        {k: submitted[k] for k in ("facts", "basis_doc_no", "basis_date", "category", "severity")}
    amended = db.session.scalars(select(RecordHistory).where(RecordHistory.record_id == record_id,
                                                             RecordHistory.action == "amended")).all()
    assert [sorted(h.changes) for h in amended] == [["legal_basis"]]

    resubmitted = api("verifier1").post(f"{RECORDS}/{record_id}/submit")
    assert resubmitted.status_code == 200, resubmitted.get_json()
    assert resubmitted.get_json()["status"] == "reviewing"
    open_tasks = db.session.scalars(select(HumanTask.bpmn_id).where(HumanTask.case_id == case_id,
                                                                    HumanTask.status == "open")).all()
    assert open_tasks == ["office_review"]


def test_a_record_under_review_cannot_be_patched_documented_or_submitted_again(deployed_staff, api):
    submitted = _submitted(api, deployed_staff)
    before = fingerprint(current_app)
    client = api("verifier1")
    for response, code in ((client.patch(f"{RECORDS}/{submitted['id']}", json={"facts": "改过的事实"}), "not_editable"),
                           (_document(api, submitted["id"]), "not_editable"),
                           (client.post(f"{RECORDS}/{submitted['id']}/submit"), "not_submittable")):
        assert response.status_code == 409 and response.get_json()["error"]["code"] == code, response.get_json()
    assert fingerprint(current_app) == before


def test_patch_changes_only_the_fields_given_and_an_empty_patch_nothing(deployed_staff, api):
    created = _create(api, deployed_staff)
    client = api("verifier1")
    same = client.patch(f"{RECORDS}/{created['id']}", json={})
    assert same.status_code == 200 and same.get_json() == created
    changed = client.patch(f"{RECORDS}/{created['id']}", json={"severity": "serious", "basis_date": "2026-09-01"})
    assert changed.status_code == 200
    answer = changed.get_json()
    assert (answer["severity"], answer["basis_date"]) == ("serious", "2026-09-01")
    assert answer["auto_end_date"] != created["auto_end_date"]  # the periods follow the severity and the date
    assert {k: v for k, v in answer.items() if k not in ("severity", "basis_date", "auto_end_date",
                                                           "earliest_repair_date")} == \
        {k: v for k, v in created.items() if k not in ("severity", "basis_date", "auto_end_date",
                                                        "earliest_repair_date")}


def test_patch_to_another_record_s_identity_is_a_duplicate(deployed_staff, api):
    first = _create(api, deployed_staff)
    second = _create(api, deployed_staff, basis_doc_no="随测罚〔2026〕102号")
    response = api("verifier1").patch(f"{RECORDS}/{second['id']}", json={"basis_doc_no": first["basis_doc_no"]})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "duplicate_record"


# --- persons as subjects ---------------------------------------------------------------------------------------


def test_a_person_subject_is_entered_and_shown_masked_never_in_clear(deployed_staff, api):
    staff = deployed_staff
    person = {"name": "黄某某", "id_number": ID_NUMBER, "post": "副局长", "unit_id": staff["applicant1"].unit_id}
    response = api("verifier1").post(RECORDS, json=_body(staff, subject_type="person", subject_unit_id=_DROP,
                                                         person=person, category="discipline"))
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["person"] == {"person_id": answer["person"]["person_id"], "name": "黄某某", "post": "副局长",
                                "unit_id": staff["applicant1"].unit_id, "id_masked": persons.mask(ID_NUMBER)}
    assert answer["subject_unit_id"] == staff["applicant1"].unit_id
    listing = api("verifier1").get(RECORDS).get_data(as_text=True)
    for text in (response.get_data(as_text=True), listing,
                 api("verifier1").get(f"{RECORDS}/{answer['id']}").get_data(as_text=True)):
        assert ID_NUMBER not in text and ID_NUMBER[6:14] not in text
    # The same person again, by the id the first answer gave.
    again = api("verifier1").post(RECORDS, json=_body(staff, subject_type="person", subject_unit_id=_DROP,
                                                      person={"person_id": answer["person"]["person_id"]},
                                                      basis_doc_no="随测处〔2026〕7号", category="discipline"))
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["person"]["person_id"] == answer["person"]["person_id"]
    assert _count(Person) == 1


def test_the_list_and_detail_keep_the_old_keys_and_show_records_without_a_registration_case(deployed_staff, api):
    staff = deployed_staff
    old = factories.record(staff["applicant1"].unit, staff["verifier1"].unit)  # entered before the process existed
    db.session.commit()
    created = _create(api, staff)
    items = {r["id"]: r for r in api("verifier1").get(RECORDS).get_json()["items"]}
    assert set(items) == {old.id, created["id"]}
    assert items[created["id"]] == created
    assert items[old.id]["registration"] is None and items[old.id]["status"] == "published"
    keys = {"id", "status", "status_label", "category", "severity", "subject", "subject_unit_id", "recording_unit",
            "basis_doc_no", "basis_date", "facts", "legal_basis", "annotation", "earliest_repair_date",
            "auto_end_date", "rule_set", "subject_type", "person", "recording_unit_id", "publication_start",
            "published_at", "source", "judicial", "created_at", "registration"}
    assert set(items[old.id]) == keys
    # The subject unit does not see a record before the office registered it.
    assert created["id"] not in {r["id"] for r in api("applicant1").get(RECORDS).get_json()["items"]}


# --- Idempotency-Key -------------------------------------------------------------------------------------------


def _post(api, staff, username, key, **changes):
    headers = {} if key is None else {"Idempotency-Key": key}
    return api(username).post(RECORDS, json=_body(staff, **changes), headers=headers)


@pytest.mark.parametrize("first,second,status,code,records", [
    # (username, key, changes) of two requests → the second's status and error code, records made in all
    (("verifier1", "k-1", {}), ("verifier1", "k-1", {}), 201, None, 1),                       # a retry: the same
    (("verifier1", "k-1", {}), ("verifier1", "k-1", {"facts": "另一事实"}), 422, "idempotency_key_reused", 1),
    (("verifier1", "k-1", {}), ("verifier1", "k-2", {"basis_doc_no": "随测罚〔2026〕102号"}), 201, None, 2),
    (("verifier1", "k-1", {}), ("verifier2", "k-1", {}), 201, None, 2),                       # keys are per user
    (("verifier1", None, {}), ("verifier1", None, {}), 409, "duplicate_record", 1),           # no key: duplicate
    (("verifier1", "k-1", {}), ("verifier1", None, {}), 409, "duplicate_record", 1),
    (("verifier1", None, {}), ("verifier1", "k-1", {}), 409, "duplicate_record", 1),          # a key is no licence
])
def test_idempotency_keys(deployed_staff, api, first, second, status, code, records):
    staff = deployed_staff
    one = _post(api, staff, first[0], first[1], **first[2])
    assert one.status_code == 201, one.get_json()
    two = _post(api, staff, second[0], second[1], **second[2])
    assert two.status_code == status, two.get_json()
    if code:
        assert two.get_json()["error"]["code"] == code
    if code == "duplicate_record":
        assert two.get_json()["error"]["record_id"] == one.get_json()["id"]
    if status == 201 and second[:2] == first[:2]:
        assert two.get_json() == one.get_json()
    elif status == 201:
        assert two.get_json()["id"] != one.get_json()["id"]
    assert _count(CreditRecord) == records
    assert _count(Case, Case.type == "registration") == records


def test_a_replay_answers_what_the_first_request_made_even_after_the_record_changed(deployed_staff, api):
    staff = deployed_staff
    first = _post(api, staff, "verifier1", "retry-7", ).get_json()
    api("verifier1").patch(f"{RECORDS}/{first['id']}", json={"facts": "后来改过的事实"})
    again = _post(api, staff, "verifier1", "retry-7")
    assert again.status_code == 201 and again.get_json() == first
    assert _count(IdempotencyKey) == 1


def test_a_refused_request_keeps_no_key_so_the_corrected_retry_may_use_it(deployed_staff, api):
    staff = deployed_staff
    refused = _post(api, staff, "verifier1", "k-9", severity="huge")
    assert refused.status_code == 422 and _count(IdempotencyKey) == 0
    assert _post(api, staff, "verifier1", "k-9").status_code == 201
    assert _count(IdempotencyKey) == 1


@pytest.mark.parametrize("key,ok", [
    ("a", True), ("x" * 100, True), ("0b8e6f0c-57a1-4f7e-9a52-5d1f3c1e2b7a", True), ("!~#$%&'*+-.^_`|", True),
    ("x" * 101, False), ("", False), ("a b", False), (" a", False), ("a\t", False), ("键", False), ("é", False),
])
def test_idempotency_key_shape(deployed_staff, api, key, ok):
    before = fingerprint(current_app)
    response = api("verifier1").post(RECORDS, json=_body(deployed_staff),
                                     headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    if ok:
        assert response.status_code == 201, response.get_json()
        assert db.session.scalar(select(IdempotencyKey.key)) == key
    else:
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["code"] == "bad_idempotency_key"
        assert fingerprint(current_app) == before


def test_a_concurrent_retry_meets_the_unique_key_and_answers_the_first_request_s_record(deployed_staff, api,
                                                                                         monkeypatch):
    """Two retries racing: the second's look-up found no key (the first had not committed); its insert then meets
    the unique constraint in a savepoint, and it answers with what the first made."""
    staff = deployed_staff
    first = _post(api, staff, "verifier1", "race").get_json()
    real = idempotency._find
    calls = []

    def missed_once(user_id, key):
        calls.append(key)
        return None if len(calls) == 1 else real(user_id, key)

    monkeypatch.setattr(idempotency, "_find", missed_once)
    again = _post(api, staff, "verifier1", "race")
    assert again.status_code == 201 and again.get_json() == first and len(calls) == 2
    assert _count(CreditRecord) == 1 and _count(IdempotencyKey) == 1


def test_a_concurrent_duplicate_without_a_key_meets_the_unique_identity_and_answers_409(deployed_staff, api,
                                                                                        monkeypatch):
    staff = deployed_staff
    first = _post(api, staff, "verifier1", None).get_json()
    before = fingerprint(current_app)
    real = registration.find_same
    calls = []

    def missed_once(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(registration, "find_same", missed_once)  # both the view's check and create_draft's
    again = _post(api, staff, "verifier1", None)
    assert len(calls) >= 2
    assert again.status_code == 409, again.get_json()
    # create_draft's own check (the second call) found it, or the unique constraint did and the answer names it
    assert again.get_json()["error"]["code"] == "duplicate_record"
    assert fingerprint(current_app) == before and first["id"]


def test_a_duplicate_caught_only_by_the_unique_constraint_names_the_record(deployed_staff, api, monkeypatch):
    """The other request had not committed when both checks looked: the database's identity constraint refuses."""
    staff = deployed_staff
    first = _post(api, staff, "verifier1", None).get_json()
    before = fingerprint(current_app)
    real = registration.find_same
    misses = iter([None, None])  # the view's check and create_draft's
    monkeypatch.setattr(registration, "find_same", lambda *args: next(misses, None) or real(*args))
    again = _post(api, staff, "verifier1", None)
    assert again.status_code == 409, again.get_json()
    assert again.get_json()["error"]["code"] == "duplicate_record"
    assert again.get_json()["error"]["record_id"] == first["id"]
    assert fingerprint(current_app) == before


# --- who may ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["applicant1", "intake1", "approver1", "admin1", "auditor1"])
def test_only_the_recording_unit_may_post_a_record(deployed_staff, api, username):
    """Outside the policy row the API answers 404 like every route (QUALITY.md §3, tests/access/test_policy.py)."""
    before = fingerprint(current_app)
    response = api(username).post(RECORDS, json=_body(deployed_staff), headers={"Idempotency-Key": "k"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert fingerprint(current_app) == before
    assert _count(AuditEvent, AuditEvent.action == "access.denied") == 1


@pytest.mark.parametrize("username", ["applicant1", "intake1", "approver1", "admin1", "verifier2"])
@pytest.mark.parametrize("action", ["patch", "document", "submit"])
def test_no_one_but_the_recording_unit_reaches_its_record(deployed_staff, api, username, action):
    created = _create(api, deployed_staff)
    before = fingerprint(current_app)
    client = api(username)
    path = f"{RECORDS}/{created['id']}"
    if action == "patch":
        response = client.patch(path, json={"facts": "越权修改"})
    elif action == "document":
        response = _document(api, created["id"], username)
    else:
        response = client.post(f"{path}/submit")
    assert response.status_code == 404, response.get_json()
    assert fingerprint(current_app) == before
    assert client.get(path).status_code == 404 or username in ("intake1", "approver1")  # the office sees it


def test_unknown_records_answer_404(deployed_staff, api):
    client = api("verifier1")
    for response in (client.patch(f"{RECORDS}/999999", json={}), client.post(f"{RECORDS}/999999/submit"),
                     _document(api, 999999)):
        assert response.status_code == 404
    # Beyond any id the route does not match (app._IdConverter): Werkzeug answers the PATCH 405, never a query.
    assert client.post(f"{RECORDS}/3000000000/submit").status_code == 404
    assert client.patch(f"{RECORDS}/3000000000", json={}).status_code in (404, 405)


# --- what is refused, field by field ---------------------------------------------------------------------------


def _office_id(staff):
    return staff["intake1"].unit_id


BAD_FIELDS = [
    # (changes to a valid body, the field the answer names)
    ({"subject_type": "org"}, "subject_type"),
    ({"subject_type": 1}, "subject_type"),
    ({"subject_unit_id": _DROP}, "subject_unit_id"),
    ({"subject_unit_id": None}, "subject_unit_id"),
    ({"subject_unit_id": "1"}, "subject_unit_id"),         # an id is a JSON number
    ({"subject_unit_id": True}, "subject_unit_id"),
    ({"subject_unit_id": 1.5}, "subject_unit_id"),
    ({"subject_unit_id": 0}, "subject_unit_id"),
    ({"subject_unit_id": 2**31}, "subject_unit_id"),         # beyond any id
    ({"subject_unit_id": 999999}, "subject_unit_id"),        # no such unit
    ({"subject_unit_id": "own"}, "subject_unit_id"),         # the recording unit itself
    ({"subject_unit_id": "office"}, "subject_unit_id"),      # the credit office
    ({"category": "theft"}, "category"),
    ({"category": _DROP}, "category"),
    ({"severity": "huge"}, "severity"),
    ({"severity": ["general"]}, "severity"),
    ({"basis_doc_no": ""}, "basis_doc_no"),
    ({"basis_doc_no": "   "}, "basis_doc_no"),
    ({"basis_doc_no": "号" * 81}, "basis_doc_no"),
    ({"basis_doc_no": 12}, "basis_doc_no"),
    ({"basis_date": "2026/10/10"}, "basis_date"),
    ({"basis_date": "20261010"}, "basis_date"),              # ISO basic format: not YYYY-MM-DD
    ({"basis_date": "２０２６-１０-１０"}, "basis_date"),
    ({"basis_date": "2026-02-30"}, "basis_date"),
    ({"basis_date": "2026-11-28"}, "basis_date"),            # tomorrow
    ({"basis_date": "2013-12-31"}, "basis_date"),            # before 2014
    ({"basis_date": _DROP}, "basis_date"),
    ({"facts": ""}, "facts"),
    ({"facts": "字" * 4001}, "facts"),
    ({"facts": {"text": "x"}}, "facts"),
    ({"legal_basis": _DROP}, "legal_basis"),
    ({"legal_basis": "字" * 4001}, "legal_basis"),
    ({"colour": "red"}, "colour"),                           # unknown field
    ({"status": "published"}, "status"),                     # not the client's to set
    ({"source": "seed"}, "source"),
    ({"person": {"person_id": 1}}, "person"),                 # a unit subject names no person
    ({"subject_type": "unit", "person": {"person_id": 1}}, "person"),
    ({"subject_type": "person", "subject_unit_id": "subject",  # the unit is the person's
      "person": {"name": "黄某某", "id_number": ID_NUMBER, "post": "科长", "unit_id": "subject"}}, "subject_unit_id"),
    ({"subject_type": "person", "subject_unit_id": _DROP}, "person"),
    ({"subject_type": "person", "person": "黄某某"}, "person"),
    ({"subject_type": "person", "person": {"name": "黄某某", "id_number": "421302198001010010", "post": "科长",
                                           "unit_id": "subject"}}, "person.id_number"),  # bad check character
    ({"subject_type": "person", "person": {"name": "黄某某", "id_number": "4213021980010100２X", "post": "科长",
                                           "unit_id": "subject"}}, "person.id_number"),  # a full-width digit
    ({"subject_type": "person", "person": {"name": "", "id_number": ID_NUMBER, "post": "科长",
                                           "unit_id": "subject"}}, "person.name"),
    ({"subject_type": "person", "person": {"name": "黄某某", "id_number": ID_NUMBER, "post": "科长",
                                           "unit_id": "1"}}, "person.unit_id"),
    ({"subject_type": "person", "person": {"name": "黄某某", "id_number": ID_NUMBER, "post": "科长",
                                           "unit_id": 999999}}, "person.unit_id"),
    ({"subject_type": "person", "person": {"person_id": 999999}}, "person.person_id"),
    ({"subject_type": "person", "person": {"person_id": "1"}}, "person.person_id"),
    ({"subject_type": "person", "person": {"person_id": 1, "age": 40}}, "person.age"),
    ({"subject_type": "person", "person": {"name": 7, "id_number": ID_NUMBER, "post": "科长",
                                           "unit_id": "subject"}}, "person.name"),
]


def _resolve(staff, changes: dict) -> dict:
    names = {"own": staff["verifier1"].unit_id, "office": _office_id(staff), "subject": staff["applicant1"].unit_id}
    resolved = {}
    for key, value in changes.items():
        if key == "subject_unit_id" and value in names:
            value = names[value]
        if key == "person" and isinstance(value, dict) and value.get("unit_id") in names:
            value = {**value, "unit_id": names[value["unit_id"]]}
        resolved[key] = value
    return resolved


def _drops_a_field(changes: dict) -> bool:
    """A case that leaves a field out (a person subject names no subject_unit_id): a PATCH cannot express it."""
    return changes.get("subject_type") == "person" or any(v is _DROP for v in changes.values())


BAD_FIELD_CASES = [pytest.param(changes, field, method, id=f"{method}-{field}-{i}")
                   for method in ("post", "patch") for i, (changes, field) in enumerate(BAD_FIELDS)
                   if method == "post" or not _drops_a_field(changes)]


@pytest.mark.parametrize("changes,field,method", BAD_FIELD_CASES)
def test_each_bad_field_is_refused_by_name_and_nothing_is_written(deployed_staff, api, changes, field, method):
    staff = deployed_staff
    client = api("verifier1")
    if changes.get("subject_type") == "person":  # its unit is the person's: the body names no subject_unit_id
        changes = {"subject_unit_id": _DROP, **changes}
    if method == "patch":
        target = _create(api, staff)
        before = fingerprint(current_app)
        response = client.patch(f"{RECORDS}/{target['id']}", json=_resolve(staff, changes))
    else:
        before = fingerprint(current_app)
        response = client.post(RECORDS, json=_body(staff, **_resolve(staff, changes)),
                               headers={"Idempotency-Key": "bad-1"})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert field in error["fields"], error
    assert error["message"]
    assert fingerprint(current_app) == before


@pytest.mark.parametrize("changes", [
    {"basis_doc_no": "号" * 80}, {"facts": "字" * 4000}, {"legal_basis": "字" * 4000},
    {"basis_date": "2026-11-27"}, {"basis_date": "2014-01-01"}, {"subject_type": _DROP},  # unit by default
    {"category": "judgment"}, {"severity": "minor"}, {"severity": "serious"},
])
def test_values_at_the_limits_are_accepted(deployed_staff, api, changes):
    response = api("verifier1").post(RECORDS, json=_body(deployed_staff, **changes))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["judicial"] is (changes.get("category") == "judgment")


@pytest.mark.parametrize("kw", [
    {"data": "subject_type=unit", "content_type": "application/x-www-form-urlencoded"},
    {"data": "{not json", "content_type": "application/json"},
    {"data": "", "content_type": "application/json"},
    {"json": ["a", "list"]},
    {"json": "text"},
    {"json": None},
    {"data": "{}", "content_type": "text/plain"},
])
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_body_that_is_not_a_json_object_is_refused(deployed_staff, api, kw, method):
    target = _create(api, deployed_staff)
    before = fingerprint(current_app)
    client = api("verifier1")
    response = client.post(RECORDS, **kw) if method == "post" else client.patch(f"{RECORDS}/{target['id']}", **kw)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "bad_payload"
    assert fingerprint(current_app) == before


@pytest.mark.parametrize("content,name,status", [
    (PDF_BYTES, "文书.pdf", 201),
    (b"", "empty.pdf", 422),
    (b"<html><script>alert(1)</script>", "x.pdf", 422),
    (b"MZ\x90\x00" * 10, "x.exe", 422),
])
def test_documents_are_checked_by_content(deployed_staff, api, content, name, status):
    created = _create(api, deployed_staff)
    before = fingerprint(current_app)
    response = _document(api, created["id"], content=content, name=name)
    assert response.status_code == status, response.get_json()
    if status != 201:
        assert response.get_json()["error"]["fields"] == {"file": response.get_json()["error"]["fields"]["file"]}
        assert fingerprint(current_app) == before


def test_a_document_upload_without_the_file_field_is_refused(deployed_staff, api):
    created = _create(api, deployed_staff)
    response = api("verifier1").post(f"{RECORDS}/{created['id']}/documents", data={"other": "x"},
                                     content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.get_json()["error"]["fields"]


def test_the_record_list_comes_a_page_at_a_time(api, staff):
    """A staff caller sees every record: the list is keyset-paged by id (after = the last page's next_after)."""
    made = [factories.record(staff["applicant1"].unit, staff["verifier1"].unit) for _ in range(7)]
    db.session.commit()
    client = api("intake1")
    seen, after, pages = [], None, 0
    while True:
        answer = client.get(RECORDS + "?limit=3" + (f"&after={after}" if after else "")).get_json()
        assert answer["limit"] == 3 and len(answer["items"]) <= 3
        seen += [item["id"] for item in answer["items"]]
        pages += 1
        after = answer["next_after"]
        if after is None:
            break
        assert after == answer["items"][-1]["id"]
    assert seen == sorted(r.id for r in made) and pages == 3  # 3 + 3 + 1: no repeat, no gap, no empty last page
    everything = client.get(RECORDS).get_json()
    assert everything["limit"] == 100 and everything["next_after"] is None and len(everything["items"]) == 7
    exact = client.get(RECORDS + "?limit=7").get_json()
    assert len(exact["items"]) == 7 and exact["next_after"] is None  # a full last page says nothing follows
    # The applicant sees its own unit's records only, paged the same way.
    factories.record(staff["applicant2"].unit, staff["verifier1"].unit)
    db.session.commit()
    assert {i["id"] for i in api("applicant1").get(RECORDS + "?limit=500").get_json()["items"]} == {r.id for r in made}


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "after=0", "after=-3", "after=1e3",
                                   "limit=9223372036854775808"])
def test_the_record_list_refuses_impossible_paging(api, staff, query):
    response = api("intake1").get(f"{RECORDS}?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_paging" and query.split("=")[0] in error["fields"]
