"""indexes: the 已办 tab filtered by process, and the dashboard figures at 100,000 cases

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    # 已办 filtered by process: a reviewer's tens of thousands of done tasks are otherwise read to find a few.
    op.create_index("ix_human_task_done_by_type", "human_task", ["completed_by_id", "case_type", "completed_at"],
                    sqlite_where=sa.text("completed_by_id IS NOT NULL"),
                    postgresql_where=sa.text("completed_by_id IS NOT NULL"))
    # Dashboard: overdue open tasks by type and their cases, and the on-time rate of completed tasks by type,
    # read from this index alone (status leads: SQLite covers a query only with every column it names).
    op.create_index("ix_human_task_status_due_figures", "human_task",
                    ["status", "due_at", "case_type", "case_id", "completed_at"])
    # Dashboard: open cases by type and by unit, and which of them have an overdue task. It leads with status,
    # so the single-column status index is redundant.
    op.create_index("ix_case_status_unit_type", "case", ["status", "applicant_unit_id", "type", "id"])
    op.drop_index("ix_case_status", table_name="case")
    # Dashboard: cases submitted per month, and handling time of cases closed in the last 12 months.
    op.create_index("ix_case_submitted_type", "case", ["submitted_at", "type"])
    op.create_index("ix_case_status_closed", "case", ["status", "closed_at", "submitted_at"])


def downgrade():
    op.drop_index("ix_case_status_closed", table_name="case")
    op.drop_index("ix_case_submitted_type", table_name="case")
    op.create_index("ix_case_status", "case", ["status"])
    op.drop_index("ix_case_status_unit_type", table_name="case")
    op.drop_index("ix_human_task_status_due_figures", table_name="human_task")
    op.drop_index("ix_human_task_done_by_type", table_name="human_task")
