"""Indexes for the sweep's daily record rules: no full scan of credit_record on every sweep (issue 15 point 7)

Revision ID: 0015_requests
Revises: 0014

The load test's `flask worker` read the whole of credit_record twice per sweep (EXPLAIN: Seq Scan): the records
past their period (`status IN (published, corrected, disputed) AND auto_end_date < today`) and the records whose
publication is due (`published_at IS NULL AND publication_start <= today`). The first is served by (status,
auto_end_date); the second by a partial index over the few unpublished records (both dialects support the WHERE).
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_requests"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_credit_record_status_auto_end", "credit_record", ["status", "auto_end_date"])
    op.create_index("ix_credit_record_publish_due", "credit_record", ["publication_start"],
                    sqlite_where=sa.text("published_at IS NULL"), postgresql_where=sa.text("published_at IS NULL"))


def downgrade():
    op.drop_index("ix_credit_record_publish_due", table_name="credit_record")
    op.drop_index("ix_credit_record_status_auto_end", table_name="credit_record")
