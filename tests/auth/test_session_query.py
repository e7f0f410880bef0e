"""Resolving a signed-in request's session is one query for the session, its user, roles and unit (issue 15 point 7:
the session/user join ran on every request)."""
from __future__ import annotations

from sqlalchemy import event

from app.extensions import db
from app.services import auth


def test_a_session_with_its_user_roles_and_unit_is_one_query(app, staff):
    token = auth.open_session(staff["intake1"], "web", "127.0.0.1")
    db.session.commit()
    db.session.expunge_all()  # a new request starts with an empty session
    selects: list[str] = []
    listener = (lambda conn, cursor, statement, *args:
                statement.lstrip().upper().startswith("SELECT") and selects.append(statement))
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        user = auth.resolve_session(token, "web")
        seen = (user.username, user.roles, user.unit.name, user.has_role("intake"))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert seen[0] == "intake1" and "intake" in seen[1]
    assert len(selects) == 1, selects
