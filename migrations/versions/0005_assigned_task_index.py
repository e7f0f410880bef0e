"""queue indexes: claimed open tasks, lane + due order for credit-office queues, a person's done tasks

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_human_task_open_assignee_due", table_name="human_task")
    op.create_index("ix_human_task_open_assigned_due", "human_task", ["assignee_id", "due_at", "id"],
                    sqlite_where=sa.text("status='open' AND assignee_id IS NOT NULL"),
                    postgresql_where=sa.text("status='open' AND assignee_id IS NOT NULL"))
    op.create_index("ix_human_task_open_lane_only_due", "human_task", ["lane", "due_at", "id"],
                    sqlite_where=sa.text("status='open'"), postgresql_where=sa.text("status='open'"))
    op.create_index("ix_human_task_done_by", "human_task", ["completed_by_id", "completed_at"],
                    sqlite_where=sa.text("completed_by_id IS NOT NULL"),
                    postgresql_where=sa.text("completed_by_id IS NOT NULL"))


def downgrade():
    op.drop_index("ix_human_task_done_by", table_name="human_task")
    op.drop_index("ix_human_task_open_lane_only_due", table_name="human_task")
    op.drop_index("ix_human_task_open_assigned_due", table_name="human_task")
    op.create_index("ix_human_task_open_assignee_due", "human_task", ["assignee_id", "due_at", "id"],
                    sqlite_where=sa.text("status='open'"), postgresql_where=sa.text("status='open'"))
