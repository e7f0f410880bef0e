"""Fixtures of the office-administration tests: the staff accounts (no demo city) and admin1's browser."""
from __future__ import annotations

import pytest

from tests.support.clients import WebClient


@pytest.fixture()
def admin(staff, app):
    """admin1 signed in (with its second factor), on the bare staff cast of tests/support/factories.staff."""
    return WebClient(app, "admin1")


@pytest.fixture()
def browser(staff, app):
    """A browser for any of the staff accounts, signed in as the given username."""
    return lambda username=None: WebClient(app, username)
