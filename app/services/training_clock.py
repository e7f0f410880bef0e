"""The training clock shared by web and workers: the offset that `worker --at` stores in app_setting."""
from __future__ import annotations

from datetime import timedelta

from app.core.clock import set_offset
from app.extensions import db
from app.models import AppSetting


SHARED_OFFSET_KEY = "clock_offset_seconds"


def load_shared_offset() -> None:
    """Adopt the training offset that `worker --at` stored, so web and workers share one clock."""
    row = db.session.get(AppSetting, SHARED_OFFSET_KEY)
    set_offset(timedelta(seconds=float(row.value)) if row else timedelta(0))


def save_shared_offset(delta: timedelta | None) -> None:
    """Store (or clear, with None) the training offset for every process (flushes only)."""
    row = db.session.get(AppSetting, SHARED_OFFSET_KEY)
    if delta is None:
        if row:
            db.session.delete(row)
    elif row:
        row.value = str(delta.total_seconds())
    else:
        db.session.add(AppSetting(key=SHARED_OFFSET_KEY, value=str(delta.total_seconds())))
    db.session.flush()
    set_offset(delta or timedelta(0))
