"""Going back to where the user came from, never to another site; page numbers and cursors from the query."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from flask import request
from flask_babel import gettext as _

from app.core.errors import ServiceError
from app.core.ids import MAX_ID, is_object_id


def same_site_referrer() -> str | None:
    """The referring page's path and query when it is on this site (an open redirect is impossible)."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if target.startswith("/") and not target.startswith("//") else None


def same_site_path(target: str | None) -> str | None:
    """`target` when it is a path on this site ("/cases/5?tab=x"), else None: a scheme, a host ("//evil"), a
    backslash (browsers read "/\\evil" as "//evil") or a control character could lead off the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


# 50 rows a page: 100,000 pages reach 5 million rows, more than any list here holds. A larger number cannot be
# a real page and, sent to SQL as an OFFSET, overflows the database's integer (a 500 on both databases).
MAX_PAGE = 100_000


def page_arg(name: str = "page") -> int:
    """The requested page of a list (1 when absent); anything but a whole number 1..MAX_PAGE is a 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return 1
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise ServiceError(_("页码应为 1 至 %(max)s 之间的整数。", max=MAX_PAGE), code="bad_page",
                           fields={name: "1–%d" % MAX_PAGE})
    return int(raw)


def id_cursor_arg(name: str) -> int | None:
    """A keyset cursor that is an object id (None when absent); a number no id column can hold is a 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if not is_object_id(raw):
        raise ServiceError(_("分页参数无效，请从第一页重新浏览。"), code="bad_cursor", fields={name: "1–%d" % MAX_ID})
    return int(raw)


def record_cursor_arg(name: str = "after") -> tuple[date, int] | None:
    """A record list's next-page cursor, "<basis date>.<id>" of the row before the page (None: absent); anything
    else is a 400, like a bad page number."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    day, _dot, record_id = raw.partition(".")
    try:
        parsed = date.fromisoformat(day) if len(day) == 10 and day.isascii() else None
    except ValueError:
        parsed = None
    if parsed is None or not is_object_id(record_id):
        raise ServiceError(_("分页参数无效，请从第一页重新浏览。"), code="bad_cursor", fields={name: "YYYY-MM-DD.id"})
    return parsed, int(record_id)


def record_cursor(row) -> str:
    """The cursor of the page after `row` (a record list's last row)."""
    return f"{row.basis_date.isoformat()}.{row.id}"
