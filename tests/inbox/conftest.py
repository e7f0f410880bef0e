"""Fixtures of the inbox tests: both applicants' units with records to file on, and nothing else."""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.support import factories


@pytest.fixture()
def both_applicants(recorded_staff):
    """recorded_staff plus two published records of applicant2's unit made by verifier1's unit.

    So applicant1 and applicant2 can each file an objection (own_record), and applicant2 a repair of its other
    record beside one (repairable).
    """
    for _ in range(2):
        factories.record(recorded_staff["applicant2"].unit, recorded_staff["verifier1"].unit)
    db.session.commit()
    return recorded_staff
