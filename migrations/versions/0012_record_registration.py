"""Records come in: registration by the recording unit, people as subjects, bulk imports, idempotent API posts

Revision ID: 0012
Revises: 0011

credit_record gains the statuses before acceptance (draft, reviewing, returned, withdrawn), the person it is about
(person_id; a person row is made for each civil servant already named on a record), its identity key (recording unit
+ basis document + subject, unique: importing or posting it again finds it), when publication began (published_at:
the public pages and the provincial feed show only records with one), whether a court made it (judicial), where it
came from (source, import_id) and who entered it. New tables: person, person_post, record_import, idempotency_key.
case.type gains registration and source_change; user_role.role gains personnel (组织人事部门).
"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RECORD_STATUS_OLD = "status IN ('published','disputed','corrected','revoked','repaired','expired')"
RECORD_STATUS_NEW = ("status IN ('draft','reviewing','returned','withdrawn','published','disputed','corrected',"
                     "'revoked','repaired','expired')")
CASE_TYPE_OLD = "type IN ('objection','rectification','repair','restoration')"
CASE_TYPE_NEW = "type IN ('registration','source_change','objection','rectification','repair','restoration')"
ROLE_OLD = "role IN ('applicant','intake','verifier','approver','admin','auditor')"
ROLE_NEW = "role IN ('applicant','intake','verifier','approver','admin','auditor','personnel')"


def _utc(value):
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def upgrade():
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("id_cipher", sa.Text()),
        sa.Column("id_digest", sa.String(64)),
        sa.Column("id_masked", sa.String(24), nullable=False, server_default=""),
        sa.Column("unit_id", sa.Integer(), nullable=False, index=True),
        sa.Column("post", sa.String(80), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_person_unit_id_unit")),
        sa.UniqueConstraint("id_digest", name=op.f("uq_person_id_digest")),
    )
    op.create_table(
        "person_post",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("post", sa.String(80), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
    )
    op.create_table(
        "record_import",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False, index=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("existing", sa.Integer(), nullable=False),
        sa.Column("record_ids", sa.JSON(), nullable=False),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
    )
    with op.batch_alter_table("credit_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id", name=op.f("fk_credit_record_person_id_person"))))
        batch_op.add_column(sa.Column("subject_key", sa.String(24)))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("judicial", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("source", sa.String(10), nullable=False, server_default="seed"))
        batch_op.add_column(sa.Column("import_id", sa.Integer(),
                                      sa.ForeignKey("record_import.id", name=op.f("fk_credit_record_import_id_record_import"))))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(),
                                      sa.ForeignKey("app_user.id", name=op.f("fk_credit_record_created_by_id_app_user"))))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True)))
        batch_op.drop_constraint(op.f("ck_credit_record_status"), type_="check")
        batch_op.create_check_constraint("status", RECORD_STATUS_NEW)

    bind = op.get_bind()
    periods = {row.id: (json.loads(row.periods) if isinstance(row.periods, str) else row.periods)
               for row in bind.execute(sa.text("SELECT id, periods FROM rule_set"))}
    people: dict[tuple, int] = {}
    rows = bind.execute(sa.text(
        "SELECT id, subject_type, subject_unit_id, person_name, person_post, severity, status, rule_set_id, "
        "category, publication_start, updated_at FROM credit_record ORDER BY id")).all()
    for row in rows:
        person_id = None
        if row.subject_type == "person":
            key = (row.subject_unit_id, row.person_name or "")
            if key not in people:
                people[key] = bind.execute(sa.text(
                    "INSERT INTO person (name, id_masked, unit_id, post, created_at) "
                    "VALUES (:name, '', :unit, :post, :at) RETURNING id"),
                    {"name": row.person_name or "（未登记姓名）", "unit": row.subject_unit_id,
                     "post": row.person_post or "", "at": _utc(row.updated_at)}).scalar_one()
                bind.execute(sa.text("INSERT INTO person_post (person_id, unit_id, post, start_date) "
                                     "VALUES (:p, :unit, :post, :start)"),
                             {"p": people[key], "unit": row.subject_unit_id, "post": row.person_post or "",
                              "start": row.publication_start})
            person_id = people[key]
        subject_key = f"person:{person_id}" if person_id else f"unit:{row.subject_unit_id}"
        shown = (row.status in ("published", "disputed", "corrected")
                 and (periods.get(row.rule_set_id) or {}).get(row.severity, {}).get("published", True))
        bind.execute(sa.text(
            "UPDATE credit_record SET person_id = :p, subject_key = :k, published_at = :pub, judicial = :j, "
            "created_at = :at WHERE id = :id"),
            {"p": person_id, "k": subject_key, "pub": _utc(row.updated_at) if shown else None,
             "j": row.category == "judgment", "at": _utc(row.updated_at), "id": row.id})

    with op.batch_alter_table("credit_record", schema=None) as batch_op:
        batch_op.alter_column("subject_key", existing_type=sa.String(24), nullable=False)
        batch_op.create_index("ix_credit_record_person_id", ["person_id"])
        batch_op.create_index("ix_credit_record_import_id", ["import_id"])
        batch_op.create_unique_constraint("uq_record_identity", ["recording_unit_id", "basis_doc_no", "subject_key"])
        batch_op.create_check_constraint("person_subject", "subject_type = 'unit' OR person_id IS NOT NULL")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_case_type"), type_="check")
        batch_op.create_check_constraint("type", CASE_TYPE_NEW)
    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_role_role"), type_="check")
        batch_op.create_check_constraint("role", ROLE_NEW)


def downgrade():
    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_role_role"), type_="check")
        batch_op.create_check_constraint("role", ROLE_OLD)
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_case_type"), type_="check")
        batch_op.create_check_constraint("type", CASE_TYPE_OLD)
    with op.batch_alter_table("credit_record", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_record_person_subject"), type_="check")
        batch_op.drop_constraint("uq_record_identity", type_="unique")
        batch_op.drop_index("ix_credit_record_import_id")
        batch_op.drop_index("ix_credit_record_person_id")
        batch_op.drop_constraint(op.f("ck_credit_record_status"), type_="check")
        batch_op.create_check_constraint("status", RECORD_STATUS_OLD)
        for column in ("created_at", "created_by_id", "import_id", "source", "judicial", "published_at",
                       "subject_key", "person_id"):
            batch_op.drop_column(column)
    op.drop_table("idempotency_key")
    op.drop_table("record_import")
    op.drop_table("person_post")
    op.drop_table("person")
