"""Justifications of exceptional accesses: break-the-glass reasons and research formalities, pointed to by the trail.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_justification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_justification")),
    )
    op.create_index(op.f("ix_access_justification_patient_id"), "access_justification", ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_access_justification_patient_id"), table_name="access_justification")
    op.drop_table("access_justification")
