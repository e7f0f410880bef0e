"""The audit search by address (issue 15 §6): an address prefix by whole groups, on an index on both databases."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.extensions import db
from app.models import AuditEvent
from app.services import audit
from app.services.audit import search as audit_search
from app.core import clock
from tests.support import factories

ADDRESSES = ("10.1.2.3", "10.1.2.200", "10.1.2", "10.1.20.5", "10.1.29.1", "110.1.2.3", "10.10.2.3",
             "2001:db8::1", "2001:db80::1", "192.168.0.9", "")


@pytest.fixture()
def by_address(seeded):
    ids = {}
    for i, ip in enumerate(ADDRESSES):
        with clock.frozen_at(datetime(2026, 11, 20, 8, i, tzinfo=timezone.utc)):
            ids[ip] = factories.audit_event("auth.login", actor=audit.Actor(username=f"ip{i}", ip=ip),
                                   outcome="failure" if i % 2 else "success").id
    db.session.commit()
    return ids


def found(ids: dict, **filters) -> set[str]:
    """The addresses (of this test's events) that the search's conditions select."""
    mine = {v: k for k, v in ids.items()}
    chosen = audit_search.AuditFilters(**filters)
    listed = set(db.session.scalars(db.select(AuditEvent.id).where(*chosen.conditions())))
    return {mine[i] for i in listed if i in mine}


@pytest.mark.parametrize("typed,expected", [
    ("10.1.2", {"10.1.2.3", "10.1.2.200", "10.1.2"}),  # the network and the address itself, never 10.1.20.*
    ("10.1.2.", {"10.1.2.3", "10.1.2.200"}),  # ending in a separator: a plain prefix
    ("10.1.20", {"10.1.20.5"}),
    ("10.1.2.3", {"10.1.2.3"}),  # a whole address: itself (10.1.2.30 would not be 10.1.2.3's)
    ("10.1.", {"10.1.2.3", "10.1.2.200", "10.1.2", "10.1.20.5", "10.1.29.1"}),
    ("10.1", {"10.1.2.3", "10.1.2.200", "10.1.2", "10.1.20.5", "10.1.29.1"}),  # not 10.10.*, not 110.1.*
    ("10", {"10.1.2.3", "10.1.2.200", "10.1.2", "10.1.20.5", "10.1.29.1", "10.10.2.3"}),
    ("2001:db8", {"2001:db8::1"}),  # IPv6 by groups too: not 2001:db80::
    ("2001:db8:", {"2001:db8::1"}),
    ("1.2", set()),  # a prefix, not a part in the middle
    ("10.%", set()), ("10_1", set()),  # LIKE's wildcards are plain characters
])
def test_an_address_prefix_matches_whole_groups(by_address, typed, expected):
    assert found(by_address, ip=typed) == expected


def test_the_page_and_the_count_agree_with_the_prefix(web, by_address):
    auditor = web("auditor1")
    page = auditor.get("/audit/?ip=10.1.2").get_data(as_text=True)
    for ip in ("10.1.2.3", "10.1.2.200"):
        assert f"ip{ADDRESSES.index(ip)}" in page
    assert f"ip{ADDRESSES.index('10.1.20.5')}" not in page
    assert audit_search.count(audit_search.AuditFilters(ip="10.1.2")) == 3


def test_failures_of_a_network_are_their_intersection(by_address):
    failures = {ip for i, ip in enumerate(ADDRESSES) if i % 2}
    got = found(by_address, ip="10.1", outcome="failure")
    assert got == failures & {"10.1.2.3", "10.1.2.200", "10.1.2", "10.1.20.5", "10.1.29.1"} and got
