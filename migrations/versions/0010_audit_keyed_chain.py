"""audit_event: key id of the HMAC seal; PostgreSQL: only the table owner's archive function deletes, TRUNCATE refused

Revision ID: 0010
Revises: 0009

Rows written before this migration keep key_id NULL: they were sealed with plain SHA-256 and are accepted only
before the first keyed row (app.services.audit). The migration cannot re-seal them: the key is not in the database.

PostgreSQL (docs/deployment.md §4): the application logs in as its own role, which is not the owner of
audit_event and holds SELECT and INSERT on it only. The rows of an archival purge are deleted by
audit_event_archive(), a SECURITY DEFINER function owned by the role that runs this migration (the owner). It
checks the anchor event the archive command has just appended and refuses rows younger than six months by the
database's own clock. The trigger lets a DELETE through only for the owner with xinyong.audit_purge set (which
the function does), so the setting alone opens nothing to the application's login, and TRUNCATE is refused for
everyone.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('xinyong.audit_purge', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# 0009's function, restored by downgrade.
APPEND_ONLY_0009 = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('xinyong.audit_purge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# Called by app.services.audit.archive.archive_before after it appended the anchor event (newest row) in the same
# transaction. It cannot check the anchor's HMAC (the key is not in the database): a caller who forges one can
# purge only rows older than six months, and `flask audit verify` then reports the forged anchor.
ARCHIVE = """
CREATE OR REPLACE FUNCTION audit_event_archive(p_through_id bigint, p_anchor_id bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    anchor audit_event%ROWTYPE;
    v_count bigint;
    v_first bigint;
    v_first_prev text;
    v_last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(7071001);  -- the chain's writer lock (app.services.audit.chain.lock_chain)
    SELECT * INTO anchor FROM audit_event WHERE id = p_anchor_id;
    IF NOT FOUND OR anchor.action <> 'audit.archived' THEN
        RAISE EXCEPTION 'audit archive refused: event % is not an audit.archived anchor', p_anchor_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_anchor_id <> (SELECT max(id) FROM audit_event) THEN
        RAISE EXCEPTION 'audit archive refused: the anchor must be the newest event'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT count(*), min(id) INTO v_count, v_first FROM audit_event WHERE id <= p_through_id;
    SELECT prev_hash INTO v_first_prev FROM audit_event WHERE id = v_first;
    SELECT hash INTO v_last_hash FROM audit_event WHERE id = p_through_id;
    IF v_count = 0 OR p_through_id >= p_anchor_id
       OR (anchor.details->>'through_id') IS DISTINCT FROM p_through_id::text
       OR (anchor.details->>'count') IS DISTINCT FROM v_count::text
       OR (anchor.details->>'first_id') IS DISTINCT FROM v_first::text
       OR (anchor.details->>'first_prev_hash') IS DISTINCT FROM v_first_prev
       OR (anchor.details->>'last_hash') IS DISTINCT FROM v_last_hash THEN
        RAISE EXCEPTION 'audit archive refused: the anchor does not describe events up to %', p_through_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_event WHERE id <= p_through_id AND at >= now() - interval '183 days') THEN
        RAISE EXCEPTION 'audit archive refused: events younger than six months are kept'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('xinyong.audit_purge', 'on', true);
    DELETE FROM audit_event WHERE id <= p_through_id;
    PERFORM set_config('xinyong.audit_purge', '', true);
    RETURN v_count;
END
$$
"""

# Whoever holds UPDATE, DELETE or TRUNCATE on audit_event (an earlier GRANT ALL) loses it; whoever may append
# (the application's login) may call the archive function. The owner keeps its rights: it is the trust root.
PRIVILEGES = """
DO $$
DECLARE
    who text;
BEGIN
    FOR who IN SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
               FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid = 'audit_event'::regclass AND a.grantee <> c.relowner
                 AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_event FROM %s', who);
    END LOOP;
    REVOKE ALL ON FUNCTION audit_event_archive(bigint, bigint) FROM PUBLIC;
    FOR who IN SELECT DISTINCT quote_ident(pg_get_userbyid(a.grantee))
               FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid = 'audit_event'::regclass AND a.grantee NOT IN (0, c.relowner)
                 AND a.privilege_type = 'INSERT'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION audit_event_archive(bigint, bigint) TO %s', who);
    END LOOP;
END
$$
"""


def upgrade():
    op.add_column("audit_event", sa.Column("key_id", sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        op.execute("CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()")
        op.execute(ARCHIVE)
        op.execute(PRIVILEGES)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_event_archive(bigint, bigint)")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute(APPEND_ONLY_0009)
    # Keyed rows cannot be verified without their key id: downgrading gives up the keyed chain.
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("key_id")
