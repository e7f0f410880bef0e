"""Set-ups over the live server's JSON API, for the browser tests (tests/e2e): what a page needs before it is opened."""
from __future__ import annotations


def draft_objection(applicant, statement: str, files: list[tuple[str, bytes, str]]) -> dict:
    """A draft objection of the applicant's unit against its first record that admits one, holding files
    (name, content, kind); the case as the API answers it afterwards."""
    status, body = applicant.get("/api/v1/records")
    assert status == 200, body
    record = next(r for r in body["items"]
                  if applicant.get(f"/api/v1/records/{r['id']}/objection-eligibility")[1]["eligible"])
    status, case = applicant.post("/api/v1/cases", {"type": "objection", "record_id": record["id"],
                                                    "reason": "wrong_content", "statement": statement})
    assert status == 201, case
    for name, data, kind in files:
        status, body = applicant.upload(f"/api/v1/cases/{case['id']}/attachments", name, data, kind)
        assert status == 201, body
    status, case = applicant.get(f"/api/v1/cases/{case['id']}")
    assert status == 200, case
    return case
