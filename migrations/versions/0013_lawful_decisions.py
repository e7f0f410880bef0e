"""Lawful decisions (issue 13): rule-set policy data, letter templates with versions, letter delivery

Revision ID: 0013
Revises: 0012

rule_set.policy: the rule set's legal choices as data (catalogue of measures with their legal basis, the sentences
saying how to challenge a decision by subject type, a repeat-offence bar only with its cited basis, the transition
reading for records dated before a rule set took effect, …); keys are read with defaults in app/services/rules.py.
letter_template: the versioned text of each letter type an administrator edits (a new row per saved version; the
newest one is used); letter.template_version: the version an issued letter was written from (0: the built-in text).
letter.delivered_at / delivery_method / delivered_by_id / delivery_note: 送达 — electronic when the addressee unit
opens it in the app, otherwise the date the office enters; deadlines that depend on a letter run from its delivery.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rule_set", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "letter_template",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("letter_type", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("formula", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("letter_type", "version", name="uq_letter_template_version"),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivery_method", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("delivered_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delivery_note", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_letter_delivered_by", "app_user", ["delivered_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_constraint("fk_letter_delivered_by", type_="foreignkey")
        for column in ("delivery_note", "delivered_by_id", "delivery_method", "delivered_at", "template_version"):
            batch_op.drop_column(column)
    op.drop_table("letter_template")
    with op.batch_alter_table("rule_set", schema=None) as batch_op:
        batch_op.drop_column("policy")
