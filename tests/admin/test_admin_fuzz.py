"""Generated submissions to every form of the desk: never a 500, and a refused one changes nothing."""
from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.services import calendar
from app.extensions import db
from tests.support.fuzz import WORLD as _WORLD
from tests.support.clients import fresh_g, WebClient
from tests.support.snapshots import fingerprint, office_state

FUZZ = settings(max_examples=25, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
junk = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "0", "-1", "999999999999", "2026-02-30", "abc",
                                                        "<script>", "admin", "rest", "1", "字" * 130]))
FIELDS = {
    "/admin/units/new": ["name", "uscc", "kind", "parent_id", "region"],
    "/admin/units/{unit}": ["name", "uscc", "kind", "parent_id", "region"],
    "/admin/units/{unit}/active": ["reason"],
    "/admin/users/new": ["username", "display_name", "unit_id", "roles", "email"],
    "/admin/users/{user}": ["display_name", "unit_id", "roles", "email"],
    "/admin/users/{user}/active": ["reason"],
    "/admin/calendar/day": ["day", "kind", "name", "reason"],
    "/admin/calendar/import": ["source", "file"],
}


@pytest.mark.parametrize("path", sorted(FIELDS))
@FUZZ
@given(data=st.data())
def test_no_500_and_a_refusal_changes_nothing(app, staff, path, data):
    if "client" not in _WORLD:
        calendar.seed_from_package([2026])
        db.session.commit()
        _WORLD["client"] = WebClient(app, "admin1")
        _WORLD["token"] = _WORLD["client"].csrf("/admin/units/new")
    client = _WORLD["client"]
    url = path.format(unit=staff["applicant1"].unit_id, user=staff["applicant1"].id)
    form = {name: data.draw(st.one_of(junk, st.lists(junk, max_size=3)), label=name) for name in FIELDS[path]
            if data.draw(st.booleans(), label=f"send {name}")}
    if "file" in form:
        form["file"] = (io.BytesIO(str(form["file"]).encode()), "x.csv")
    form["csrf_token"] = _WORLD["token"]
    before = fingerprint(app), office_state()
    with client.client.session_transaction() as session:
        session.pop("_flashes", None)
    fresh_g()
    response = client.client.post(url, data=form, content_type="multipart/form-data")
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[-2000:]
    with client.client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    succeeded = any(c in ("success", "info") for c, _ in flashes) or re.search(r'flash-success', body)
    if not succeeded:
        assert (fingerprint(app), office_state()) == before, form
