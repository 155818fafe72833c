"""Compassionate access: the case index (patient number, programme version, establishment).

Revision ID: c001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "c001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aac_case",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("establishment", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("patient_id"),
    )
    op.create_index("ix_aac_case_programme", "aac_case", ["programme"])
    op.create_index("ix_aac_case_establishment", "aac_case", ["establishment"])


def downgrade() -> None:
    op.drop_index("ix_aac_case_establishment", table_name="aac_case")
    op.drop_index("ix_aac_case_programme", table_name="aac_case")
    op.drop_table("aac_case")
