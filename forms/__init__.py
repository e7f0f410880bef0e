"""WTForms classes for the web UI (validation of business rules lives in app.services)."""
