"""A prefix search (app/services/prefix.py) finds exactly the strings that begin with the prefix."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Unit
from app.services import prefix
from tests.support import factories

# Neighbours of 随财罚 in code point order, characters of every UTF-8 length, and strings that hold the prefix
# elsewhere than at the start.
NAMES = ["随财", "随财罚", "随财罚字〔2026〕1号", "随财罚a", "随财罚 ", "随财罛", "随财罗", "随财罚\U0001f600", "随财罚\uffff",
         "随财罚\U0010fffe", "A随财罚", " 随财罚", "随", "随财罚罚", "随财罒"]


def test_the_range_finds_exactly_the_names_that_begin_with_the_prefix(app):
    made = [factories.unit(name) for name in NAMES]
    db.session.commit()
    ids = {u.id for u in made}
    for wanted in ("随财罚", "随财", "随", "随财罚字", "A", "罚"):
        found = set(db.session.scalars(select(Unit.name).where(Unit.id.in_(ids), prefix.starts_with(Unit.name, wanted))))
        assert found == {name for name in NAMES if name.startswith(wanted)}, wanted
