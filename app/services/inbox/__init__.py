"""The inbox: queue SQL over the task projection (queries), its display text (display), filters (filters), and the
case and record facts copied onto each task for those filters (facts, kept in line by every flush)."""
from app.services.inbox import facts  # noqa: F401  (installs the flush hook wherever the inbox is used)
