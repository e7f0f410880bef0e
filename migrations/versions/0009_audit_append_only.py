"""audit_event: append-only on PostgreSQL (a trigger refuses UPDATE and DELETE except an archival purge); search indexes

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# `flask audit archive` sets xinyong.audit_purge for its own transaction only, after the archive file is written
# and verified (app.services.audit.archive.archive_before). Anything else that updates or deletes audit rows is refused,
# so a bug or a stolen application login cannot rewrite history; TRUNCATE and DROP stay with the table owner.
FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('xinyong.audit_purge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade():
    # The auditor's search filters; keyset paging walks id newest-first within each.
    op.create_index("ix_audit_event_username_id", "audit_event", ["username", "id"])
    op.create_index("ix_audit_event_unit_id_id", "audit_event", ["unit_id", "id"])
    op.create_index("ix_audit_event_object", "audit_event", ["object_type", "object_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    op.drop_index("ix_audit_event_object", table_name="audit_event")
    op.drop_index("ix_audit_event_unit_id_id", table_name="audit_event")
    op.drop_index("ix_audit_event_username_id", table_name="audit_event")
