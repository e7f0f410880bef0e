"""indexes: the public record list, its document-number search, and the audit search by address and outcome

Revision ID: 0015_pages
Revises: 0014

The public list (/public/records, no login) is paged and counted in SQL at a million records: two partial indexes
hold exactly the records shown (a public status, publication begun), one in list order (newest basis date first)
and one per subject unit, each followed by the filters' columns so that a page and its capped count read the index
alone. The basis document number is searched by its beginning, the audit log by an address prefix: on PostgreSQL
with text_pattern_ops, whose byte-wise range operators answer a prefix under any collation (app/services/prefix.py);
SQLite's plain index is already in byte order. The audit outcome (failures, refusals) leads an index with the id, so
newest-first keyset paging of a rare outcome reads only its entries.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_pages"
down_revision = "0014"
branch_labels = None
depends_on = None

# The same words as app.models.records.RECORD_SHOWN_SQL (a migration never imports the app).
SHOWN = "status IN ('published', 'disputed', 'corrected') AND published_at IS NOT NULL"


def upgrade():
    op.create_index("ix_credit_record_public", "credit_record",
                    ["basis_date", "id", "category", "severity", "rule_set_id", "subject_type", "subject_unit_id"],
                    sqlite_where=sa.text(SHOWN), postgresql_where=sa.text(SHOWN))
    op.create_index("ix_credit_record_public_unit", "credit_record",
                    ["subject_unit_id", "basis_date", "id", "subject_type", "category", "severity", "rule_set_id"],
                    sqlite_where=sa.text(SHOWN), postgresql_where=sa.text(SHOWN))
    op.create_index("ix_credit_record_doc_no", "credit_record", ["basis_doc_no"],
                    postgresql_ops={"basis_doc_no": "text_pattern_ops"})
    op.create_index("ix_audit_event_ip_id", "audit_event", ["ip", "id"], postgresql_ops={"ip": "text_pattern_ops"})
    op.create_index("ix_audit_event_outcome_id", "audit_event", ["outcome", "id"])


def downgrade():
    op.drop_index("ix_audit_event_outcome_id", table_name="audit_event")
    op.drop_index("ix_audit_event_ip_id", table_name="audit_event")
    op.drop_index("ix_credit_record_doc_no", table_name="credit_record")
    op.drop_index("ix_credit_record_public_unit", table_name="credit_record")
    op.drop_index("ix_credit_record_public", table_name="credit_record")
