"""Compassionate access: pharmacovigilance's inbox of adverse-effect reports, each acknowledged by an employee.

Reports made before this revision have no row: ``santegarde aac adverse-effects`` still lists them.

Revision ID: c005
Revises: c004
"""

import sqlalchemy as sa
from alembic import op

revision = "c005"
down_revision = "c004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aac_vigilance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_aac_vigilance_programme", "aac_vigilance", ["programme"])
    op.create_index("ix_aac_vigilance_number", "aac_vigilance", ["number"])


def downgrade() -> None:
    op.drop_index("ix_aac_vigilance_number", table_name="aac_vigilance")
    op.drop_index("ix_aac_vigilance_programme", table_name="aac_vigilance")
    op.drop_table("aac_vigilance")
