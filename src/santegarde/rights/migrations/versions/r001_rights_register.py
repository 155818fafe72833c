"""Rights: the register of data-subject requests, objections honoured and records frozen by a restriction.

Revision ID: r001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "r001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referential", sa.String(length=40), nullable=False),
        sa.Column("right", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("requester", sa.String(length=30), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=True),
        sa.Column("grounds", sa.Text(), nullable=True),
        sa.Column("older_than_five_years", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_rule", sa.String(length=200), nullable=False),
        sa.Column("extended_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("identity_check", sa.Text(), nullable=True),
        sa.Column("identity_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_checked_by", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=120), nullable=True),
        sa.Column("section", sa.String(length=40), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rights_request_patient_id", "rights_request", ["patient_id"])
    op.create_index("ix_rights_request_status", "rights_request", ["status", "due_at"])
    op.create_table(
        "rights_objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("warehouse", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rights_objection_patient_id", "rights_objection", ["patient_id"])
    op.create_table(
        "rights_freeze",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "resource_type", "record_id"),
    )


def downgrade() -> None:
    op.drop_table("rights_freeze")
    op.drop_index("ix_rights_objection_patient_id", table_name="rights_objection")
    op.drop_table("rights_objection")
    op.drop_index("ix_rights_request_status", table_name="rights_request")
    op.drop_index("ix_rights_request_patient_id", table_name="rights_request")
    op.drop_table("rights_request")
