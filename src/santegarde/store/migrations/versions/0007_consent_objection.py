"""Consent and objection ledgers: the path decides from stored records, not from what a client asserts.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ledger")),
    )
    op.create_index(op.f("ix_consent_ledger_consent_id"), "consent_ledger", ["consent_id"], unique=False)
    op.create_index("ix_consent_ledger_scope", "consent_ledger", ["patient_id", "category", "purpose"], unique=False)
    op.create_table(
        "objection_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("lift_kind", sa.String(length=20), nullable=True),
        sa.Column("justification", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection_ledger")),
    )
    op.create_index("ix_objection_ledger_scope", "objection_ledger", ["patient_id", "purpose"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_objection_ledger_scope", table_name="objection_ledger")
    op.drop_table("objection_ledger")
    op.drop_index("ix_consent_ledger_scope", table_name="consent_ledger")
    op.drop_index(op.f("ix_consent_ledger_consent_id"), table_name="consent_ledger")
    op.drop_table("consent_ledger")
