"""Record and case lists in index order: every record, a unit's records as subject and as recording unit, its cases

Revision ID: 0017
Revises: 0016

/portal/records (the subject unit's records, newest basis date first) and /records for a recording unit read every
record of the unit through the single-column index and sorted them for each page: 27 ms of SQL at 4,700 records of
one subject, 107 ms at 60,000 of one recording unit (SQLite, benchmark data). The composite indexes give the order
itself (a page is the first 50 entries of a range) and, with the status in the subject's, the pager's count from
the index alone. The credit office's list of every record (/records, now paged after a cursor and counted to a
cap by services/register.py) sorted the whole register for each view: it reads the shown records from the public
index and the others from a partial index of their own in the same order, merged. applicant unit's case list (/portal/cases) likewise: the case's type and outcome, which access.case_filter reads,
are in the index, so its count stops reading 4,700 table rows (8 ms). Each unit index leads with the column of the
single-column index it replaces, so every lookup by unit keeps one.
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The records the public never sees (app/models/records.py RECORD_UNSHOWN_SQL, written out: a migration stays as
# released whatever the model becomes).
UNSHOWN = "NOT (status IN ('published', 'disputed', 'corrected') AND published_at IS NOT NULL)"

# sqlite_stat1 rows for credit_record as ANALYZE writes them for a register of a million records (the benchmark's,
# rounded; a unit's share as in a city of some hundred recording units). Without statistics SQLite takes an
# equality or IN on status for ~10 rows and reads the public list through the status index, sorting every shown
# record for each page; with these it keeps the index that gives the list's order. A register this small keeps the
# pinned shape; a larger one is analyzed for real (as 0015 does for human_task).
SQLITE_STAT1 = {
    "sqlite_autoindex_credit_record_1": "1000000 5000 1 1",
    "ix_credit_record_doc_no": "1000000 1",
    "ix_credit_record_import_id": "1000000 1000",
    "ix_credit_record_person_id": "1000000 5",
    "ix_credit_record_status": "1000000 110000",
    "ix_credit_record_status_auto_end": "1000000 110000 60",
    "ix_credit_record_publish_due": "40000 20",
    "ix_credit_record_public": "900000 500 1 1 1 1 1 1",
    "ix_credit_record_public_unit": "900000 180 1 1 1 1 1 1",
    "ix_credit_record_subject_list": "1000000 200 2 1 1",
    "ix_credit_record_recording_list": "1000000 5000 30 1",
    "ix_credit_record_unshown": "100000 55 1",
}
PINNED_BELOW = 10_000  # records


def upgrade():
    op.create_index("ix_credit_record_subject_list", "credit_record",
                    ["subject_unit_id", "basis_date", "id", "status"])
    op.create_index("ix_credit_record_recording_list", "credit_record", ["recording_unit_id", "basis_date", "id"])
    op.create_index("ix_credit_record_unshown", "credit_record", ["basis_date", "id"],
                    sqlite_where=sa.text(UNSHOWN), postgresql_where=sa.text(UNSHOWN))
    op.drop_index("ix_credit_record_subject_unit_id", table_name="credit_record")
    op.drop_index("ix_credit_record_recording_unit_id", table_name="credit_record")
    op.create_index("ix_case_applicant_list", "case", ["applicant_unit_id", "id", "type", "outcome"])
    op.drop_index("ix_case_applicant_unit_id", table_name="case")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        pin_sqlite_statistics(bind)
    else:
        op.execute('ANALYZE credit_record, "case"')  # the new indexes' statistics, before autovacuum gets to them


def pin_sqlite_statistics(bind) -> None:
    """Write credit_record's sqlite_stat1 rows: the pinned shape for a small register, a real ANALYZE for a large one
    (the case table's new index is analyzed as it is: its plans do not depend on the shape)."""
    bind.execute(sa.text('ANALYZE "case"'))
    bind.execute(sa.text("ANALYZE credit_record"))  # creates sqlite_stat1 if no ANALYZE ever ran
    if bind.execute(sa.text("SELECT count(*) FROM credit_record")).scalar() < PINNED_BELOW:
        bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = 'credit_record'"))
        for index, stat in SQLITE_STAT1.items():
            bind.execute(sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('credit_record', :idx, :stat)"),
                         {"idx": index, "stat": stat})
    bind.execute(sa.text("ANALYZE sqlite_schema"))  # reload the statistics into this connection's schema


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'credit_record'")
    op.create_index("ix_case_applicant_unit_id", "case", ["applicant_unit_id"])
    op.drop_index("ix_case_applicant_list", table_name="case")
    op.create_index("ix_credit_record_recording_unit_id", "credit_record", ["recording_unit_id"])
    op.create_index("ix_credit_record_subject_unit_id", "credit_record", ["subject_unit_id"])
    op.drop_index("ix_credit_record_unshown", table_name="credit_record")
    op.drop_index("ix_credit_record_recording_list", table_name="credit_record")
    op.drop_index("ix_credit_record_subject_list", table_name="credit_record")
