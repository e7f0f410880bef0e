"""TOTP second factor for admin and approver accounts

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from app.models._types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        # The base32 secret; set at enrolment, confirmed once the holder typed a valid code.
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_confirmed_at", UTCDateTime(), nullable=True))
        # The last accepted 30-second step: a code is accepted at most once (no replay).
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret")
