"""Fixtures of the delivery tests: the probe process installed in place of the rectification slice."""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.support.delivery import probe_installed


@pytest.fixture()
def probe(deployed_staff):
    """deployed_staff with the probe process (tests/support/delivery.py) installed and deployed."""
    with probe_installed():
        db.session.commit()
        yield deployed_staff
