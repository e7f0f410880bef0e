"""Record and case lists in index order: every record, a unit's records as subject and as recording unit, its cases

Revision ID: 0017
Revises: 0016

/portal/records (the subject unit's records, newest basis date first) and /records for a recording unit read every
record of the unit through the single-column index and sorted them for each page: 27 ms of SQL at 4,700 records of
one subject, 107 ms at 60,000 of one recording unit (SQLite, benchmark data). The composite indexes give the order
itself (a page is the first 50 entries of a range) and, with the status in the subject's, the pager's count from
the index alone. The credit office's list of every record (/records, now paged after a cursor and counted to a
cap by services/register.py) sorted the whole register for each view: (basis_date, id) gives its order. The
applicant unit's case list (/portal/cases) likewise: the case's type and outcome, which access.case_filter reads,
are in the index, so its count stops reading 4,700 table rows (8 ms). Each unit index leads with the column of the
single-column index it replaces, so every lookup by unit keeps one.
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_credit_record_subject_list", "credit_record",
                    ["subject_unit_id", "basis_date", "id", "status"])
    op.create_index("ix_credit_record_recording_list", "credit_record", ["recording_unit_id", "basis_date", "id"])
    op.create_index("ix_credit_record_basis", "credit_record", ["basis_date", "id"])
    op.drop_index("ix_credit_record_subject_unit_id", table_name="credit_record")
    op.drop_index("ix_credit_record_recording_unit_id", table_name="credit_record")
    op.create_index("ix_case_applicant_list", "case", ["applicant_unit_id", "id", "type", "outcome"])
    op.drop_index("ix_case_applicant_unit_id", table_name="case")


def downgrade():
    op.create_index("ix_case_applicant_unit_id", "case", ["applicant_unit_id"])
    op.drop_index("ix_case_applicant_list", table_name="case")
    op.create_index("ix_credit_record_recording_unit_id", "credit_record", ["recording_unit_id"])
    op.create_index("ix_credit_record_subject_unit_id", "credit_record", ["subject_unit_id"])
    op.drop_index("ix_credit_record_basis", table_name="credit_record")
    op.drop_index("ix_credit_record_recording_list", table_name="credit_record")
    op.drop_index("ix_credit_record_subject_list", table_name="credit_record")
