"""A repeat-offence bar only with its cited legal basis (issue 13 §6)

Revision ID: 0014
Revises: 0013

Migration 0003 wrote {"repeat_within_months": 12} into every rule set, a local rule with no legal basis. Under
令第36号 第二条 a record is "not repairable" only where law, regulation or a 党中央/国务院 document says so, and the
reading of the bar now ignores one without a basis; this clears such bars from the stored rows so the admin page and
the API do not show a rule that is not applied. A bar that names its basis ("legal_basis") is kept. Downgrade does
not restore the unlawful default.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, repair_bar FROM rule_set")).fetchall()
    for row_id, bar in rows:
        if isinstance(bar, str):
            bar = json.loads(bar or "{}")
        bar = bar or {}
        if bar and not str(bar.get("legal_basis") or "").strip():
            bind.execute(sa.text("UPDATE rule_set SET repair_bar = :bar WHERE id = :id"),
                         {"bar": json.dumps({}), "id": row_id})


def downgrade():
    pass
