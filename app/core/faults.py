"""Fault injection: kill the process with SIGKILL at a named point so tests can prove crashes lose nothing.

Off unless the app config says FAULT_INJECTION (only from the environment, FAULT_INJECTION=1) and the
environment variable XINYONG_FAULT_POINT names the point. docs/reliability.md lists the points.
"""
from __future__ import annotations

import os
import signal

from flask import current_app, has_app_context
from sqlalchemy import event

from app.extensions import db

ENV_VAR = "XINYONG_FAULT_POINT"

POINTS = {
    "engine.save.after_state": "instance state row updated, task and timer projections not yet written",
    "process.start.before_commit": "a submitted case's process started and projected, not committed",
    "process.complete.before_commit": "engine stepped, projections, history and audit written, not committed",
    "process.complete.after_commit": "the task completion committed, the response not yet sent",
    "letters.issue.before_commit": "a letter numbered, rendered and stored in the session, not committed",
    "worker.timer.before_commit": "the worker fired a timer (engine stepped, projections written), not committed",
    "worker.timer.after_commit": "the worker committed one fired timer, the rest of the sweep not done",
    "outbox.after_send": "the receiver accepted a message, the row not yet marked delivered",
}


def _armed(name: str) -> bool:
    # The environment check comes first: without it nothing else is looked at.
    return os.environ.get(ENV_VAR) == name and has_app_context() and bool(current_app.config.get("FAULT_INJECTION"))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fault_point(name: str) -> None:
    """Kill this process now when fault injection is on and `name` is the chosen point."""
    if _armed(name):
        _die()


def after_commit(name: str) -> None:
    """Kill this process right after the current transaction commits, when `name` is the chosen point."""
    if _armed(name):
        event.listen(db.session(), "after_commit", lambda session: _die(), once=True)
