"""Object ids as the database holds them: a query for an id no INTEGER column can hold must not reach SQL."""
from __future__ import annotations

# PostgreSQL INTEGER (and SQLite's 64-bit integer holds it too); ids beyond it cannot exist.
MAX_ID = 2**31 - 1


def object_id(text) -> int:
    """Parse a query or form value as an object id; ValueError outside 1..MAX_ID (Flask's type= then gives None)."""
    value = int(text)
    if not 0 < value <= MAX_ID:
        raise ValueError("object id out of range")
    return value


def is_object_id(text: str) -> bool:
    """Whether a text is a plain ASCII number that can be an object id."""
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID
