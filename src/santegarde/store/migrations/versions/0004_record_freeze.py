"""Frozen records: writes refused while a restriction or a validated register entry holds them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_freeze",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frozen_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_freeze")),
    )


def downgrade() -> None:
    op.drop_table("record_freeze")
