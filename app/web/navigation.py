"""Going back to where the user came from, never to another site."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def same_site_referrer() -> str | None:
    """The referring page's path and query when it is on this site (an open redirect is impossible)."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if target.startswith("/") and not target.startswith("//") else None
