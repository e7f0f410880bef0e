"""copy the case's process type onto human_task for queue filters without a join

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_type", sa.String(length=16), nullable=True))
    op.execute('UPDATE human_task SET case_type = (SELECT "case".type FROM "case" WHERE "case".id = human_task.case_id)')
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.alter_column("case_type", existing_type=sa.String(length=16), nullable=False)
    op.create_index("ix_human_task_open_lane_type_due", "human_task", ["lane", "case_type", "due_at", "id"],
                    sqlite_where=sa.text("status='open'"), postgresql_where=sa.text("status='open'"))


def downgrade():
    op.drop_index("ix_human_task_open_lane_type_due", table_name="human_task")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_column("case_type")
