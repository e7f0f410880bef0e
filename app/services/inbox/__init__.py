"""The inbox: queue SQL over the task projection (queries), its display text (display), and filters (filters)."""
