"""Configuration classes; values come from environment variables with safe defaults."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


class Config:
    """Production-safe defaults; anything secret must come from the environment."""

    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'xinyong.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # The dashboard's figures are reused this many seconds (per process) before being computed again; 0: every page.
    DASHBOARD_FIGURES_MAX_AGE = int(_env("DASHBOARD_FIGURES_MAX_AGE", "60"))
    DATA_DIR = Path(_env("DATA_DIR", str(BASE_DIR / "var")))
    # Evidence files and issued letters live outside the web root under generated ids.
    FILE_STORE = Path(_env("FILE_STORE", str(BASE_DIR / "var" / "files")))
    # Upload limits (the forms say the same): each file, each case's files together, and one request. The request
    # limit lets one form carry MAX_FILES_PER_REQUEST full-size files; Werkzeug answers it (413) before reading the
    # body, and each file is then checked against MAX_FILE_BYTES, the case against the two case caps.
    MAX_FILE_BYTES = int(_env("MAX_FILE_BYTES", _env("MAX_UPLOAD_BYTES", str(20 * 1024 * 1024))))
    MAX_FILES_PER_REQUEST = int(_env("MAX_FILES_PER_REQUEST", "5"))
    MAX_FILES_PER_CASE = int(_env("MAX_FILES_PER_CASE", "30"))
    MAX_BYTES_PER_CASE = int(_env("MAX_BYTES_PER_CASE", str(200 * 1024 * 1024)))
    FORM_OVERHEAD_BYTES = 1024 * 1024  # multipart boundaries, part headers and the text fields of the form
    MAX_CONTENT_LENGTH = MAX_FILE_BYTES * MAX_FILES_PER_REQUEST + FORM_OVERHEAD_BYTES
    ALLOWED_UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png", "application/ofd")
    # An OFD is a ZIP: its type check reads at most this many directory entries (real OFDs hold a few hundred).
    MAX_ZIP_ENTRIES = int(_env("MAX_ZIP_ENTRIES", "10000"))
    # Drafts never submitted are deleted with their files after this many days without a change (the worker).
    DRAFT_PURGE_AFTER_DAYS = int(_env("DRAFT_PURGE_AFTER_DAYS", "30"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_DURATION = timedelta(hours=8)
    IDLE_TIMEOUT = timedelta(minutes=30)
    # ASVS 4.0.3 3.3.2: a session ends 12 hours after sign-in however active it is; bearer tokens likewise,
    # after their own idle time of 8 hours.
    SESSION_MAX_AGE = timedelta(hours=12)
    API_TOKEN_IDLE_TIMEOUT = timedelta(hours=8)
    API_TOKEN_MAX_AGE = timedelta(hours=12)
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 30
    PASSWORD_MAX_AGE_DAYS = int(_env("PASSWORD_MAX_AGE_DAYS", "90"))
    # Roles whose sign-in needs a TOTP code as well (QUALITY.md §3; MLPS 2.0 level 3 two-factor for administrators).
    SECOND_FACTOR_ROLES = ("admin", "approver")
    TOTP_ISSUER = _env("TOTP_ISSUER", "随州市信用办")
    WTF_CSRF_TIME_LIMIT = 3600
    # Audit events are kept at least this long before `flask audit archive` may move them out (≥ 183, MLPS 2.0).
    AUDIT_RETENTION_DAYS = int(_env("AUDIT_RETENTION_DAYS", "365"))
    # The audit chain's HMAC keys, never in the database (app.services.audit.keys; docs/deployment.md §13):
    # "id:key" entries (comma-separated) and/or a key file with one per line; AUDIT_HMAC_KEY_ID signs new rows.
    AUDIT_HMAC_KEYS = _env("AUDIT_HMAC_KEYS")
    AUDIT_HMAC_KEY_FILE = _env("AUDIT_HMAC_KEY_FILE")
    AUDIT_HMAC_KEY_ID = _env("AUDIT_HMAC_KEY_ID")
    # Keyed checkpoints of the chain's head, outside the database; the worker writes one every interval.
    AUDIT_CHECKPOINT_DIR = Path(_env("AUDIT_CHECKPOINT_DIR") or str(BASE_DIR / "var" / "audit-checkpoints"))
    AUDIT_CHECKPOINT_INTERVAL = int(_env("AUDIT_CHECKPOINT_INTERVAL", "300"))
    # Encrypts the ID numbers of persons (record subjects) at rest and keys their lookup digest; never in the
    # database, never changed once numbers are stored (app.services.persons; docs/deployment.md).
    PERSON_DATA_KEY = _env("PERSON_DATA_KEY")

    TIMEZONE = "Asia/Shanghai"
    # Chinese by default; English selectable through the `lang` cookie (GET /lang/<code>).
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    # Issuer shown on letters (the credit office) and the document-number prefix per series.
    ISSUER_NAME = _env("ISSUER_NAME", "随州市社会信用体系建设领导小组办公室")
    ISSUER_SHORT = _env("ISSUER_SHORT", "随信用")
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    LETTER_FONT_DIR = _env("LETTER_FONT_DIR")  # optional directory with licensed 方正/仿宋 fonts
    LETTER_SEAL_IMAGE = _env("LETTER_SEAL_IMAGE")  # optional PNG of the office seal
    # The drawn red circle on issued letters: demo data only (issue 13 §9); without a seal image an issued letter
    # carries the signature block alone, and `flask check` reports the missing image in production.
    LETTER_DEMO_SEAL = _env("LETTER_DEMO_SEAL", "0") == "1"
    # A shifted clock is only honoured when explicitly enabled (tests, training demo).
    ALLOW_CLOCK_SHIFT = _env("ALLOW_CLOCK_SHIFT", "0") == "1"
    # Crash tests only: lets XINYONG_FAULT_POINT kill the process at a named point (docs/reliability.md).
    FAULT_INJECTION = _env("FAULT_INJECTION", "0") == "1"
    # Side effects through the outbox: SMTP for e-mail (off when MAIL_SERVER is empty), the
    # provincial platform's push endpoint, and how often a message is tried before it shows as failed.
    MAIL_SERVER = _env("MAIL_SERVER", "")
    MAIL_PORT = int(_env("MAIL_PORT", "25"))
    MAIL_SENDER = _env("MAIL_SENDER", "xinyong@localhost")
    PUSH_URL = _env("PUSH_URL", "")
    OUTBOX_MAX_ATTEMPTS = int(_env("OUTBOX_MAX_ATTEMPTS", "8"))
    DEMO_MODE = False
    TESTING = False


class DevelopmentConfig(Config):
    """Local demo on SQLite."""

    SECRET_KEY = _env("SECRET_KEY", "dev-only-not-secret-" + "x" * 16)
    DEMO_MODE = True
    ALLOW_CLOCK_SHIFT = True
    LETTER_DEMO_SEAL = _env("LETTER_DEMO_SEAL", "1") == "1"
    # A published key, for the demo only: `flask check` reports it, and a production config has no default.
    AUDIT_HMAC_KEYS = _env("AUDIT_HMAC_KEYS", "dev:dev-only-audit-key-not-secret-0000000000")
    PERSON_DATA_KEY = _env("PERSON_DATA_KEY", "dev-only-person-data-key-not-secret-000000")


class TestConfig(Config):
    """Tests: their own database, CSRF on (tests fetch tokens), fast password hashing."""

    TESTING = True
    SECRET_KEY = "test-secret-key-0123456789"
    SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
    ALLOW_CLOCK_SHIFT = True
    LETTER_DEMO_SEAL = False  # tests set it where they need it
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    SERVER_NAME = "localhost"
    PREFERRED_URL_SCHEME = "http"
    AUDIT_HMAC_KEYS = "test:test-only-audit-key-not-secret-00000000"
    PERSON_DATA_KEY = "test-only-person-data-key-not-secret-0000000"
    AUDIT_HMAC_KEY_FILE = None
    AUDIT_HMAC_KEY_ID = "test"
    # Off unless given: tests/conftest.py gives every test its own directory, subprocess tests pass one.
    AUDIT_CHECKPOINT_DIR = _env("AUDIT_CHECKPOINT_DIR")
    DASHBOARD_FIGURES_MAX_AGE = 0  # tests share a process: figures held from another test's data would mislead


class ProductionConfig(Config):
    """Production: everything secret from the environment; refuses to start without it."""

    APP_ENV = "production"  # `flask check` judges stricter here
    # Behind the HTTPS reverse proxy (docs/deployment.md); SESSION_COOKIE_SECURE=0 only for a plain-HTTP trial.
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    PREFERRED_URL_SCHEME = "https"
    # Several gunicorn workers and `flask worker` processes share PostgreSQL: keep each process's pool small. (A
    # pooled connection idle for a second or more is tested before use, so that a database restart costs a
    # reconnect, not an error page: app/__init__.py::_ping_when_idle, for every configuration.)
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_size": int(_env("DB_POOL_SIZE", "5")),
        "max_overflow": int(_env("DB_MAX_OVERFLOW", "5")),
        "pool_recycle": 1800,
    }


CONFIGS = {"development": DevelopmentConfig, "test": TestConfig, "production": ProductionConfig}
