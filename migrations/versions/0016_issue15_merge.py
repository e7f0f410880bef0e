"""Join the four index revisions of issue 15 (fast at scale) into one head

Revision ID: 0016
Revises: 0015_requests, 0015_timers, 0015_inbox, 0015_pages

Each 0015 revision touches tables of its own (credit_record's daily-rule indexes; the outbox and sanction; the
inbox's copied facts on human_task; the public list and audit search), so they apply in any order; this revision
only makes them one line again for later ones.
"""

revision = "0016"
down_revision = ("0015_requests", "0015_timers", "0015_inbox", "0015_pages")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
