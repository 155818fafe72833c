"""Compassionate access: the reports' pseudonymised extract (one sealed row per case, keyed by the case number).

Cases opened before this revision have no row: the summary report reads them through the record path until
``santegarde aac extract rebuild`` builds their rows.

Revision ID: c003
Revises: c002
"""

import sqlalchemy as sa
from alembic import op

revision = "c003"
down_revision = "c002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aac_extract",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index("ix_aac_extract_programme", "aac_extract", ["programme"])


def downgrade() -> None:
    op.drop_index("ix_aac_extract_programme", table_name="aac_extract")
    op.drop_table("aac_extract")
