"""Hypothesis fuzzing of the records API (issue 12 §3) as the recording unit: hostile JSON bodies, person subjects,
Idempotency-Key headers and uploads — never a 500, a refusal changes nothing, an acceptance is what was sent.

(Schemathesis drives the same operations from the OpenAPI document in tests/api/test_schemathesis.py.)
"""
from __future__ import annotations

import io
import itertools

from flask import current_app
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.models import CreditRecord, IdempotencyKey
from tests.support.clients import ApiClient
from tests.support.files import PDF_BYTES, PNG_BYTES
from tests.support.fuzz import WORLD
from tests.support.snapshots import fingerprint

RECORDS = "/api/v1/records"
FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
ID_NUMBERS = ["42130219800101002X", "421302198001010010", "11010519491231002X", "", "4213021980010100２X"]
PAYLOADS = ["", " ", "\u202e", "<script>alert(1)</script>", "{{7*7}}", "' OR 1=1 --", "%s%n", "../../etc/passwd",
            "null", "0", "-1", "1e309", "NaN", "９", "２０２６-１１-２７", "2026-02-30", "99999999999999999999", "true",
            "😀" * 30, "\r\n"]
junk = st.one_of(
    st.text(max_size=30), st.sampled_from(PAYLOADS), st.none(), st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["字", "a"]), st.sampled_from([41, 81, 4001])),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _world() -> dict:
    """The recording unit's API client and the ids a good body names (built on the first example)."""
    if "records" not in WORLD:
        from app.models import User

        users = {u.username: u for u in db.session.scalars(select(User))}
        WORLD["records"] = {"client": ApiClient(current_app, "verifier1"), "subject": users["applicant1"].unit_id,
                            "own": users["verifier1"].unit_id, "office": users["intake1"].unit_id}
    return WORLD["records"]


def _ids(value, world):
    return world[value] if isinstance(value, str) and value in ("subject", "own", "office") else value


NAMES = ("subject_type", "subject_unit_id", "person", "category", "severity", "basis_doc_no", "basis_date", "facts",
         "legal_basis")


def records(*, partial: bool = False):
    """A record body: a good one (a unit or a person subject) with up to two fields made junk or dropped, and now
    and then an unknown extra field; for a PATCH, any subset of it."""
    good = st.fixed_dictionaries({
        "subject_type": st.sampled_from(["unit", "unit", "unit", "person"]),
        "subject_unit_id": st.sampled_from(["subject", "subject", "subject", "own", "office"]),
        "person": st.one_of(st.fixed_dictionaries({"name": st.sampled_from(["黄某某", "李某"]),
                                                   "id_number": st.sampled_from(ID_NUMBERS),
                                                   "post": st.just("副局长"), "unit_id": st.just("subject")}),
                            st.fixed_dictionaries({"person_id": st.integers(1, 3)})),
        "category": st.sampled_from(["admin_penalty", "judgment", "breach", "discipline"]),
        "severity": st.sampled_from(["minor", "general", "serious"]),
        "basis_doc_no": st.sampled_from(["fresh", "fresh", "fresh", "随糊罚〔2026〕1号"]),  # fresh: a new number
        "basis_date": st.sampled_from(["2026-10-10", "2014-01-01", "2026-11-27"]),
        "facts": st.just("逾期未履行行政处罚决定。"),
        "legal_basis": st.just("《中华人民共和国行政处罚法》第七十二条"),
    })
    names = st.sampled_from(NAMES)
    junk_in = st.dictionaries(names, junk, max_size=2)
    person_junk = st.dictionaries(st.sampled_from(["name", "id_number", "post", "unit_id", "person_id", "age"]), junk,
                                  max_size=2)
    extras = st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(st.text(min_size=1, max_size=12), junk,
                                                                              max_size=1))
    kept = st.sets(names, min_size=0, max_size=len(NAMES)) if partial else \
        st.one_of(st.just(frozenset(NAMES)), st.just(frozenset(NAMES)), st.sets(names, min_size=len(NAMES) - 1))

    def build(body, keep, bad, bad_person, extra):
        body = {k: v for k, v in body.items() if k in keep}
        # A unit subject names no person, a person subject no subject_unit_id (unless made junk: refused then).
        if body.get("subject_type") != "person" and "person" not in bad:
            body.pop("person", None)
        if body.get("subject_type") == "person" and "subject_unit_id" not in bad:
            body.pop("subject_unit_id", None)
        if isinstance(body.get("person"), dict):
            body["person"] = {**body["person"], **bad_person}
        return {**extra, **body, **bad}

    return st.builds(build, good, kept, st.one_of(st.just({}), junk_in), st.one_of(st.just({}), st.just({}),
                                                                                    person_junk), extras)


_serial = itertools.count(1)


