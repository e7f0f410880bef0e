"""Migrations upgrade a database that already holds data (the demo database of an earlier release)."""
from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Case, CreditRecord
from app.core import clock
from tests.support.constants import T0
from tests.support.harness import make_app, migrate_from_empty, shared_url


def test_upgrade_with_data_then_downgrade_and_back(app, tmp_path):
    url = shared_url(tmp_path)
    other = make_app(url, tmp_path / "files")
    with other.app_context():
        migrate_from_empty(revision="0002")
        clock.set_frozen(T0)
        # Data as an 0002 database holds it, written with plain SQL (today's models are newer).
        db.session.execute(text(
            "INSERT INTO unit (id, name, kind, uscc, region, is_credit_office) VALUES "
            "(1, '信用办', 'department', '11421300DM0000011X', '', true), (2, '某局', 'department', '11421300DM0000022X', '', false)"))
        db.session.execute(text(
            "INSERT INTO rule_set (id, code, name, legal_basis, effective_from, periods, time_limits) VALUES "
            "(1, 'R', 'R', 'R', '2023-05-01', '{}', '{}')"))
        db.session.execute(text(
            "INSERT INTO app_user (id, username, display_name, unit_id, password_hash, password_changed_at, failed_logins, active) "
            "VALUES (1, 'u', 'u', 2, 'x', '2026-11-27 00:00:00', 0, true)"))
        db.session.execute(text(
            "INSERT INTO credit_record (id, subject_type, subject_unit_id, category, severity, recording_unit_id, basis_doc_no, "
            "basis_date, facts, legal_basis, status, publication_start, earliest_repair_date, auto_end_date, rule_set_id, updated_at) "
            "VALUES (1, 'unit', 2, 'breach', 'general', 1, 'X', '2026-01-01', 'f', 'l', 'published', '2026-01-01', "
            "'2026-04-01', '2027-01-01', 1, '2026-11-27 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO \"case\" (id, number, query_code, type, status, record_id, applicant_unit_id, created_by_id, rule_set_id, "
            "form, current_step, created_at) VALUES (1, 'YY-2026-000001', 'AB', 'objection', 'draft', 1, 2, 1, 1, '{}', '', "
            "'2026-11-27 00:00:00')"))
        db.session.commit()
        upgrade()
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
        assert db.session.scalar(select(func.count()).select_from(CreditRecord)) == 1
        # 0003 wrote a 12-month bar with no legal basis; 0014 clears it (令第36号第二条: no bar without a basis).
        assert db.session.execute(text("SELECT repair_bar FROM rule_set")).scalar() in ({}, '{}')
        if url.startswith("sqlite"):
            assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
            assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1  # restored after the batch
        db.session.commit()  # end the read transaction before Alembic takes its own connection
        downgrade(revision="0002")
        upgrade()
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
        clock.set_frozen(None)
        db.session.remove()
        db.engine.dispose()


def test_models_and_migrations_agree(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.models._types import schema_filter

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection,
                                             opts={"include_object": schema_filter(connection.dialect.name)})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], diff
