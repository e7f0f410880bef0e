"""Indexes for the worker: a claim that expired in the outbox, and the daily rules' queries (issue 15)

Revision ID: 0015_timers
Revises: 0014

The sweep's probe (services/worker.due_phases) and outbox.due_ids look for messages whose claim expired
(status 'sending'); without an index that half of the query reads the whole outbox. The daily rules run once per
local day and each reads through an index: disqualifications whose term ended (kind, status, term_end); the two
record rules' indexes (records past their period, records whose publication begins) are migration 0015_requests'.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_timers"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_outbox_sending_claimed", "outbox", ["claimed_until"],
                    sqlite_where=sa.text("status='sending'"), postgresql_where=sa.text("status='sending'"))
    op.create_index("ix_sanction_kind_status_term", "sanction", ["kind", "status", "term_end"])


def downgrade():
    op.drop_index("ix_sanction_kind_status_term", table_name="sanction")
    op.drop_index("ix_outbox_sending_claimed", table_name="outbox")
