"""Units can be deactivated; an account can be told to change an issued password at its next sign-in

Revision ID: 0011
Revises: 0010

unit.active: a deactivated unit gets no new accounts and is not offered in forms; its records, cases and accounts
stay as they are. app_user.must_change_password: a password an administrator issued (a new account, a reset) is
known to two people, so its holder changes it before anything else (as with an expired one).
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_column("active")