def _resolved(body, world) -> dict:
    body = {k: _ids(v, world) if k == "subject_unit_id" else v for k, v in body.items()}
    if body.get("basis_doc_no") == "fresh":
        body["basis_doc_no"] = f"随糊罚〔2026〕{next(_serial) + 1}号"
    if isinstance(body.get("person"), dict) and "unit_id" in body["person"]:
        body["person"] = {**body["person"], "unit_id": _ids(body["person"]["unit_id"], world)}
    return body


# Header values a client can put on the wire (no CR, LF or NUL: HTTP itself refuses those).
keys = st.one_of(st.none(), st.none(), st.sampled_from(["k-1", "k-2", "x" * 100]),
                 st.sampled_from(["x" * 101, "a b", "", "é", "\t"]),
                 st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120))


def _records() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(CreditRecord))


@FUZZ
@given(body=records(), key=keys)
def test_posting_records(deployed_staff, body, key):
    world = _world()
    data = _resolved(body, world)
    headers = {} if key is None else {"Idempotency-Key": key}
    before = fingerprint(current_app)
    response = world["client"].post(RECORDS, json=data, headers=headers)
    assert response.status_code in (201, 400, 409, 422), (response.status_code, response.get_json(), data)
    if response.status_code != 201:
        assert fingerprint(current_app) == before, f"refused POST changed the database: {data!r:.300}"
        return
    answer = response.get_json()
    assert answer["status"] == "draft" and answer["source"] == "api"
    for name in ("category", "severity", "basis_date"):
        assert answer[name] == data[name]
    assert answer["basis_doc_no"] == data["basis_doc_no"].strip()
    if key is not None:  # a retry answers the same and makes nothing
        count = _records()
        again = world["client"].post(RECORDS, json=data, headers=headers)
        assert again.status_code == 201 and again.get_json() == answer and _records() == count


@FUZZ
@given(body=records(partial=True))
def test_patching_a_draft(deployed_staff, body):
    world = _world()
    if "draft" not in world:
        made = world["client"].post(RECORDS, json={
            "subject_unit_id": world["subject"], "category": "admin_penalty", "severity": "general",
            "basis_doc_no": "随糊罚〔2026〕0号", "basis_date": "2026-10-10", "facts": "逾期未履行行政处罚决定。",
            "legal_basis": "《中华人民共和国行政处罚法》第七十二条"})
        assert made.status_code == 201, made.get_json()
        world["draft"] = made.get_json()["id"]
    data = _resolved(body, world)
    before = fingerprint(current_app)
    response = world["client"].patch(f"{RECORDS}/{world['draft']}", json=data)
    assert response.status_code in (200, 400, 409, 422), (response.status_code, response.get_json(), data)
    if response.status_code != 200:
        assert fingerprint(current_app) == before, f"refused PATCH changed the database: {data!r:.300}"
        return
    answer = response.get_json()
    for name in ("category", "severity", "basis_date"):
        if name in data:
            assert answer[name] == data[name]
    assert answer["status"] == "draft"


uploads = st.builds(
    lambda content, name: (io.BytesIO(content), name),
    st.one_of(st.sampled_from([PDF_BYTES, PNG_BYTES, b"", b"<html><script>alert(1)</script>", b"MZ\x90\x00" * 10,
                               b"PK\x03\x04junk"]), st.binary(max_size=200)),
    st.one_of(st.sampled_from(["认定文书.pdf", "../../x.pdf", "\u202efdp.exe", ""]), st.text(max_size=30)),
)


@FUZZ
@given(upload=st.one_of(uploads, st.none()), extra=st.dictionaries(st.sampled_from(["kind", "x", "file2"]),
                                                                    st.text(max_size=10), max_size=2),
       target=st.sampled_from(["draft", "draft", "draft", "missing"]))
def test_uploading_documents(deployed_staff, upload, extra, target):
    world = _world()
    if "doc_draft" not in world:
        made = world["client"].post(RECORDS, json={
            "subject_unit_id": world["subject"], "category": "admin_penalty", "severity": "general",
            "basis_doc_no": "随糊罚〔2026〕00号", "basis_date": "2026-10-10", "facts": "逾期未履行行政处罚决定。",
            "legal_basis": "《中华人民共和国行政处罚法》第七十二条"})
        world["doc_draft"] = made.get_json()["id"]
    record_id = world["doc_draft"] if target == "draft" else 999999
    data = {**extra, **({} if upload is None else {"file": upload})}
    before = fingerprint(current_app)
    response = world["client"].post(f"{RECORDS}/{record_id}/documents", data=data,
                                    content_type="multipart/form-data")
    assert response.status_code in (201, 400, 404, 409, 422), (response.status_code, response.get_json())
    if response.status_code != 201:
        assert fingerprint(current_app) == before
    else:
        assert set(response.get_json()) >= {"id", "name", "size", "sha256"}


def test_the_fuzzed_keys_never_outlive_a_refusal(deployed_staff):
    """What the POST fuzz relies on: a refused request keeps no key (so 'refusal changes nothing' includes keys)."""
    world = _world()
    response = world["client"].post(RECORDS, json={"category": "x"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
