"""inbox filters without a join: the case's unit and the record's category and severity on human_task, indexed in
due order; 已办 indexes end in id; SQLite's planner statistics for human_task pinned to a large queue's shape

Revision ID: 0015_inbox
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_inbox"
down_revision = "0014"
branch_labels = None
depends_on = None

OPEN = "status='open'"
DONE = "completed_by_id IS NOT NULL"
INDEXES = (
    ("ix_human_task_open_lane_unit_due", ["lane", "applicant_unit_id", "due_at", "id"], OPEN),
    ("ix_human_task_open_lane_category_due", ["lane", "category", "due_at", "id"], OPEN),
    ("ix_human_task_open_lane_severity_due", ["lane", "severity", "due_at", "id"], OPEN),
    ("ix_human_task_done_by_unit", ["completed_by_id", "applicant_unit_id", "completed_at", "id"], DONE),
    ("ix_human_task_done_by_category", ["completed_by_id", "category", "completed_at", "id"], DONE),
    ("ix_human_task_done_by_severity", ["completed_by_id", "severity", "completed_at", "id"], DONE),
)
# The 已办 indexes of 0005 and 0008 end in completed_at: tasks completed at one instant (a bulk start, an import)
# were sorted by id in a temporary tree, all tens of thousands of them. With id last they are read in order.
REBUILT = (
    ("ix_human_task_done_by", ["completed_by_id", "completed_at"]),
    ("ix_human_task_done_by_type", ["completed_by_id", "case_type", "completed_at"]),
)

# sqlite_stat1 rows for human_task as ANALYZE writes them for 100,000 open tasks in a few lanes (rounded): SQLite
# plans with these until a real ANALYZE replaces them. Without statistics it takes an equality on `lane` for ~10
# rows, and then any index whose prefix matches looks as good as the one that reads the tab in due order, so a new
# index (the ones above) could take the unfiltered tabs' plan and sort the whole lane. With a lane of thousands of
# rows it keeps the index that needs no sort.
SQLITE_STAT1 = {
    "sqlite_autoindex_human_task_1": "200000 1",
    "ix_human_task_instance_id": "200000 2",
    "ix_human_task_case_id": "200000 2",
    "ix_human_task_open_lane_due": "100000 20000 20000 3 1",
    "ix_human_task_open_lane_only_due": "100000 20000 3 1",
    "ix_human_task_open_lane_type_due": "100000 20000 10000 3 1",
    "ix_human_task_open_assigned_due": "2000 200 2 1",
    "ix_human_task_done_by": "100000 20000 3 1",
    "ix_human_task_done_by_type": "100000 20000 10000 3 1",
    "ix_human_task_status_due_figures": "200000 70000 3 3 1 1",
    "ix_human_task_open_lane_unit_due": "100000 20000 300 2 1",
    "ix_human_task_open_lane_category_due": "100000 20000 10000 3 1",
    "ix_human_task_open_lane_severity_due": "100000 20000 10000 3 1",
    "ix_human_task_done_by_unit": "100000 20000 300 2 1",
    "ix_human_task_done_by_category": "100000 20000 10000 3 1",
    "ix_human_task_done_by_severity": "100000 20000 10000 3 1",
}
STATISTICS = (("st_human_task_lane_category", "category"), ("st_human_task_lane_severity", "severity"),
              ("st_human_task_lane_unit", "applicant_unit_id"))
PINNED_BELOW = 10_000  # open tasks: a smaller table keeps the pinned shape, a larger one is analyzed for real


def upgrade():
    op.add_column("human_task", sa.Column("applicant_unit_id", sa.Integer(), nullable=True))
    op.add_column("human_task", sa.Column("category", sa.String(20), nullable=True))
    op.add_column("human_task", sa.Column("severity", sa.String(10), nullable=True))
    # Indexes before the backfill: built after it, PostgreSQL marks them usable only once every transaction older
    # than the migration has ended (indcheckxmin), and the inbox walks the lane meanwhile.
    for name, columns in REBUILT:
        op.drop_index(name, table_name="human_task")
        op.create_index(name, "human_task", [*columns, "id"], sqlite_where=sa.text(DONE), postgresql_where=sa.text(DONE))
    for name, columns, where in INDEXES:
        op.create_index(name, "human_task", columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    op.execute('UPDATE human_task SET applicant_unit_id = (SELECT c.applicant_unit_id FROM "case" c '
               'WHERE c.id = human_task.case_id), '
               'category = (SELECT r.category FROM "case" c JOIN credit_record r ON r.id = c.record_id '
               'WHERE c.id = human_task.case_id), '
               'severity = (SELECT r.severity FROM "case" c JOIN credit_record r ON r.id = c.record_id '
               'WHERE c.id = human_task.case_id)')
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        pin_sqlite_statistics(bind)
    else:
        # A value can be common in the table (completed tasks) and rare in a lane's open tasks (category=breach for
        # the intake lane): without these statistics the planner takes the columns as independent, expects the
        # value in every other row and walks the lane in due order to find it.
        for name, column in STATISTICS:
            op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) ON status, lane, {column} FROM human_task")
        op.execute("ANALYZE human_task")  # the new columns' statistics, before autovacuum gets to them


def pin_sqlite_statistics(bind) -> None:
    """Write human_task's sqlite_stat1 rows: the pinned shape for a small table, a real ANALYZE for a large one."""
    open_tasks = bind.execute(sa.text("SELECT count(*) FROM human_task WHERE status = 'open'")).scalar()
    if open_tasks >= PINNED_BELOW:
        bind.execute(sa.text("ANALYZE human_task"))
        return
    bind.execute(sa.text("ANALYZE human_task"))  # creates sqlite_stat1 if no ANALYZE ever ran
    bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = 'human_task'"))
    for index, stat in SQLITE_STAT1.items():
        bind.execute(sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('human_task', :idx, :stat)"),
                     {"idx": index, "stat": stat})
    bind.execute(sa.text("ANALYZE sqlite_schema"))  # reload the statistics into this connection's schema


def downgrade():
    for name, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name="human_task")
    for name, columns in REBUILT:
        op.drop_index(name, table_name="human_task")
        op.create_index(name, "human_task", columns, sqlite_where=sa.text(DONE), postgresql_where=sa.text(DONE))
    if op.get_bind().dialect.name == "postgresql":
        for name, _column in STATISTICS:
            op.execute(f"DROP STATISTICS IF EXISTS {name}")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM sqlite_stat1 WHERE idx IN (%s)" % ", ".join(f"'{n}'" for n, _c, _w in INDEXES))
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("severity")
        batch.drop_column("category")
        batch.drop_column("applicant_unit_id")
