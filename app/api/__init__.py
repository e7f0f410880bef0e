"""JSON API /api/v1 over the same service layer as the web UI (SPEC §6)."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import routes  # noqa: E402,F401
from app.api import persons  # noqa: E402,F401  (issue 12 §5: the person-scoped eligibility query)
