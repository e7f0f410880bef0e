"""Interface language helpers (Flask-Babel): Chinese is the source language, English is selectable."""
from __future__ import annotations

from flask_babel import force_locale


def chinese(text) -> str:
    """The Chinese text of a translatable (possibly lazy) string, for what is stored or official."""
    with force_locale("zh"):
        return str(text)
